package transporttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptrace"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// TestBackend checks a Backend's dialing contract, each check a subtest:
//
//   - Name: Name is not empty.
//   - DialTCP: "tcp", "tcp4" and (where ::1 exists) "tcp6" dial a loopback
//     listener and exchange bytes; streams report InfoBackend equal to
//     Name.
//   - DialUnix: "unix" dials a socket and exchanges bytes.
//   - Concurrent: several Dials at once all succeed.
//   - Refused: a closed port fails fast with an *transport.OpError (Op
//     "dial", Backend equal to Name, Network and Address as dialed)
//     matching syscall.ECONNREFUSED and not a timeout.
//   - ConnectTrace: a dial reports its connect to the
//     httptrace.ClientTrace in its context, as net/http's dialer does:
//     dialing a live loopback listener reports at least one ConnectStart
//     and a ConnectDone with a nil error, and dialing a refused port a
//     ConnectDone with an error (and none without); every event names the
//     address dialed (and its network, or the TCP family it resolved to),
//     never a socket of the backend's own.
//   - Deadline: a dial that cannot complete returns soon after the
//     context's deadline with an *transport.OpError that is a timeout
//     (net.Error with Timeout() true, matching os.ErrDeadlineExceeded).
//   - Cancel: the same dial returns soon after the context is canceled,
//     with an error matching context.Canceled.
//   - CanceledBefore: a context canceled before Dial fails it even to a
//     live listener.
//   - Unsupported: "udp" fails with an error matching
//     transport.ErrUnsupported.
//   - BadAddress: malformed addresses fail with an *transport.OpError.
//   - Closed: Close returns nil, again nil (or net.ErrClosed), and a later
//     Dial fails matching net.ErrClosed.
//
// A dial that cannot complete is made on Linux with a listening socket
// whose accept queue is full (the kernel then drops SYNs); elsewhere
// Deadline and Cancel are skipped.
//
// newBackend is called once per subtest; the suite closes the backend.
// Every subtest checks with VerifyNoLeaks that nothing outlives it, so
// newBackend must not start anything that outlives the backend's Close.
func TestBackend(t *testing.T, newBackend func(t *testing.T) transport.Backend) {
	TestBackendChecks(t, newBackend)
}

// TestBackendChecks runs only the named checks of TestBackend (see
// BackendCheckNames), or all of them when no name is given. It is for
// backends some checks cannot apply to, such as an in-memory backend that
// cannot reach the loopback listeners DialTCP, DialUnix, Concurrent,
// Deadline and Cancel dial; say in the test why the others are left out.
// An unknown name fails t.
func TestBackendChecks(t *testing.T, newBackend func(t *testing.T) transport.Backend, names ...string) {
	for _, n := range names {
		if !slices.Contains(BackendCheckNames(), n) {
			t.Fatalf("transporttest: no backend check named %q; the checks are %v", n, BackendCheckNames())
		}
	}
	for _, c := range backendChecks {
		if len(names) > 0 && !slices.Contains(names, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			VerifyNoLeaks(t)
			b := newBackend(t)
			if b == nil {
				t.Fatal("transporttest: newBackend returned nil")
			}
			t.Cleanup(func() {
				if err := b.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
					t.Errorf("transporttest: closing the backend: %v", err)
				}
			})
			run(t, func() error { return c.check(b) }, func() {})
		})
	}
}

// BackendCheckNames returns the names of TestBackend's checks (its
// subtests), in the order they run.
func BackendCheckNames() []string {
	names := make([]string, len(backendChecks))
	for i, c := range backendChecks {
		names[i] = c.name
	}
	return names
}

// backendChecks are TestBackend's checks, in the order they run.
var backendChecks = []struct {
	name  string
	check func(b transport.Backend) error
}{
	{"Name", checkName},
	{"DialTCP", checkDialTCP},
	{"DialUnix", checkDialUnix},
	{"Concurrent", checkConcurrent},
	{"Refused", checkRefused},
	{"ConnectTrace", checkConnectTrace},
	{"Deadline", checkDeadline},
	{"Cancel", checkCancel},
	{"CanceledBefore", checkCanceledBefore},
	{"Unsupported", checkUnsupported},
	{"BadAddress", checkBadAddress},
	{"Closed", checkClosedBackend},
}

func checkName(b transport.Backend) error {
	if b.Name() == "" {
		return errors.New("Name is empty")
	}
	return nil
}

func checkDialTCP(b transport.Backend) error {
	nets := []struct{ network, listen string }{
		{"tcp", "127.0.0.1:0"},
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	}
	for _, n := range nets {
		ln, err := net.Listen(n.network, n.listen)
		if err != nil {
			if n.network == "tcp6" {
				continue // no IPv6 loopback here
			}
			return err
		}
		c1, c2, stop, err := dialPair(b, ln, n.network, ln.Addr().String(), func() {})
		if err != nil {
			return fmt.Errorf("dial %s: %w", n.network, err)
		}
		err = checkDialed(b, c1, c2)
		stop()
		if err != nil {
			return fmt.Errorf("%s: %w", n.network, err)
		}
	}
	return nil
}

