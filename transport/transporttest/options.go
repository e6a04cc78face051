package transporttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// TestOptions checks that a Backend honours the transport.Options it is
// opened with, each check a subtest with its own backend:
//
//   - ConnectTimeout: a dial that cannot complete ends soon after
//     ConnectTimeout, with a timeout error, under a context without a
//     deadline (skipped where no such dial can be made; see TestBackend).
//   - Control: the hook is called once per TCP dial, before the connect,
//     with the network ("tcp4" or "tcp6", or "tcp"), the address and a
//     usable syscall.RawConn.
//   - ControlError: an error from the hook fails the Dial with an
//     *transport.OpError that wraps it, and leaks no descriptor.
//   - LocalAddr: the stream is bound to the given local address
//     (127.0.0.2; skipped where it cannot be bound).
//   - NoDelay, KeepAlive: TCP_NODELAY is on unless DisableNoDelay is set;
//     SO_KEEPALIVE is on with the default or given period unless KeepAlive
//     is negative. These read the options back through InfoFD and are
//     skipped for streams without a descriptor and off Linux.
//   - Resolver: host names are looked up with Options.Resolver (an
//     in-process DNS server answering 127.0.0.1).
//
// open is called once per subtest; a registry.Driver's Open fits. The
// suite closes the backend, and checks with VerifyNoLeaks that nothing
// outlives it.
func TestOptions(t *testing.T, open func(opts transport.Options) (transport.Backend, error)) {
	for _, c := range optionChecks {
		t.Run(c.name, func(t *testing.T) {
			VerifyNoLeaks(t)
			run(t, func() error { return c.check(open) }, func() {})
		})
	}
}

type openFunc = func(opts transport.Options) (transport.Backend, error)

// optionChecks are TestOptions' checks, in the order they run.
var optionChecks = []struct {
	name  string
	check func(open openFunc) error
}{
	{"ConnectTimeout", checkConnectTimeout},
	{"Control", checkControl},
	{"ControlError", checkControlError},
	{"LocalAddr", checkLocalAddr},
	{"NoDelay", checkNoDelay},
	{"KeepAlive", checkKeepAlive},
	{"Resolver", checkResolver},
}

// withBackend opens a backend with opts, runs f with it and closes it.
func withBackend(open openFunc, opts transport.Options, f func(b transport.Backend) error) error {
	b, err := open(opts)
	if err != nil {
		return fmt.Errorf("opening the backend: %w", err)
	}
	if b == nil {
		return errors.New("open returned a nil Backend and a nil error")
	}
	err = f(b)
	if cerr := b.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing the backend: %w", cerr)
	}
	return err
}

// withPair opens a backend with opts, dials a loopback TCP listener
// through it, runs f on the pair and closes everything.
func withPair(open openFunc, opts transport.Options, f func(b transport.Backend, c1 transport.Stream, c2 net.Conn) error) error {
	return withBackend(open, opts, func(b transport.Backend) error {
		c1, c2, stop, err := TCPPipe(b)()
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer stop()
		return f(b, c1, c2)
	})
}

func checkConnectTimeout(open openFunc) error {
	return withBackend(open, transport.Options{ConnectTimeout: hangDeadline}, func(b transport.Backend) error {
		addr, derr, err := hangingDial(b, hangDeadline, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		})
		if err != nil {
			return err
		}
		oe, err := dialErr(b, derr, "tcp", addr)
		if err != nil {
			return err
		}
		if err := isTimeout(oe); err != nil {
			return fmt.Errorf("dial past ConnectTimeout: %w", err)
		}
		return nil
	})
}

// controlCall records one call of an Options.Control hook.
type controlCall struct {
	network, address string
	rawErr           error
}

func checkControl(open openFunc) error {
	var (
		mu    sync.Mutex
		calls []controlCall
	)
	opts := transport.Options{Control: func(network, address string, c syscall.RawConn) error {
		rawErr := c.Control(func(fd uintptr) {})
		mu.Lock()
		calls = append(calls, controlCall{network, address, rawErr})
		mu.Unlock()
		return nil
	}}
	return withPair(open, opts, func(b transport.Backend, c1 transport.Stream, c2 net.Conn) error {
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 1 {
			return fmt.Errorf("Control called %d times for one dial, want 1", len(calls))
		}
		c := calls[0]
		if c.network != "tcp4" && c.network != "tcp6" && c.network != "tcp" {
			return fmt.Errorf("Control got network %q, want tcp4, tcp6 or tcp", c.network)
		}
		if c.address != c2.LocalAddr().String() {
			return fmt.Errorf("Control got address %q, want %q", c.address, c2.LocalAddr())
		}
		if c.rawErr != nil {
			return fmt.Errorf("RawConn.Control inside the hook: %w", c.rawErr)
		}
		return nil
	})
}

