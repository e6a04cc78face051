package epoll_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// pair dials a loopback listener through b and returns both ends.
func pair(t *testing.T, b *epoll.Backend) (transport.Stream, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := b.Dial(ctxT(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s, c
}

func TestRegistered(t *testing.T) {
	var found bool
	for _, n := range registry.Names() {
		found = found || n == epoll.Name
	}
	if !found {
		t.Fatalf("epoll not registered: %v", registry.Names())
	}
	if err := epoll.Available(); err != nil {
		t.Fatalf("Available() = %v on Linux", err)
	}
	b, err := registry.Open(epoll.Name, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Name() != epoll.Name {
		t.Errorf("Name = %q", b.Name())
	}
	if _, err := registry.Open(epoll.Name, transport.Options{Config: []byte(`{"nope":1}`)}); !errors.Is(err, registry.ErrUnknownField) {
		t.Errorf("Open with a bad config: %v, want ErrUnknownField", err)
	}
}

func TestConformanceVariants(t *testing.T) {
	for _, cfg := range []string{`{"blocking_wait": true, "lock_os_thread": true}`, `{"blocking_wait": true, "no_yield": true, "events": 1}`} {
		t.Run(cfg, func(t *testing.T) {
			b := openBackend(t, cfg)
			defer b.Close()
			transporttest.TestStream(t, transporttest.TCPPipe(b))
		})
	}
}

// TestDialStress dials 2,000 times at once: half to a closed port, a
// quarter to a listener whose queue is full (cancelled mid-connect), a
// quarter to a live listener; fds and goroutines come back to where they
// started.
func TestDialStress(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := openBackend(t, `{"loops": 2}`)
	defer b.Close()

	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closeEach(t, live)

	closed := closedPort(t)
	hang := newBlackhole(t)

	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			switch {
			case i%2 == 0:
				s, err := b.Dial(ctx, "tcp", closed)
				if err == nil {
					s.Close()
					errs <- errors.New("dial to a closed port succeeded")
				} else if !errors.Is(err, syscall.ECONNREFUSED) {
					errs <- err
				}
			case i%4 == 1:
				go func() { time.Sleep(time.Duration(i%50) * time.Millisecond); cancel() }()
				s, err := b.Dial(ctx, "tcp", hang)
				if err == nil {
					s.Close() // it may win the race against the queue
				} else if !errors.Is(err, context.Canceled) && !errors.Is(err, syscall.ECONNREFUSED) {
					errs <- err
				}
			default:
				s, err := b.Dial(ctx, "tcp", live.Addr().String())
				if err != nil {
					errs <- err
					return
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newBlackhole returns a loopback address whose accept queue is full, so
// that connects to it hang.
func newBlackhole(t *testing.T) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("accept queue never filled")
	return ""
}

func TestDialTimeoutAndCancel(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := openBackend(t, "")
	defer b.Close()
	hang := newBlackhole(t)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Dial(ctx, "tcp", hang)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("dial past the deadline: %v, want a timeout", err)
	}

	b2, err := epoll.Open(transport.Options{ConnectTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := b2.Dial(context.Background(), "tcp", hang); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ConnectTimeout: %v, want a timeout", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel2)
	if _, err := b.Dial(ctx2, "tcp", hang); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled dial: %v, want context.Canceled", err)
	}
}

func TestDialErrors(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	ctx := ctxT(t)
	for _, tc := range []struct{ network, address string }{
		{"udp", "127.0.0.1:1"},
		{"tcp", "no-port"},
		{"tcp", "127.0.0.1:99999"},
		{"tcp", "127.0.0.1:nosuchservice"},
		{"tcp4", "[::1]:80"},
		{"tcp6", "127.0.0.1:80"},
		{"unix", ""},
		{"unix", filepath.Join(t.TempDir(), "missing")},
		{"tcp", "name.invalid:80"},
	} {
		s, err := b.Dial(ctx, tc.network, tc.address)
		if err == nil {
			s.Close()
			t.Errorf("Dial(%q, %q) succeeded", tc.network, tc.address)
			continue
		}
		var oe *transport.OpError
		if !errors.As(err, &oe) || oe.Backend != epoll.Name || oe.Op != "dial" {
			t.Errorf("Dial(%q, %q): %v is not an epoll dial OpError", tc.network, tc.address, err)
		}
	}
	if _, err := b.Dial(ctx, "udp", "127.0.0.1:1"); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("udp: %v", err)
	}
}

// closeEach accepts every connection to ln and closes it at once, until
// the test ends; then testenv.Serve closes ln and waits for its
// goroutines.
func closeEach(t *testing.T, ln net.Listener) {
	testenv.Serve(t, ln, func(c net.Conn) { c.Close() })
}

func TestDialNames(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closeEach(t, ln)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	// "localhost" may give ::1 first (refused here), then 127.0.0.1:
	// the families race; an empty host means this machine.
	for _, addr := range []string{"localhost:" + port, ":" + port, "127.0.0.1:" + port} {
		s, err := b.Dial(ctxT(t), "tcp", addr)
		if err != nil {
			t.Errorf("Dial(%q): %v", addr, err)
			continue
		}
		if ra := s.RemoteAddr().(*net.TCPAddr); ra.Port != ln.Addr().(*net.TCPAddr).Port {
			t.Errorf("Dial(%q): RemoteAddr %v", addr, ra)
		}
		s.Close()
	}
	if s, err := b.Dial(ctxT(t), "tcp4", "localhost:"+port); err != nil {
		t.Errorf("tcp4 localhost: %v", err)
	} else {
		s.Close()
	}
}

func TestDialIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	closeEach(t, ln)
	b, err := epoll.Open(transport.Options{LocalAddr: &net.TCPAddr{IP: net.IPv6loopback}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, addr := range []string{"[::1]:" + port, "[::1%lo]:" + port, "[::1%1]:" + port} {
		s, err := b.Dial(ctxT(t), "tcp6", addr)
		if err != nil {
			t.Errorf("Dial(tcp6, %q): %v", addr, err)
			continue
		}
		if la := s.LocalAddr().(*net.TCPAddr); !la.IP.Equal(net.IPv6loopback) {
			t.Errorf("LocalAddr = %v", la)
		}
		s.Close()
	}
	if _, err := b.Dial(ctxT(t), "tcp", "127.0.0.1:"+port); err == nil {
		t.Error("an IPv6 local address dialed IPv4")
	}
}

func TestOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var got []string
	var mu sync.Mutex
	b, err := epoll.Open(transport.Options{
		DisableNoDelay: true,
		KeepAlive:      -1,
		LocalAddr:      &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)},
		Control: func(network, address string, c syscall.RawConn) error {
			mu.Lock()
			got = append(got, network+" "+address)
			mu.Unlock()
			if err := c.Read(func(uintptr) bool { return true }); err == nil {
				t.Error("RawConn.Read worked while dialing")
			}
			if err := c.Write(func(uintptr) bool { return true }); err == nil {
				t.Error("RawConn.Write worked while dialing")
			}
			return c.Control(func(fd uintptr) {
				v, _ := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
				if v != 0 {
					t.Error("TCP_NODELAY set despite DisableNoDelay")
				}
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.Dial(ctxT(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(got) != 1 || got[0] != "tcp4 "+ln.Addr().String() {
		t.Errorf("Control saw %v", got)
	}

	boom := errors.New("boom")
	b2, err := epoll.Open(transport.Options{Control: func(string, string, syscall.RawConn) error { return boom }})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := b2.Dial(ctxT(t), "tcp", ln.Addr().String()); !errors.Is(err, boom) {
		t.Errorf("Control error: %v", err)
	}
	b3, err := epoll.Open(transport.Options{LocalAddr: &net.UnixAddr{Name: "x", Net: "unix"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if _, err := b3.Dial(ctxT(t), "tcp", ln.Addr().String()); err == nil {
		t.Error("a unix local address dialed TCP")
	}
}

func TestDeadlinesWakeParkedCallers(t *testing.T) {
	b := openBackend(t, `{"loops": 1}`)
	defer b.Close()
	s1, _ := pair(t, b)
	s2, _ := pair(t, b)
	// Two readers on one loop: one leads, the other follows; deadlines
	// wake both.
	var wg sync.WaitGroup
	for _, s := range []transport.Stream{s1, s2} {
		wg.Go(func() {
			s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := s.Read(make([]byte, 8))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Read: %v, want a timeout", err)
			}
		})
	}
	wg.Wait()
	// A deadline moved into the past wakes a parked reader.
	done := make(chan error, 1)
	s1.SetReadDeadline(time.Now().Add(time.Hour))
	go func() { _, err := s1.Read(make([]byte, 8)); done <- err }()
	testenv.Eventually(t, waitTimeout, func() bool { return epoll.ReadParked(s1) })
	s1.SetReadDeadline(time.Unix(1, 0))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read after the deadline moved back: %v", err)
	}
	// Clearing it makes the stream usable again.
	if err := s1.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWakesEveryone(t *testing.T) {
	b := openBackend(t, `{"loops": 1}`)
	defer b.Close()
	s1, _ := pair(t, b)
	s2, _ := pair(t, b)
	big := make([]byte, 8<<20)
	errs := make(chan error, 4)
	go func() { _, err := s1.Read(make([]byte, 8)); errs <- err }()
	go func() { _, err := s1.Write(big); errs <- err }() // fills the buffers, parks
	go func() { _, err := s2.Read(make([]byte, 8)); errs <- err }()
	go func() { _, err := s2.Read(make([]byte, 8)); errs <- err }()
	// s2's second Read waits for the first behind the stream's read
	// lock, where nothing shows it: it is blocked or ends with
	// net.ErrClosed, whichever comes first.
	testenv.Eventually(t, waitTimeout, func() bool {
		return epoll.ReadParked(s1) && epoll.WriteParked(s1) && epoll.ReadParked(s2)
	})
	s1.Close()
	s2.Close()
	for range 4 {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked call returned %v, want net.ErrClosed", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Close did not wake a blocked call")
		}
	}
	if err := s1.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := s1.Info(transport.InfoFD); ok {
		t.Error("InfoFD present after Close")
	}
	if err := s1.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline after Close: %v", err)
	}
	if err := s1.SetWriteDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetWriteDeadline after Close: %v", err)
	}
}

func TestBulkAndWriteTimeout(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	s, c := pair(t, b)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() { d, _ := io.ReadAll(c); got <- d }()
	if n, err := s.Write(big); err != nil || n != len(big) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	s.CloseWrite()
	if d := <-got; !bytes.Equal(d, big) {
		t.Fatalf("peer got %d bytes, want %d", len(d), len(big))
	}
	// Nobody reads now: a write that fills the buffers parks, and a
	// deadline set while it is parked ends it with a partial write. The
	// deadline is set only once the write has parked, so a slow machine
	// cannot make it expire before the first byte is written.
	s2, _ := pair(t, b)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s2.Write(make([]byte, 64<<20))
		done <- result{n, err}
	}()
	ctx := ctxT(t)
	for !epoll.WriteParked(s2) {
		select {
		case r := <-done:
			t.Fatalf("Write returned before parking: %d, %v", r.n, r.err)
		case <-ctx.Done():
			t.Fatal("Write never parked")
		case <-time.After(time.Millisecond):
		}
	}
	s2.SetWriteDeadline(time.Now())
	select {
	case r := <-done:
		if !errors.Is(r.err, os.ErrDeadlineExceeded) || r.n == 0 {
			t.Errorf("Write = %d, %v; want a partial write and a timeout", r.n, r.err)
		}
	case <-ctx.Done():
		t.Fatal("Write did not return after its deadline passed")
	}
}

func TestIsReadableIdle(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	s, c := pair(t, b)
	if s.IsReadable() {
		t.Fatal("quiet stream readable")
	}
	c.Write([]byte("x"))
	testenv.Eventually(t, waitTimeout, s.IsReadable)
	buf := make([]byte, 1) // exactly the size: the spill byte tells
	if n, err := s.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if s.IsReadable() {
		t.Error("drained stream readable")
	}
	// Three bytes read one at a time go through the spill byte.
	c.Write([]byte("abc"))
	var got []byte
	for len(got) < 3 {
		n, err := s.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abc" {
		t.Errorf("got %q", got)
	}
	c.Write([]byte("de"))
	c.Close()
	two := make([]byte, 2)
	if _, err := io.ReadFull(s, two); err != nil || string(two) != "de" {
		t.Fatalf("ReadFull = %q, %v", two, err)
	}
	if _, err := s.Read(two); err != io.EOF {
		t.Errorf("Read at EOF: %v", err)
	}
	if !s.IsReadable() {
		t.Error("stream at EOF not readable")
	}
}

func TestAdopt(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := openBackend(t, "")
	defer b.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	s, err := b.Adopt(os.NewFile(uintptr(fds[0]), "mine"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Info(transport.InfoFD); v == fds[0] {
		t.Error("Adopt did not duplicate the fd")
	}
	if s.LocalAddr().Network() != "unix" {
		t.Errorf("LocalAddr %v", s.LocalAddr())
	}
	peer.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("ReadFull = %q, %v", buf, err)
	}

	// Not a stream socket: refused, and the fd stays the caller's.
	dg, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dg[1])
	if _, err := b.NewStream(dg[0], ""); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("NewStream(datagram): %v", err)
	}
	if err := unix.Close(dg[0]); err != nil {
		t.Errorf("fd closed by a failed NewStream: %v", err)
	}
	if _, err := b.NewStream(-1, ""); err == nil {
		t.Error("NewStream(-1) worked")
	}
	sp, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	if _, err := b.NewStream(sp[0], "tcp"); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("NewStream(unix as tcp): %v", err)
	}
	r, w, _ := os.Pipe()
	w.Close()
	if _, err := b.Adopt(r); err == nil {
		t.Error("Adopt(pipe) worked")
	}
}

func TestTLSOverEpoll(t *testing.T) {
	cert, err := tls.X509KeyPair(localhostCert, localhostKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	b := openBackend(t, "")
	defer b.Close()
	s, err := transport.DialTLS(ctxT(t), b, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := transport.NegotiatedProtocol(s); p != "h2" {
		t.Errorf("ALPN = %q", p)
	}
	if _, ok := s.Info(transport.InfoFD); !ok {
		t.Error("no InfoFD under TLS")
	}
	s.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echo = %q, %v", buf, err)
	}
}

func TestBackendCloseKeepsStreams(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := openBackend(t, `{"loops": 2}`)
	s, c := pair(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := b.Dial(ctxT(t), "tcp", "127.0.0.1:1"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := b.NewStream(fds[0], ""); !errors.Is(err, net.ErrClosed) {
		t.Errorf("NewStream after Close: %v", err)
	}
	// The stream still works, and its loop exits when it is closed.
	c.Write([]byte("late"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Close()
}

// TestOutOfFDs runs the backend into RLIMIT_NOFILE: opening and dialing
// fail with errors, and nothing is left open.
func TestOutOfFDs(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	b := openBackend(t, `{"loops": 1}`)
	defer b.Close()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > highest {
			highest = n
		}
	}
	lim := unix.Rlimit{Cur: uint64(highest) + 16, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	// Fill every free slot under the limit, then free extra of them.
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	for extra := 0; extra < 3; extra++ {
		if b2, err := epoll.Open(transport.Options{Config: []byte(`{"loops": 2}`)}); err == nil {
			b2.Close()
			t.Errorf("Open with %d spare fds worked", extra)
		}
		if s, err := b.Dial(ctxT(t), "tcp", "127.0.0.1:1"); err == nil {
			s.Close()
			t.Errorf("Dial with %d spare fds worked", extra)
		}
		if len(fillers) > 0 {
			unix.Close(fillers[len(fillers)-1])
			fillers = fillers[:len(fillers)-1]
		}
	}
}

func TestNewStreamTCP(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	if b.Config().Loops < 1 {
		t.Errorf("Config() = %+v", b.Config())
	}
	c, peer := testenv.TCPPair(t)
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, network := range []string{"tcp6", "unix", "bogus"} {
		if _, err := b.NewStream(int(f.Fd()), network); !errors.Is(err, transport.ErrUnsupported) {
			t.Errorf("NewStream(tcp4 socket, %q): %v", network, err)
		}
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.NewStream(fd, "tcp")
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer s.Close()
	if s.RemoteAddr().String() != peer.LocalAddr().String() {
		t.Errorf("RemoteAddr = %v", s.RemoteAddr())
	}
	if v, _ := s.Info(transport.InfoBackend); v != epoll.Name {
		t.Errorf("InfoBackend = %v", v)
	}
	if _, ok := s.Info("nope"); ok {
		t.Error("unknown key present")
	}
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hi" {
		t.Errorf("peer read %q, %v", buf, err)
	}
}

// TestCloseUnregistersLentFD checks that a stream whose fd was handed out
// through InfoFD leaves the epoll set on Close even while a duplicate of
// the fd keeps the socket open (as after a plugin's socket handoff), so
// the loop is not woken for traffic it no longer owns.
func TestCloseUnregistersLentFD(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	s, _ := pair(t, b)
	v, ok := s.Info(transport.InfoFD)
	if !ok {
		t.Fatal("no InfoFD on an open stream")
	}
	fd := v.(int)
	if !epoll.Registered(t, s, fd) {
		t.Fatal("an open stream's fd is not in the epoll set")
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if epoll.Registered(t, s, fd) {
		t.Fatal("the closed stream's fd is still in the epoll set while a duplicate lives")
	}
}
