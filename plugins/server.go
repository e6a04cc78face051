package plugins

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// ServeConfig describes the backend a plugin binary serves.
type ServeConfig struct {
	// Name is the plugin's short name: NAME in its binary's file name
	// transportkit-backend-NAME. It must not be empty.
	Name string

	// Version is reported to the host (transportctl plugin verify shows
	// it). If empty, the main module version from the binary's build
	// information is used.
	Version string

	// Description is one line about the plugin. It may be empty.
	Description string

	// Capabilities lists what the backend can do, as registry.Cap*
	// values or the plugin's own words. It may be nil.
	Capabilities []registry.Capability

	// Open creates the backend when the host opens the plugin, with the
	// host's options: ConnectTimeout, LocalAddr, DisableNoDelay,
	// KeepAlive and Config cross over; Logger is set to a logger whose
	// output the host forwards into its own log under the plugin's name.
	// (Control and Resolver cannot cross; the host refuses them.) It
	// must not be nil.
	//
	// The backend's streams reach the host one of two ways. A stream
	// whose Info answers InfoFD (and not InfoTLS) is a kernel socket
	// carrying the stream's bytes as they are: its descriptor is handed
	// to the host, which runs it in-process, and the plugin closes its
	// copy. Answer InfoFD only for such streams, and let Close only
	// close the descriptor (as net.Conn's Close does), never shut the
	// socket down. Every other stream (TLS done in the plugin, tunnels,
	// user-space stacks) is carried over the byte path: a raw unix
	// connection per stream between plugin and host.
	Open func(opts transport.Options) (transport.Backend, error)

	// DisableHandoff sends every stream over the byte path, kernel
	// sockets included. If false, sockets are handed off when the host
	// set up the channel for it (a host of this package always does).
	DisableHandoff bool
}

func (c *ServeConfig) check() error {
	switch {
	case c.Name == "":
		return errors.New("plugins: ServeConfig.Name is empty")
	case c.Open == nil:
		return errors.New("plugins: ServeConfig.Open is nil")
	}
	if _, ok := pluginName(registry.PluginBinaryPrefix + c.Name); !ok {
		return fmt.Errorf("plugins: ServeConfig.Name %q: use letters, digits, '.', '_' and '-'", c.Name)
	}
	return nil
}

// Serve runs the plugin: it answers go-plugin's handshake on stdout,
// serves cfg's backend to the host until the host shuts it down, then
// closes the backend and returns nil. It returns an error at once if cfg
// is incomplete. A binary started by hand rather than by a host is told
// so by go-plugin, which exits with status 1.
//
// If the host process dies without shutting the plugin down, the plugin
// notices and ends itself together with every process it started: the
// host has the kernel send it SIGTERM when the host dies (on Linux), and
// the handoff channel closes. Either way Serve shuts the backend down,
// for at most two seconds (an Open or Close that hangs is not waited
// for), then kills the plugin's process group. A SIGTERM from anyone else
// ends the plugin the same way.
func Serve(cfg ServeConfig) error {
	if err := cfg.check(); err != nil {
		return err
	}
	level := hclog.LevelFromString(os.Getenv(envLogLevel))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	// os.Stderr is captured now: go-plugin later points os.Stderr at a
	// pipe of its own, while this one reaches the host's log.
	log := hclog.New(&hclog.LoggerOptions{
		Name:       cfg.Name,
		Output:     os.Stderr,
		Level:      level,
		JSONFormat: true,
	})
	closeBinaryFD()
	handoff, err := handoffFromEnv()
	if err != nil {
		log.Warn("no handoff channel; every stream takes the byte path", "error", err)
	}
	srv := newServer(cfg, log, handoff)
	exit := func() {
		killOwnGroup()
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	served := make(chan struct{})
	go func() {
		select {
		case <-term:
			log.Error("SIGTERM (the host died, or someone asked); ending the plugin and the processes it started")
			srv.shutdownWithin(hostGoneGrace)
			exit()
		case <-served:
		}
	}()
	if handoff != nil {
		go srv.watchHost(exit)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginKey: &grpcPlugin{srv: srv}}},
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           quiet(log, "", ""),
	})
	signal.Stop(term)
	close(served)
	srv.shutdown()
	return nil
}

