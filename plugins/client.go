package plugins

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcPlugin is the go-plugin plugin of the backend service: srv serves
// it in the plugin; the host only dispenses clients.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

// GRPCServer registers the service.
func (p *grpcPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	if p.srv == nil {
		return errors.New("plugins: a host cannot serve the backend service")
	}
	p.srv.broker = b
	s.RegisterService(&serviceDesc, p.srv)
	return nil
}

// GRPCClient returns the host's client of the service.
func (p *grpcPlugin) GRPCClient(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &controlClient{conn: c, broker: b}, nil
}

// controlClient is what the host dispenses: the plugin's control
// connection and broker.
type controlClient struct {
	conn   *grpc.ClientConn
	broker *plugin.GRPCBroker
}

// ServeInProcess serves cfg's backend in this process and returns the
// host's Backend for it: the plugin's server and the host's client speak
// the same protocol as with a plugin process, over unix sockets in a
// private temporary directory (a gRPC control connection without
// go-plugin's handshake, the handoff channel, a raw connection per byte
// stream), so every stream takes the path it would take from a plugin
// binary. It is for tests (pluginstest.TestBackend uses it) and for
// trying a plugin's backend without building it.
//
// As with Open, nothing runs until the first Dial (or Launch), the
// Backend relaunches the server if it was stopped, and Close stops it.
// The server's logs go to opts.Logger under cfg.Name. Options that cannot
// cross to a plugin (Control, Resolver) are refused with an error
// matching transport.ErrUnsupported, as by Open; an incomplete cfg is
// refused too.
func ServeInProcess(cfg ServeConfig, opts transport.Options) (*Backend, error) {
	name := registry.PluginPrefix + cfg.Name
	if err := cfg.check(); err != nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: err}
	}
	if errPlatform != nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: errPlatform}
	}
	if err := checkOptions(opts); err != nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: err}
	}
	b := newBackend(name, opts)
	b.launch = func(ctx context.Context) (*instance, error) {
		inst, err := startInProcess(cfg, name, b.log)
		if err != nil {
			return nil, err
		}
		return inst, b.openInstance(ctx, inst)
	}
	return b, nil
}

// startInProcess starts a server for cfg in this process and connects a
// host instance to it.
func startInProcess(cfg ServeConfig, name string, log hclog.Logger) (inst *instance, err error) {
	dir, err := os.MkdirTemp("", "transportkit-plugin-")
	if err != nil {
		return nil, err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			os.RemoveAll(dir)
		}
	}()
	host, peer, err := handoffPair()
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { host.Close() })
	pc, err := fileUnixConn(peer)
	if err != nil {
		return nil, err
	}
	srv := newServer(cfg, log.Named(name), pc)
	srv.listen = func() (net.Listener, error) { return net.Listen("unix", filepath.Join(dir, "streams")) }
	undo = append(undo, srv.shutdown)
	control := filepath.Join(dir, "control")
	ln, err := net.Listen("unix", control)
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer()
	gs.RegisterService(&serviceDesc, srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		gs.Serve(ln)
	}()
	undo = append(undo, func() { gs.Stop(); <-served })
	// grpc.Dial connects in the background; the first call waits for it.
	// (The module's gRPC, v1.61, has no NewClient yet.)
	conn, err := grpc.Dial("transportkit-plugin",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", control)
		}))
	if err != nil {
		return nil, err
	}
	inst = newInstance(name)
	inst.conn = conn
	inst.handoff = newReceiver(host, log)
	inst.stopFn = func() {
		conn.Close()
		gs.Stop()
		<-served
		srv.shutdown()
		inst.handoff.close()
		os.RemoveAll(dir)
	}
	return inst, nil
}
