package stdnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// Name is the name the backend is registered under.
const Name = "stdnet"

func init() {
	registry.Register(registry.Driver{
		Name:         Name,
		Description:  "Go standard library net package (runtime netpoller); works everywhere",
		Capabilities: []registry.Capability{registry.CapTCP, registry.CapUnix, registry.CapFD},
		Open: func(opts transport.Options) (transport.Backend, error) {
			return Open(opts)
		},
	})
}

// Backend dials with a net.Dialer configured from transport.Options. It is
// safe for concurrent use. Its zero value is not usable; call Open.
type Backend struct {
	opts   transport.Options
	log    hclog.Logger
	dialer net.Dialer
	closed atomic.Bool
}

var (
	_ transport.Backend = (*Backend)(nil)
	_ transport.Adopter = (*Backend)(nil)
)

// Open returns a Backend that dials with opts, as the registry does. It
// fails only when opts.Config holds settings, since stdnet has none.
func Open(opts transport.Options) (*Backend, error) {
	if err := checkConfig(opts.Config); err != nil {
		return nil, &transport.OpError{Op: "open", Backend: Name, Err: err}
	}
	b := &Backend{opts: opts, log: opts.Log()}
	b.dialer = net.Dialer{
		LocalAddr: opts.LocalAddr,
		KeepAlive: opts.KeepAlivePeriod(),
		Resolver:  opts.Resolver,
		Control:   opts.Control,
	}
	return b, nil
}

// checkConfig accepts an empty config, JSON null or an empty object:
// stdnet has no settings. Anything else is a *registry.ConfigError from
// the module's one config decoder.
func checkConfig(cfg json.RawMessage) error {
	_, err := registry.DecodeConfig[struct{}](cfg)
	return err
}

// Name returns "stdnet".
func (b *Backend) Name() string { return Name }

// Close makes later Dials fail with an error matching net.ErrClosed.
// Streams already dialed keep working. Close always returns nil.
func (b *Backend) Close() error {
	b.closed.Store(true)
	return nil
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6" or "unix").
// The connect is bounded by ctx and Options.ConnectTimeout. Errors are
// *transport.OpError values with Op "dial"; a timeout matches
// os.ErrDeadlineExceeded and a canceled ctx context.Canceled.
func (b *Backend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	if b.closed.Load() {
		return nil, b.dialError(network, address, net.ErrClosed)
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, b.dialError(network, address, fmt.Errorf("network %q: %w", network, transport.ErrUnsupported))
	}
	if b.opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = b.opts.ConnectContext(ctx)
		defer cancel()
	}
	c, err := b.dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, b.dialError(network, address, err)
	}
	// The dialer has set keep-alive and TCP_NODELAY (on) already.
	if tc, ok := c.(*net.TCPConn); ok && b.opts.DisableNoDelay {
		if err := tc.SetNoDelay(false); err != nil {
			c.Close()
			return nil, b.dialError(network, address, err)
		}
	}
	s, err := newStream(c)
	if err != nil {
		c.Close()
		return nil, b.dialError(network, address, err)
	}
	return s, nil
}

// Adopt takes over f, a connected TCP or unix stream socket, and returns
// it as a Stream configured like a dialed one. f is closed in every case;
// the stream keeps its own duplicate of the descriptor.
func (b *Backend) Adopt(f *os.File) (transport.Stream, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, &transport.OpError{Op: "adopt", Backend: Name, Err: err}
	}
	s, err := b.adopt(c)
	if err != nil {
		return nil, &transport.OpError{Op: "adopt", Backend: Name, Err: err}
	}
	return s, nil
}

// adopt wraps c, applying the options a dialer would have applied. On
// failure c is closed.
func (b *Backend) adopt(c net.Conn) (transport.Stream, error) {
	if tc, ok := c.(*net.TCPConn); ok {
		if err := b.configureTCP(tc); err != nil {
			tc.Close()
			return nil, err
		}
	}
	s, err := newStream(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// configureTCP sets TCP_NODELAY and keep-alive on tc from the options.
func (b *Backend) configureTCP(tc *net.TCPConn) error {
	if err := tc.SetNoDelay(b.opts.NoDelay()); err != nil {
		return err
	}
	period := b.opts.KeepAlivePeriod()
	if err := tc.SetKeepAlive(period > 0); err != nil {
		return err
	}
	if period > 0 {
		return tc.SetKeepAlivePeriod(period)
	}
	return nil
}

// dialError wraps err from dialing address. A net.OpError from the dialer
// is unwrapped, since the OpError says the same; context errors become
// transport.ContextError's.
func (b *Backend) dialError(network, address string, err error) error {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Err != nil {
		err = ne.Err
	}
	switch {
	// The socket's deadline (the context's) may fire before the context
	// is seen to end: the net package then says os.ErrDeadlineExceeded.
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		err = transport.ContextError(context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		err = context.Canceled
	}
	e := &transport.OpError{Op: "dial", Backend: Name, Network: network, Address: address, Err: err}
	b.log.Debug("dial failed", "network", network, "address", address, "error", err)
	return e
}