// checkDialed checks a freshly dialed stream against its peer.
func checkDialed(b transport.Backend, c1 transport.Stream, c2 net.Conn) error {
	if v, _ := c1.Info(transport.InfoBackend); v != b.Name() {
		return fmt.Errorf("Info(InfoBackend) = %#v, want the backend's Name %q", v, b.Name())
	}
	if c1.RemoteAddr() == nil || c1.RemoteAddr().String() != c2.LocalAddr().String() {
		return fmt.Errorf("RemoteAddr = %v, want the listener's %v", c1.RemoteAddr(), c2.LocalAddr())
	}
	return exchange(c1, c2)
}

func checkDialUnix(b transport.Backend) error {
	c1, c2, stop, err := UnixPipe(b)()
	if err != nil {
		return fmt.Errorf("dial unix: %w", err)
	}
	defer stop()
	if err := checkDialed(b, c1, c2); err != nil {
		return err
	}
	if err := c1.CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	return readEOF(c2, nil)
}

func checkConcurrent(b transport.Backend) error {
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c1, c2, stop, err := TCPPipe(b)()
			if err != nil {
				errs <- err
				return
			}
			defer stop()
			errs <- exchange(c1, c2)
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// dialErr checks err is an *transport.OpError for a dial of address on
// network by b.
func dialErr(b transport.Backend, err error, network, address string) (*transport.OpError, error) {
	if err == nil {
		return nil, fmt.Errorf("Dial(%q, %q) succeeded, want an error", network, address)
	}
	var oe *transport.OpError
	if !errors.As(err, &oe) {
		return nil, fmt.Errorf("Dial(%q, %q) error %v is a %T, want a *transport.OpError", network, address, err, err)
	}
	if oe.Op != "dial" || oe.Backend != b.Name() || oe.Network != network || oe.Address != address {
		return nil, fmt.Errorf("Dial(%q, %q) error has Op %q, Backend %q, Network %q, Address %q; want \"dial\", %q, %q, %q",
			network, address, oe.Op, oe.Backend, oe.Network, oe.Address, b.Name(), network, address)
	}
	if oe.Err == nil {
		return nil, errors.New("OpError.Err is nil")
	}
	return oe, nil
}

// dial dials through b with a context bounded by dialTimeout, closing any
// stream that comes back since the callers expect failures.
func dial(ctx context.Context, b transport.Backend, network, address string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	s, err := b.Dial(ctx, network, address)
	if s != nil {
		s.Close()
	}
	if err == nil && s == nil {
		return errors.New("Dial returned a nil Stream and a nil error")
	}
	return err
}

// freeAddr returns a loopback TCP address nothing listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func checkRefused(b transport.Backend) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	err = dial(context.Background(), b, "tcp", addr)
	oe, err := dialErr(b, err, "tcp", addr)
	if err != nil {
		return err
	}
	if !errors.Is(oe, syscall.ECONNREFUSED) {
		return fmt.Errorf("error %v does not match syscall.ECONNREFUSED", oe)
	}
	if oe.Timeout() {
		return fmt.Errorf("error %v is a timeout; a refused dial must fail at once", oe)
	}
	return nil
}

// hangingDial dials an address whose connect never completes, under the
// context newCtx returns (made once the address is ready, so its deadline
// is all the dial's own), and returns the error. It fails if Dial has not
// returned hangSlack after within, the time by which the context or the
// options should have ended it.
func hangingDial(b transport.Backend, within time.Duration, newCtx func() (context.Context, context.CancelFunc)) (addr string, dialErr, err error) {
	bh, err := newBlackhole()
	if errors.Is(err, errors.ErrUnsupported) {
		return "", nil, skipf("%v", err)
	}
	if err != nil {
		return "", nil, err
	}
	defer bh.Close()
	ctx, cancel := newCtx()
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s, err := b.Dial(ctx, "tcp", bh.addr)
		if s != nil {
			s.Close()
		}
		done <- err
	}()
	timer := time.NewTimer(within + hangSlack)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil {
			err = errors.New("Dial of a connect that cannot complete succeeded")
		}
		return bh.addr, err, nil
	case <-timer.C:
		return "", nil, fmt.Errorf("Dial of a connect that cannot complete still running %v after it should have ended", within+hangSlack)
	}
}

func checkDeadline(b transport.Backend) error {
	addr, derr, err := hangingDial(b, hangDeadline, func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), hangDeadline)
	})
	if err != nil {
		return err
	}
	oe, err := dialErr(b, derr, "tcp", addr)
	if err != nil {
		return err
	}
	if err := isTimeout(oe); err != nil {
		return fmt.Errorf("dial past the context deadline: %w", err)
	}
	return nil
}