var errHook = errors.New("transporttest: Control hook refuses")

func checkControlError(open openFunc) error {
	opts := transport.Options{Control: func(network, address string, c syscall.RawConn) error {
		return errHook
	}}
	return withBackend(open, opts, func(b transport.Backend) error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		addr := ln.Addr().String()
		oe, err := dialErr(b, dial(context.Background(), b, "tcp", addr), "tcp", addr)
		if err != nil {
			return err
		}
		if !errors.Is(oe, errHook) {
			return fmt.Errorf("error %v does not wrap the Control hook's error", oe)
		}
		return nil
	})
}

// otherLoopback is a loopback address other than 127.0.0.1, to tell a
// bound local address from the system's choice.
const otherLoopback = "127.0.0.2"

func checkLocalAddr(open openFunc) error {
	probe, err := net.Listen("tcp", otherLoopback+":0")
	if err != nil {
		return skipf("cannot bind %s here: %v", otherLoopback, err)
	}
	probe.Close()
	local := &net.TCPAddr{IP: net.ParseIP(otherLoopback)}
	return withPair(open, transport.Options{LocalAddr: local}, func(b transport.Backend, c1 transport.Stream, c2 net.Conn) error {
		for _, a := range []net.Addr{c1.LocalAddr(), c2.RemoteAddr()} {
			ta, ok := a.(*net.TCPAddr)
			if !ok || !ta.IP.Equal(local.IP) {
				return fmt.Errorf("connection's client address is %v, want one on %v", a, local.IP)
			}
		}
		return nil
	})
}

// fdOf returns the descriptor of s, or a skip error when it has none.
func fdOf(s transport.Stream) (int, error) {
	v, ok := s.Info(transport.InfoFD)
	fd, isInt := v.(int)
	if !ok || !isInt {
		return 0, skipf("the stream reports no InfoFD")
	}
	return fd, nil
}

func checkNoDelay(open openFunc) error {
	for _, disable := range []bool{false, true} {
		err := withPair(open, transport.Options{DisableNoDelay: disable}, func(b transport.Backend, c1 transport.Stream, c2 net.Conn) error {
			fd, err := fdOf(c1)
			if err != nil {
				return err
			}
			o, err := readSockopts(fd)
			if err != nil {
				return err
			}
			if o.noDelay == disable {
				return fmt.Errorf("with DisableNoDelay %v, TCP_NODELAY is %v", disable, o.noDelay)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func checkKeepAlive(open openFunc) error {
	cases := []struct {
		keepAlive time.Duration
		on        bool
		idle      time.Duration
	}{
		{0, true, transport.DefaultKeepAlive},
		{7 * time.Second, true, 7 * time.Second},
		{-1, false, 0},
	}
	for _, c := range cases {
		err := withPair(open, transport.Options{KeepAlive: c.keepAlive}, func(b transport.Backend, c1 transport.Stream, c2 net.Conn) error {
			fd, err := fdOf(c1)
			if err != nil {
				return err
			}
			o, err := readSockopts(fd)
			if err != nil {
				return err
			}
			if o.keepAlive != c.on {
				return fmt.Errorf("with KeepAlive %v, SO_KEEPALIVE is %v", c.keepAlive, o.keepAlive)
			}
			if c.on && o.keepIdle != c.idle {
				return fmt.Errorf("with KeepAlive %v, the keep-alive idle time is %v", c.keepAlive, o.keepIdle)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// resolvedHost is the name the Resolver check looks up; .invalid names
// never exist in real DNS.
const resolvedHost = "transporttest.invalid"

func checkResolver(open openFunc) error {
	var queries atomic.Int32
	dns := newDNSServer(net.IPv4(127, 0, 0, 1), &queries)
	defer dns.wait()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if _, err := dns.resolver().LookupHost(ctx, resolvedHost); err != nil || queries.Load() == 0 {
		return skipf("this system's resolver settings do not reach DNS for %s (err %v)", resolvedHost, err)
	}
	queries.Store(0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	address := net.JoinHostPort(resolvedHost, port)
	return withBackend(open, transport.Options{Resolver: dns.resolver()}, func(b transport.Backend) error {
		c1, c2, stop, err := dialPair(b, ln, "tcp", address, func() {})
		if err != nil {
			return fmt.Errorf("dial %s through Options.Resolver: %w", address, err)
		}
		defer stop()
		if queries.Load() == 0 {
			return errors.New("dialed a name without asking Options.Resolver")
		}
		return exchange(c1, c2)
	})
}