// hostGoneGrace bounds the shutdown of a plugin whose host went away,
// before it kills its process group.
const hostGoneGrace = 2 * time.Second

// closeBinaryFD closes the descriptor of this process's own binary, which
// the host passed (envBinaryFD) because it executed the binary from it,
// and names the process after the binary rather than the descriptor.
func closeBinaryFD() {
	v := os.Getenv(envBinaryFD)
	if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
		os.NewFile(uintptr(fd), "transportkit-plugin-binary").Close()
		nameProcess(filepath.Base(os.Args[0]))
	}
	os.Unsetenv(envBinaryFD) // not for the processes this one starts
}

// handoffFromEnv opens the handoff channel the host passed, or returns
// nil, nil when it passed none.
func handoffFromEnv() (*net.UnixConn, error) {
	v := os.Getenv(envHandoffFD)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("plugins: %s=%q is not a descriptor number", envHandoffFD, v)
	}
	return fileUnixConn(os.NewFile(uintptr(fd), "transportkit-handoff"))
}

// fileUnixConn turns f, a unix socket, into a *net.UnixConn and closes f
// (the conn keeps its own descriptor).
func fileUnixConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("plugins: handoff descriptor is a %T, not a unix socket", c)
	}
	return uc, nil
}

// Sizes of the byte path.
const (
	// tokenLen is the size of the secret that proves a raw connection
	// belongs to the stream it names.
	tokenLen = 16
	// streamHeaderLen is what the host writes first on a raw connection:
	// the stream id, big-endian, and the token.
	streamHeaderLen = 8 + tokenLen
	// attachTimeout bounds how long a dialed stream waits for the host's
	// raw connection, and how long a connection may take to send its
	// header.
	attachTimeout = 10 * time.Second
	// lingerTimeout bounds how long a stream the host closed keeps
	// delivering what the host wrote before, like a socket's close
	// delivering its send buffer.
	lingerTimeout = 30 * time.Second
)

// server serves one backend to one host.
type server struct {
	cfg     ServeConfig
	log     hclog.Logger
	handoff *net.UnixConn // nil: no handoff channel
	broker  *plugin.GRPCBroker
	// listen, if set, makes the listener of byte streams instead of the
	// broker (in-process plugins, which have none); it returns broker id 0.
	listen func() (net.Listener, error)

	mu       sync.Mutex
	backend  transport.Backend
	ln       net.Listener
	streams  map[uint64]*pstream
	nextID   uint64
	opening  bool // an Open call is opening the backend
	shutting bool

	wg sync.WaitGroup // accept loop and stream pumps
}

var _ pluginService = (*server)(nil)

func newServer(cfg ServeConfig, log hclog.Logger, handoff *net.UnixConn) *server {
	return &server{cfg: cfg, log: log, handoff: handoff, streams: map[uint64]*pstream{}}
}

// watchHost waits for the host's end of the handoff channel to close,
// which happens only when the host process is gone (a host shuts a plugin
// down before closing it), and then shuts the server down, waiting at
// most hostGoneGrace, and calls exit, which Serve makes end this process
// and its children.
func (s *server) watchHost(exit func()) {
	var b [1]byte
	for {
		_, err := s.handoff.Read(b[:])
		s.mu.Lock()
		shutting := s.shutting
		s.mu.Unlock()
		if shutting {
			return
		}
		if err != nil {
			s.log.Error("host went away; exiting", "error", err)
			s.shutdownWithin(hostGoneGrace)
			exit()
			return
		}
	}
}

// shutdownWithin runs shutdown and waits for it at most d: a backend's
// Close may hang, and the process is about to end anyway.
func (s *server) shutdownWithin(d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.shutdown()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("shutdown did not finish in time; ending anyway", "timeout", d)
	}
}

