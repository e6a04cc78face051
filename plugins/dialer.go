package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// This file is the SDK for the common plugin: one whose backend is a dial
// function. ServeDialer is such a plugin's whole main; OpenDialer,
// DialerBackend and Direct are its parts, for plugins that need more.

// DialFunc connects to address on network, as net.Dialer's DialContext
// does, and returns the connection.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// ServeDialer is the whole main of a plugin whose backend is a dial
// function: it serves, as plugin name, the DialerBackend of the DialFunc
// that open makes, and exits the process when the host is done with it
// (status 0; status 1, with the error on stderr, if it cannot serve).
//
// The plugin describes itself (transportctl plugin verify) with its
// name, the main module version of its binary and DialerCapabilities; a
// plugin that says more (a description, capabilities of its own) sets
// ServeConfig itself, with OpenDialer as its Open.
//
// open is called once each time the host opens the backend, with the
// backend's section of the host's config file decoded into a C by
// registry.DecodeConfig (unknown keys are refused; use struct{} for a plugin
// without settings) and a DialFunc that connects directly with the host's
// options; a refusal (a missing setting, say) fails the host's Dial with
// open's error. See DialerBackend for what the backend does around the
// DialFunc, and Serve for the rest.
//
//	func main() { plugins.ServeDialer("relay", open) }
//
//	func open(cfg config, direct plugins.DialFunc) (plugins.DialFunc, error) {
//		return func(ctx context.Context, network, address string) (net.Conn, error) {
//			c, err := direct(ctx, "tcp", cfg.Relay)
//			... // ask the relay to connect to address
//		}, nil
//	}
func ServeDialer[C any](name string, open func(cfg C, direct DialFunc) (DialFunc, error)) {
	err := Serve(ServeConfig{Name: name, Capabilities: DialerCapabilities, Open: OpenDialer(name, open)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// DialerCapabilities are the capabilities ServeDialer's plugins report:
// the networks a DialerBackend takes, tcp (tcp4, tcp6) and unix, which it
// passes to the dial function.
var DialerCapabilities = []registry.Capability{registry.CapTCP, registry.CapUnix}

// OpenDialer returns a ServeConfig.Open that decodes the host's
// Options.Config into a C with registry.DecodeConfig, calls open with it and
// Direct(opts), and returns the DialerBackend, named "plugin:" + name, of
// the DialFunc open made. ServeDialer uses it; a plugin that sets more of
// ServeConfig (Description, Capabilities, ...) uses it as ServeConfig.Open.
func OpenDialer[C any](name string, open func(cfg C, direct DialFunc) (DialFunc, error)) func(transport.Options) (transport.Backend, error) {
	return func(opts transport.Options) (transport.Backend, error) {
		cfg, err := registry.DecodeConfig[C](opts.Config)
		if err != nil {
			return nil, err
		}
		dial, err := open(cfg, Direct(opts))
		if err != nil {
			return nil, err
		}
		if dial == nil {
			return nil, errors.New("plugins: the open function of " + name + " returned a nil DialFunc")
		}
		return DialerBackend(registry.PluginPrefix+name, opts, dial), nil
	}
}

// DialerBackend returns a transport.Backend named name whose Dials call
// dial. Around dial it keeps the whole Backend contract, so that dial only
// has to connect:
//
//   - Networks other than tcp, tcp4, tcp6 and unix fail with an error
//     matching transport.ErrUnsupported, and malformed addresses are
//     refused, before dial is called. dial gets TCP addresses as
//     host:port with a numeric port (a service name such as "https" is
//     looked up first).
//   - The context bounds the Dial, with opts.ConnectTimeout on top. When
//     it ends, every connection that Direct made for this Dial is closed,
//     so a handshake blocked on one fails, and the Dial fails with the
//     context's error (a timeout matching os.ErrDeadlineExceeded and
//     context.DeadlineExceeded, or context.Canceled).
//   - Errors are *transport.OpError values (Op "dial", name, the network
//     and address asked for) whose cause is dial's error, so that what it
//     matches (syscall.ECONNREFUSED, say) still matches; a dial error that
//     is a timeout (net.Error) also matches transport.ErrTimeout. A conn
//     returned with an error is closed.
//   - The connect is reported to the context's httptrace.ClientTrace
//     (ConnectStart, ConnectDone) for the network and address asked for;
//     Direct's connects (to a proxy, say) are not.
//   - Each conn becomes a Stream as by NewStream, whose RemoteAddr is the
//     address asked for (a *net.TCPAddr for an IP address, a
//     *net.UnixAddr for unix; a host name stays a name): the stream
//     reaches that address, whatever socket it runs on. In a plugin, a
//     conn that has SyscallConn (*net.TCPConn, *net.UnixConn) is handed to
//     the host, so it must carry the stream's bytes as they are, which is
//     the case of the socket to a proxy once the proxy has connected; any
//     other conn (*tls.Conn, a tunnel's own type) takes the byte path.
//   - After Close, Dials fail matching net.ErrClosed; Close does not close
//     the streams.
func DialerBackend(name string, opts transport.Options, dial DialFunc) transport.Backend {
	return &dialerBackend{name: name, opts: opts, dial: dial}
}

// dialerBackend is DialerBackend's Backend.
type dialerBackend struct {
	name   string
	opts   transport.Options
	dial   DialFunc
	closed atomic.Bool
}

var _ transport.Backend = (*dialerBackend)(nil)

func (b *dialerBackend) Name() string { return b.name }

// Close makes later Dials fail; it is idempotent.
func (b *dialerBackend) Close() error {
	b.closed.Store(true)
	return nil
}

func (b *dialerBackend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	fail := func(err error) (transport.Stream, error) {
		return nil, &transport.OpError{Op: "dial", Backend: b.name, Network: network, Address: address, Err: err}
	}
	if b.closed.Load() {
		return fail(net.ErrClosed)
	}
	target, raddr, err := checkAddress(network, address)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(transport.ContextError(err))
	}
	ctx, cancel := b.opts.ConnectContext(ctx)
	defer cancel()
	done := transport.TraceConnect(ctx, network, address)
	c, err := b.dialTracked(ctx, network, target)
	done(err)
	if err != nil {
		return fail(err)
	}
	return newConnStream(c, b.name, raddr), nil
}

// dialTracked calls dial under ctx, with a tracker for Direct to
// register its connections in, and closes them all if ctx ends before
// dial returns.
func (b *dialerBackend) dialTracked(ctx context.Context, network, address string) (net.Conn, error) {
	tr := new(tracker)
	stop := context.AfterFunc(ctx, tr.abort)
	c, err := b.dial(context.WithValue(ctx, trackerKey{}, tr), network, address)
	aborted := !stop()
	if err == nil && c == nil {
		err = errors.New("plugins: the dial function returned neither a connection nor an error")
	}
	if err != nil || aborted {
		if c != nil {
			c.Close()
		}
		tr.abort()
	}
	switch {
	case aborted:
		return nil, transport.ContextError(ctx.Err())
	case err != nil && ctx.Err() != nil:
		return nil, transport.ContextError(ctx.Err())
	case err != nil:
		return nil, dialCause(err)
	}
	return c, nil
}

// dialCause is a dial function's error as the cause of the Dial's
// OpError: a timeout also matches transport.ErrTimeout.
func dialCause(err error) error {
	var oe *transport.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	if isTimeout(err) && !errors.Is(err, transport.ErrTimeout) {
		return timeoutCause{err}
	}
	return err
}

// timeoutCause is a timeout that also matches transport.ErrTimeout.
type timeoutCause struct{ err error }

func (e timeoutCause) Error() string   { return e.err.Error() }
func (e timeoutCause) Unwrap() []error { return []error{e.err, transport.ErrTimeout} }
func (e timeoutCause) Timeout() bool   { return true }

// checkAddress checks network and address before a dial, and returns
// the address to dial (a TCP port made numeric) and the stream's remote
// address.
func checkAddress(network, address string) (string, net.Addr, error) {
	switch network {
	case "unix":
		if address == "" {
			return "", nil, errors.New("plugins: empty unix socket path")
		}
		return address, &net.UnixAddr{Net: network, Name: address}, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return "", nil, fmt.Errorf("network %q: %w", network, transport.ErrUnsupported)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", nil, err
	}
	p, err := net.LookupPort(network, port)
	if err != nil {
		return "", nil, err
	}
	target := net.JoinHostPort(host, strconv.Itoa(p))
	if ap, err := netip.ParseAddrPort(target); err == nil {
		return target, net.TCPAddrFromAddrPort(ap), nil
	}
	return target, plainAddr{network: network, address: address}, nil
}

// Direct returns the DialFunc that connects straight to the address, as
// net.Dialer does, with opts applied: LocalAddr (when its kind matches the
// network), KeepAlive, DisableNoDelay, Control and Resolver
// (ConnectTimeout bounds the whole Dial of a DialerBackend instead). The
// connections it makes during a DialerBackend's Dial are closed if that
// Dial's context ends before the dial function returns. It dials under
// the context's deadline and cancellation but none of its values, so its
// connects are not reported to the caller's httptrace.ClientTrace (the
// DialerBackend reports the connect to the address asked for).
func Direct(opts transport.Options) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		d := net.Dialer{KeepAlive: opts.KeepAlivePeriod(), Resolver: opts.Resolver, Control: opts.Control}
		switch a := opts.LocalAddr.(type) {
		case *net.TCPAddr:
			if network != "unix" {
				d.LocalAddr = a
			}
		case *net.UnixAddr:
			if network == "unix" {
				d.LocalAddr = a
			}
		}
		c, err := d.DialContext(detached{ctx}, network, address)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok && opts.DisableNoDelay {
			tc.SetNoDelay(false)
		}
		if tr, ok := ctx.Value(trackerKey{}).(*tracker); ok {
			tr.add(c)
		}
		return c, nil
	}
}

// trackerKey is the context key of a Dial's tracker.
type trackerKey struct{}

// tracker holds the connections Direct made for one Dial, to close them
// if the Dial's context ends.
type tracker struct {
	mu      sync.Mutex
	conns   []net.Conn
	aborted bool
}

func (t *tracker) add(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted {
		c.Close()
		return
	}
	t.conns = append(t.conns, c)
}

func (t *tracker) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.aborted = true
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
}

// detached is a context with its parent's deadline and cancellation and
// none of its values: connections made under it (Direct's, the plugin
// host's to its plugin) are not reported to the parent's
// httptrace.ClientTrace, whose hooks the net package finds among the
// values, as the caller's connects.
type detached struct{ context.Context }

// Value hides every value of the parent.
func (detached) Value(any) any { return nil }

// AfterFunc lets contexts derived from this one follow the parent's
// cancellation without a goroutine of their own.
func (c detached) AfterFunc(f func()) func() bool { return context.AfterFunc(c.Context, f) }