func checkCancel(b transport.Backend) error {
	addr, derr, err := hangingDial(b, hangDeadline, func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(hangDeadline, cancel)
		return ctx, func() { stop.Stop(); cancel() }
	})
	if err != nil {
		return err
	}
	oe, err := dialErr(b, derr, "tcp", addr)
	if err != nil {
		return err
	}
	if !errors.Is(oe, context.Canceled) {
		return fmt.Errorf("dial with a canceled context: error %v does not match context.Canceled", oe)
	}
	return nil
}

func checkCanceledBefore(b transport.Backend) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	addr := ln.Addr().String()
	oe, err := dialErr(b, dial(ctx, b, "tcp", addr), "tcp", addr)
	if err != nil {
		return err
	}
	if !errors.Is(oe, context.Canceled) {
		return fmt.Errorf("error %v does not match context.Canceled", oe)
	}
	return nil
}

func checkUnsupported(b transport.Backend) error {
	const addr = "127.0.0.1:53"
	oe, err := dialErr(b, dial(context.Background(), b, "udp", addr), "udp", addr)
	if err != nil {
		return err
	}
	if !errors.Is(oe, transport.ErrUnsupported) {
		return fmt.Errorf("error %v does not match transport.ErrUnsupported", oe)
	}
	return nil
}

func checkBadAddress(b transport.Backend) error {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "[::1:80", "127.0.0.1:-1"} {
		if _, err := dialErr(b, dial(context.Background(), b, "tcp", addr), "tcp", addr); err != nil {
			return err
		}
	}
	return nil
}

func checkClosedBackend(b transport.Backend) error {
	if err := b.Close(); err != nil {
		return fmt.Errorf("first Close: %w", err)
	}
	if err := b.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("second Close: got %v, want nil or an error matching net.ErrClosed", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	oe, err := dialErr(b, dial(context.Background(), b, "tcp", addr), "tcp", addr)
	if err != nil {
		return err
	}
	if !errors.Is(oe, net.ErrClosed) {
		return fmt.Errorf("Dial after Close: error %v does not match net.ErrClosed", oe)
	}
	return nil
}

// connectEvent is a ConnectStart (done false) or ConnectDone reported to
// a ClientTrace.
type connectEvent struct {
	done             bool
	network, address string
	err              error
}

// connectTrace records the connect events of a dial.
type connectTrace struct {
	mu     sync.Mutex
	events []connectEvent
}

func (c *connectTrace) context(ctx context.Context) context.Context {
	add := func(e connectEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.events = append(c.events, e)
	}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart: func(network, address string) { add(connectEvent{network: network, address: address}) },
		ConnectDone: func(network, address string, err error) {
			add(connectEvent{done: true, network: network, address: address, err: err})
		},
	})
}

// check checks the events of a dial of address on network: they all name
// it, there is a ConnectStart, and a ConnectDone with a nil error if ok,
// else one with an error and none without.
func (c *connectTrace) check(network, address string, ok bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var starts, good, bad int
	for _, e := range c.events {
		if !sameNetwork(e.network, network) || e.address != address {
			return fmt.Errorf("dial of %s %s reported a connect to %s %s: report the address dialed, not the backend's own sockets", network, address, e.network, e.address)
		}
		switch {
		case !e.done:
			starts++
		case e.err == nil:
			good++
		default:
			bad++
		}
	}
	switch {
	case starts == 0:
		return fmt.Errorf("dial of %s %s reported no ConnectStart to the context's httptrace.ClientTrace (events %+v)", network, address, c.events)
	case ok && good == 0:
		return fmt.Errorf("dial of %s %s succeeded but reported no ConnectDone with a nil error (events %+v)", network, address, c.events)
	case !ok && (bad == 0 || good > 0):
		return fmt.Errorf("refused dial of %s %s reported %d ConnectDone with an error and %d without; want at least one with, none without", network, address, bad, good)
	}
	return nil
}

func checkConnectTrace(b transport.Backend) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	addr := ln.Addr().String()
	var live connectTrace
	_, _, stop, err := dialPairContext(live.context(context.Background()), b, ln, "tcp", addr, func() {})
	if err != nil {
		return fmt.Errorf("dial tcp: %w", err)
	}
	stop()
	if err := live.check("tcp", addr, true); err != nil {
		return err
	}
	refused, err := freeAddr()
	if err != nil {
		return err
	}
	var dead connectTrace
	if err := dial(dead.context(context.Background()), b, "tcp", refused); err == nil {
		return fmt.Errorf("dial of the closed port %s succeeded", refused)
	}
	return dead.check("tcp", refused, false)
}

// sameNetwork reports whether a and b are the same network, counting tcp,
// tcp4 and tcp6 as one: a backend may name the family it resolved to.
func sameNetwork(a, b string) bool {
	tcp := func(n string) bool { return n == "tcp" || n == "tcp4" || n == "tcp6" }
	return a == b || (tcp(a) && tcp(b))
}