func (s *server) version() string {
	if s.cfg.Version != "" {
		return s.cfg.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

func (s *server) describe(context.Context, *describeRequest) (*Description, error) {
	return &Description{
		Name:         s.cfg.Name,
		Version:      s.version(),
		Description:  s.cfg.Description,
		Capabilities: s.cfg.Capabilities,
		Handoff:      s.handoff != nil && !s.cfg.DisableHandoff,
		Protocol:     ProtocolVersion,
	}, nil
}

func (s *server) open(_ context.Context, req *openRequest) (*openResponse, error) {
	// The backend opens without s.mu held: an Open that takes long must
	// not keep the server from shutting down.
	s.mu.Lock()
	switch {
	case s.shutting:
		s.mu.Unlock()
		return &openResponse{Err: encodeError(net.ErrClosed)}, nil
	case s.backend != nil || s.opening:
		s.mu.Unlock()
		return &openResponse{Err: &wireError{Message: "plugins: backend already open"}}, nil
	}
	s.opening = true
	s.mu.Unlock()
	b, ln, resp := s.openBackend(req)
	s.mu.Lock()
	s.opening = false
	if resp.Err == nil && s.shutting {
		resp = &openResponse{Err: encodeError(net.ErrClosed)}
	}
	if resp.Err != nil {
		s.mu.Unlock()
		if ln != nil {
			ln.Close()
		}
		if b != nil {
			b.Close()
		}
		return resp, nil
	}
	s.backend, s.ln = b, ln
	s.wg.Add(1)
	s.mu.Unlock()
	go s.acceptLoop(ln)
	return resp, nil
}

// openBackend opens the backend with the host's options and the broker
// listener of its byte streams. On failure resp.Err says why and what was
// opened is returned, to be closed.
func (s *server) openBackend(req *openRequest) (transport.Backend, net.Listener, *openResponse) {
	opts := transport.Options{
		ConnectTimeout: req.ConnectTimeout,
		DisableNoDelay: req.DisableNoDelay,
		KeepAlive:      req.KeepAlive,
		Config:         req.Config,
		Logger:         s.log,
	}
	if req.LocalAddr != nil {
		opts.LocalAddr = req.LocalAddr.addr()
	}
	b, err := s.cfg.Open(opts)
	if err == nil && b == nil {
		err = errors.New("plugins: ServeConfig.Open returned a nil backend")
	}
	if err != nil {
		return nil, nil, &openResponse{Err: encodeError(err)}
	}
	ln, id, err := s.streamListener()
	if err != nil {
		return b, nil, &openResponse{Err: encodeError(fmt.Errorf("plugins: broker listener: %w", err))}
	}
	_, tlsOwn := tlsDialer(b)
	return b, ln, &openResponse{TLS: tlsOwn, StreamAddr: toWireAddr(ln.Addr()), BrokerID: id}
}

// streamListener returns the listener byte streams connect to, and its
// broker id (0 when the broker is not used).
func (s *server) streamListener() (net.Listener, uint32, error) {
	if s.listen != nil {
		ln, err := s.listen()
		return ln, 0, err
	}
	id := s.broker.NextId()
	ln, err := s.broker.Accept(id)
	return ln, id, err
}

// tlsDialer reports whether b does its own TLS; the package's one type
// assertion for a transport extra.
func tlsDialer(b transport.Backend) (transport.TLSDialer, bool) {
	d, ok := b.(transport.TLSDialer)
	return d, ok
}

func (s *server) dial(ctx context.Context, req *dialRequest) (*dialResponse, error) {
	s.mu.Lock()
	b := s.backend
	s.mu.Unlock()
	if b == nil {
		return &dialResponse{Err: &wireError{Message: "plugins: backend not open", Kinds: []string{"closed"}}}, nil
	}
	var (
		st  transport.Stream
		err error
	)
	var tlsStarted atomic.Bool
	if req.TLS != nil {
		st, err = transport.DialTLS(traceTLSStart(ctx, &tlsStarted), b, req.Network, req.Address, req.TLS.config())
	} else {
		st, err = b.Dial(ctx, req.Network, req.Address)
	}
	if err != nil {
		return &dialResponse{Err: encodeError(err), TLSStarted: tlsStarted.Load()}, nil
	}
	if err := ctx.Err(); err != nil {
		st.Close() // the host gave up waiting
		return nil, err
	}
	resp := &dialResponse{Local: toWireAddr(st.LocalAddr()), Remote: toWireAddr(st.RemoteAddr())}
	if v, ok := st.Info(transport.InfoTLS); ok {
		if cs, ok := v.(tls.ConnectionState); ok {
			resp.TLS = toWireTLSState(cs)
		}
	}
	if s.handOff(st, req.HandoffID, resp.TLS != nil) {
		resp.Handoff = true
		return resp, nil
	}
	id, token, err := s.addStream(st)
	if err != nil {
		st.Close()
		return &dialResponse{Err: encodeError(err)}, nil
	}
	resp.StreamID, resp.Token = id, token[:]
	return resp, nil
}

// handOff sends st's socket to the host under id and closes st, when st
// is a kernel socket that can be handed off. It reports whether it did.
func (s *server) handOff(st transport.Stream, id uint64, isTLS bool) bool {
	if s.handoff == nil || s.cfg.DisableHandoff || isTLS {
		return false
	}
	v, ok := st.Info(transport.InfoFD)
	fd, isInt := v.(int)
	if !ok || !isInt || fd < 0 {
		return false
	}
	if err := sendFD(s.handoff, id, fd); err != nil {
		s.log.Warn("handing the socket off failed; using the byte path", "error", err)
		return false
	}
	st.Close()
	return true
}

// addStream registers st as a byte stream waiting for the host's raw
// connection, and returns its id and token.
func (s *server) addStream(st transport.Stream) (uint64, [tokenLen]byte, error) {
	ps := &pstream{srv: s, st: st}
	if _, err := rand.Read(ps.token[:]); err != nil {
		return 0, ps.token, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting {
		return 0, ps.token, net.ErrClosed
	}
	s.nextID++
	ps.id = s.nextID
	s.streams[ps.id] = ps
	ps.expire = time.AfterFunc(attachTimeout, ps.expired)
	return ps.id, ps.token, nil
}

// acceptLoop takes the host's raw connections off the broker listener.
func (s *server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.attach(c)
	}
}

// attach reads a raw connection's header, hands the connection to the
// stream it names and runs the stream's pumps.
func (s *server) attach(c net.Conn) {
	defer s.wg.Done()
	var hdr [streamHeaderLen]byte
	c.SetReadDeadline(time.Now().Add(attachTimeout))
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	id := binary.BigEndian.Uint64(hdr[:8])
	s.mu.Lock()
	ps := s.streams[id]
	ok := ps != nil && subtle.ConstantTimeCompare(ps.token[:], hdr[8:]) == 1
	if ok {
		ok = ps.setRaw(c)
	}
	s.mu.Unlock()
	if !ok {
		s.log.Warn("refused a byte-stream connection with an unknown stream or a wrong token", "stream", id)
		c.Close()
		return
	}
	ps.expire.Stop()
	setSocketBuffers(c)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ps.up(c)
	}()
	ps.down(c)
}

func (s *server) status(_ context.Context, req *streamRequest) (*statusResponse, error) {
	s.mu.Lock()
	ps := s.streams[req.StreamID]
	s.mu.Unlock()
	if ps == nil {
		return &statusResponse{}, nil
	}
	return ps.status(), nil
}

func (s *server) release(_ context.Context, req *streamRequest) (*emptyResponse, error) {
	s.mu.Lock()
	ps := s.streams[req.StreamID] // it stays registered until it closes
	s.mu.Unlock()
	if ps != nil {
		ps.release(req.Abort)
	}
	return &emptyResponse{}, nil
}

// shutdown closes the listener, every stream and the backend, and waits
// for the pumps. It is idempotent.
func (s *server) shutdown() {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return
	}
	s.shutting = true
	streams := s.streams
	s.streams = map[uint64]*pstream{}
	b, ln := s.backend, s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, ps := range streams {
		ps.close()
	}
	s.wg.Wait()
	if b != nil {
		if err := b.Close(); err != nil {
			s.log.Warn("closing the backend", "error", err)
		}
	}
	if s.handoff != nil {
		s.handoff.Close()
	}
}
