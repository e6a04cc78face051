package plugins

// This file holds the protocol between host and plugin: the go-plugin
// handshake, the gRPC service (declared by hand: no protoc), its messages
// and the codec that carries them.
//
// The service's messages are plain Go structs encoded as JSON by a gRPC
// codec registered under the content-subtype "transportkit-json", so a
// call's content type is "application/grpc+transportkit-json". go-plugin's
// own services (health, broker, controller, stdio) on the same connection
// keep using protobuf: the codec is picked per call. JSON keeps the
// protocol readable and needs no generated code; the control calls are a
// handful per stream (Dial, and Status and Release at its end), never one
// per chunk of data, so their encoding does not matter for throughput.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// ProtocolVersion is the version of the host–plugin protocol this package
// speaks. Host and plugin negotiate it through go-plugin's versioned
// plugin sets: the host offers every version it knows and the plugin picks
// the newest it also knows. A plugin built against an incompatible version
// fails to start with an error that says so.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake shared by every transportkit host
// and plugin. The magic cookie only tells a plugin binary that it was
// started by a host (run by hand, it says so and exits); it is not a
// security measure.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "TRANSPORTKIT_PLUGIN",
	MagicCookieValue: "8c1f2d4e-transportkit-backend",
}

const (
	// pluginKey is the name the backend is dispensed under.
	pluginKey = "backend"
	// serviceName is the gRPC service of protocol version 1.
	serviceName = "transportkit.plugin.v1.Backend"
	// codecName is the content-subtype of the service's calls.
	codecName = "transportkit-json"
)

// Environment variables the host sets for a plugin process.
const (
	// envHandoffFD is the descriptor number of the plugin's end of the
	// socket pair that carries handed-off sockets.
	envHandoffFD = "TRANSPORTKIT_HANDOFF_FD"
	// envLogLevel is the host's log level, so a plugin does not format
	// logs the host would drop.
	envLogLevel = "TRANSPORTKIT_PLUGIN_LOG_LEVEL"
	// envBinaryFD is the descriptor number of the plugin's own binary,
	// which the host opened, checked and executed through /proc/self/fd;
	// Serve closes it.
	envBinaryFD = "TRANSPORTKIT_PLUGIN_BINARY_FD"
)

// jsonCodec encodes the service's messages as JSON.
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
func (jsonCodec) Name() string                       { return codecName }

func init() { encoding.RegisterCodec(jsonCodec{}) }

// Description says what a plugin offers: what its Describe call answers,
// completed by the host with what it saw of the binary.
type Description struct {
	// Name is the plugin's short name ("socks5").
	Name string `json:"name"`
	// Version is the plugin's own version; empty if it gave none.
	Version string `json:"version"`
	// Description is one line about the plugin.
	Description string `json:"description,omitempty"`
	// Capabilities lists what the plugin's backend can do (registry.Cap*
	// values or the plugin's own words).
	Capabilities []registry.Capability `json:"capabilities"`
	// Handoff reports whether the plugin hands kernel sockets to the host.
	Handoff bool `json:"handoff"`
	// Protocol is the protocol version host and plugin agreed on.
	Protocol int `json:"protocol"`
	// Path is the plugin binary; empty for an in-process plugin.
	Path string `json:"path,omitempty"`
	// RealPath is where Path leads once symbolic links are resolved: the
	// file that was checked and executed. Empty for an in-process plugin.
	RealPath string `json:"real_path,omitempty"`
	// SHA256 is the hex SHA-256 of the binary; empty for an in-process
	// plugin.
	SHA256 string `json:"sha256,omitempty"`
}

// Messages of the service. Durations travel as nanoseconds.
type (
	describeRequest struct{}

	openRequest struct {
		ConnectTimeout time.Duration   `json:"connect_timeout,omitempty"`
		LocalAddr      *wireAddr       `json:"local_addr,omitempty"`
		DisableNoDelay bool            `json:"disable_no_delay,omitempty"`
		KeepAlive      time.Duration   `json:"keepalive,omitempty"`
		Config         json.RawMessage `json:"config,omitempty"`
	}

	openResponse struct {
		// TLS reports that the backend does its own TLS.
		TLS bool `json:"tls"`
		// StreamAddr is the broker listener byte streams connect to.
		StreamAddr wireAddr `json:"stream_addr"`
		// BrokerID is the broker id the listener was accepted under.
		BrokerID uint32     `json:"broker_id"`
		Err      *wireError `json:"err,omitempty"`
	}

	dialRequest struct {
		Network string         `json:"network"`
		Address string         `json:"address"`
		TLS     *wireTLSConfig `json:"tls,omitempty"`
		// HandoffID tags the socket if the stream is handed off.
		HandoffID uint64 `json:"handoff_id"`
	}

	dialResponse struct {
		// Handoff reports that the socket was sent under HandoffID.
		Handoff bool `json:"handoff,omitempty"`
		// StreamID and Token identify the byte stream otherwise.
		StreamID uint64        `json:"stream_id,omitempty"`
		Token    []byte        `json:"token,omitempty"`
		Local    wireAddr      `json:"local"`
		Remote   wireAddr      `json:"remote"`
		TLS      *wireTLSState `json:"tls,omitempty"`
		Err      *wireError    `json:"err,omitempty"`
		// TLSStarted reports that the plugin connected and began a TLS
		// handshake (so a failed Dial failed in the handshake): the host
		// reports the handshake to its caller's httptrace.ClientTrace.
		TLSStarted bool `json:"tls_started,omitempty"`
	}

	streamRequest struct {
		StreamID uint64 `json:"stream_id"`
		// Abort, in a Release, says the host never connected the
		// stream: close it at once rather than wait for its bytes.
		Abort bool `json:"abort,omitempty"`
	}

	statusResponse struct {
		// Known is false for a stream the plugin does not have.
		Known bool `json:"known"`
		// ReadDone: the plugin stopped reading from its stream, because
		// of ReadErr (nil: EOF).
		ReadDone bool       `json:"read_done,omitempty"`
		ReadErr  *wireError `json:"read_err,omitempty"`
		// WriteDone: the plugin stopped writing to its stream, because of
		// WriteErr (nil: the host's CloseWrite).
		WriteDone bool       `json:"write_done,omitempty"`
		WriteErr  *wireError `json:"write_err,omitempty"`
	}

	emptyResponse struct{}
)

// wireAddr is a net.Addr in transit.
type wireAddr struct {
	Network string `json:"network,omitempty"`
	Address string `json:"address,omitempty"`
}

func toWireAddr(a net.Addr) wireAddr {
	if a == nil {
		return wireAddr{}
	}
	return wireAddr{Network: a.Network(), Address: a.String()}
}

// addr rebuilds the address: a *net.TCPAddr or *net.UnixAddr where it
// parses as one, so callers can type-switch as usual, and otherwise a
// value that reports the same Network and String. It returns nil for an
// empty address.
func (w wireAddr) addr() net.Addr {
	if w.Network == "" && w.Address == "" {
		return nil
	}
	switch w.Network {
	case "tcp", "tcp4", "tcp6":
		if a, err := net.ResolveTCPAddr(w.Network, w.Address); err == nil && a.String() == w.Address {
			return a
		}
	case "unix", "unixgram", "unixpacket":
		return &net.UnixAddr{Net: w.Network, Name: w.Address}
	}
	return plainAddr{network: w.Network, address: w.Address}
}

// plainAddr is an address kept as its two strings.
type plainAddr struct{ network, address string }

func (a plainAddr) Network() string { return a.network }
func (a plainAddr) String() string  { return a.address }

// wireTLSConfig is the part of a tls.Config that can cross to a plugin.
type wireTLSConfig struct {
	ServerName         string   `json:"server_name"`
	NextProtos         []string `json:"next_protos,omitempty"`
	InsecureSkipVerify bool     `json:"insecure_skip_verify,omitempty"`
	MinVersion         uint16   `json:"min_version,omitempty"`
	MaxVersion         uint16   `json:"max_version,omitempty"`
}

// toWireTLS takes what can cross from cfg, and refuses a config whose
// trust or identity settings would silently be dropped: the plugin holds
// its own roots and certificates.
func toWireTLS(cfg *tls.Config) (*wireTLSConfig, error) {
	var dropped []string
	if cfg.RootCAs != nil {
		dropped = append(dropped, "RootCAs")
	}
	if len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil {
		dropped = append(dropped, "client certificates")
	}
	if cfg.VerifyPeerCertificate != nil || cfg.VerifyConnection != nil {
		dropped = append(dropped, "verification callbacks")
	}
	if len(dropped) > 0 {
		return nil, fmt.Errorf("tls.Config %v cannot cross to a plugin that does its own TLS; configure them in the plugin: %w", dropped, transport.ErrUnsupported)
	}
	return &wireTLSConfig{
		ServerName:         cfg.ServerName,
		NextProtos:         cfg.NextProtos,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		MinVersion:         cfg.MinVersion,
		MaxVersion:         cfg.MaxVersion,
	}, nil
}

func (w *wireTLSConfig) config() *tls.Config {
	return &tls.Config{
		ServerName:         w.ServerName,
		NextProtos:         w.NextProtos,
		InsecureSkipVerify: w.InsecureSkipVerify,
		MinVersion:         w.MinVersion,
		MaxVersion:         w.MaxVersion,
	}
}

// wireTLSState is the part of a tls.ConnectionState that crosses back.
type wireTLSState struct {
	Version            uint16   `json:"version"`
	CipherSuite        uint16   `json:"cipher_suite"`
	ServerName         string   `json:"server_name,omitempty"`
	NegotiatedProtocol string   `json:"alpn,omitempty"`
	DidResume          bool     `json:"did_resume,omitempty"`
	PeerCertificates   [][]byte `json:"peer_certificates,omitempty"`
}

func toWireTLSState(cs tls.ConnectionState) *wireTLSState {
	w := &wireTLSState{
		Version:            cs.Version,
		CipherSuite:        cs.CipherSuite,
		ServerName:         cs.ServerName,
		NegotiatedProtocol: cs.NegotiatedProtocol,
		DidResume:          cs.DidResume,
	}
	for _, c := range cs.PeerCertificates {
		w.PeerCertificates = append(w.PeerCertificates, c.Raw)
	}
	return w
}

// state rebuilds the connection state. Certificates that do not parse are
// left out; VerifiedChains, OCSP and SCT data do not cross.
func (w *wireTLSState) state() tls.ConnectionState {
	cs := tls.ConnectionState{
		Version:            w.Version,
		HandshakeComplete:  true,
		DidResume:          w.DidResume,
		CipherSuite:        w.CipherSuite,
		NegotiatedProtocol: w.NegotiatedProtocol,
		ServerName:         w.ServerName,
	}
	for _, der := range w.PeerCertificates {
		if c, err := x509.ParseCertificate(der); err == nil {
			cs.PeerCertificates = append(cs.PeerCertificates, c)
		}
	}
	return cs
}

// pluginService is what the service's handlers are registered on.
type pluginService interface {
	describe(ctx context.Context, req *describeRequest) (*Description, error)
	open(ctx context.Context, req *openRequest) (*openResponse, error)
	dial(ctx context.Context, req *dialRequest) (*dialResponse, error)
	status(ctx context.Context, req *streamRequest) (*statusResponse, error)
	release(ctx context.Context, req *streamRequest) (*emptyResponse, error)
}

// Method names of the service.
const (
	methodDescribe = "Describe"
	methodOpen     = "Open"
	methodDial     = "Dial"
	methodStatus   = "Status"
	methodRelease  = "Release"
)

// serviceDesc declares the service to gRPC, as protoc would have.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*pluginService)(nil),
	Methods: []grpc.MethodDesc{
		unary(methodDescribe, pluginService.describe),
		unary(methodOpen, pluginService.open),
		unary(methodDial, pluginService.dial),
		unary(methodStatus, pluginService.status),
		unary(methodRelease, pluginService.release),
	},
	Metadata: "transportkit/plugins/wire.go",
}

// unary adapts a typed method to a gRPC handler.
func unary[Req, Resp any](name string, call func(pluginService, context.Context, *Req) (*Resp, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			s, ok := srv.(pluginService)
			if !ok {
				return nil, fmt.Errorf("plugins: %T does not serve %s", srv, serviceName)
			}
			req := new(Req)
			if err := dec(req); err != nil {
				return nil, err
			}
			if ic == nil {
				return call(s, ctx, req)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod(name)}
			return ic(ctx, req, info, func(ctx context.Context, r any) (any, error) {
				req, ok := r.(*Req)
				if !ok {
					return nil, fmt.Errorf("plugins: interceptor changed the request type to %T", r)
				}
				return call(s, ctx, req)
			})
		},
	}
}

func fullMethod(name string) string { return "/" + serviceName + "/" + name }

// invoke calls a method of the service on conn.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, req, resp any) error {
	return conn.Invoke(ctx, fullMethod(method), req, resp, grpc.CallContentSubtype(codecName))
}
