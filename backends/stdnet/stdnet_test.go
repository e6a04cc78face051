package stdnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestRegistered(t *testing.T) {
	if !slices.Contains(registry.Names(), stdnet.Name) {
		t.Fatalf("registry.Names() = %v, want it to include %q", registry.Names(), stdnet.Name)
	}
	b, err := registry.Open(stdnet.Name, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Name() != stdnet.Name {
		t.Fatalf("registry.Open(%q) opened %q", stdnet.Name, b.Name())
	}
}

func TestNewConfig(t *testing.T) {
	for _, cfg := range []string{"", "  ", "null", "{}", " { } "} {
		b, err := stdnet.New(transport.Options{Config: []byte(cfg)})
		if err != nil {
			t.Errorf("New with Config %q: %v", cfg, err)
			continue
		}
		b.Close()
	}
	for _, cfg := range []string{`{"buffer":1}`, `[1]`, `{`} {
		_, err := stdnet.New(transport.Options{Config: []byte(cfg)})
		var oe *transport.OpError
		if !errors.As(err, &oe) || oe.Op != "open" || oe.Backend != stdnet.Name {
			t.Errorf("New with Config %q = %v, want an *OpError with Op \"open\"", cfg, err)
		}
	}
}

// pair dials a loopback TCP listener through b and returns both ends.
func pair(t *testing.T, b transport.Backend) (transport.Stream, net.Conn) {
	t.Helper()
	c1, c2, stop, err := transporttest.TCPPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return c1, c2
}

func TestInfoFD(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := newBackend(t)
	defer b.Close()
	c1, _ := pair(t, b)
	v, ok := c1.Info(transport.InfoFD)
	fd, isInt := v.(int)
	if !ok || !isInt {
		t.Fatalf("Info(InfoFD) = %#v, %v; want an int", v, ok)
	}
	// The descriptor is the stream's socket: it has the stream's address.
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if got := sa.(*unix.SockaddrInet4).Port; got != c1.LocalAddr().(*net.TCPAddr).Port {
		t.Fatalf("InfoFD's socket is on port %d, the stream on %v", got, c1.LocalAddr())
	}
	c1.Close()
	if v, ok := c1.Info(transport.InfoFD); ok {
		t.Fatalf("Info(InfoFD) after Close = %#v, want absent", v)
	}
}

func TestIsReadableAfterReset(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	c1, c2 := pair(t, b)
	// Linger 0 makes Close send a reset: a Read would fail at once.
	if err := c2.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !c1.IsReadable() {
		if time.Now().After(deadline) {
			t.Fatal("IsReadable still false 10s after the peer reset the connection")
		}
		time.Sleep(time.Millisecond)
	}
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset = %v, want ECONNRESET", err)
	}
}

func TestUnixLocalAddr(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	dir, err := os.MkdirTemp("", "tks")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	local := &net.UnixAddr{Name: filepath.Join(dir, "client"), Net: "unix"}
	b, err := stdnet.New(transport.Options{LocalAddr: local})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c1, c2, stop, err := transporttest.UnixPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := c2.RemoteAddr().String(); got != local.Name {
		t.Fatalf("the server sees the client as %q, want %q", got, local.Name)
	}
	if got := c1.LocalAddr().String(); got != local.Name {
		t.Fatalf("LocalAddr = %q, want %q", got, local.Name)
	}
}

func TestDisableNoDelayUnix(t *testing.T) {
	// TCP_NODELAY does not apply to unix sockets; disabling it must not
	// break them.
	b, err := stdnet.New(transport.Options{DisableNoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c1, c2, stop, err := transporttest.UnixPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go c2.Write([]byte("ok"))
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func TestDialErrorUnwrapsNetOpError(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	_, err := b.Dial(context.Background(), "tcp", "127.0.0.1")
	var oe *transport.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("Dial = %v, want an *OpError", err)
	}
	// The cause is the net package's own reason, not a second OpError
	// repeating the operation and address.
	var ne *net.OpError
	if errors.As(oe.Err, &ne) {
		t.Fatalf("OpError.Err is a *net.OpError (%v); want its cause", ne)
	}
	var ae *net.AddrError
	if !errors.As(err, &ae) {
		t.Fatalf("Dial = %v, want a *net.AddrError cause", err)
	}
}

// socketFile returns the client end of a loopback TCP connection as a
// file, and the server end.
func socketFile(t *testing.T) (*os.File, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func TestAdopt(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b, err := stdnet.New(transport.Options{DisableNoDelay: true, KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f, srv := socketFile(t)
	s, err := transport.Adopt(b, f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Info(transport.InfoBackend); v != stdnet.Name {
		t.Fatalf("adopted stream's backend is %v", v)
	}
	fd, _ := s.Info(transport.InfoFD)
	nodelay, err := unix.GetsockoptInt(fd.(int), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil || nodelay != 0 {
		t.Fatalf("TCP_NODELAY on the adopted socket = %d, %v; want 0 (DisableNoDelay)", nodelay, err)
	}
	keepalive, err := unix.GetsockoptInt(fd.(int), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil || keepalive != 0 {
		t.Fatalf("SO_KEEPALIVE on the adopted socket = %d, %v; want 0", keepalive, err)
	}
	go srv.Write([]byte("adopted"))
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 7)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "adopted" {
		t.Fatalf("read %q, %v from the adopted stream", buf, err)
	}
}

func TestAdoptDefaults(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := newBackend(t)
	defer b.Close()
	f, _ := socketFile(t)
	s, err := b.(transport.Adopter).Adopt(f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fd, _ := s.Info(transport.InfoFD)
	idle, err := unix.GetsockoptInt(fd.(int), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if err != nil || time.Duration(idle)*time.Second != transport.DefaultKeepAlive {
		t.Fatalf("TCP_KEEPIDLE on the adopted socket = %d, %v; want %v", idle, err, transport.DefaultKeepAlive)
	}
}

func TestAdoptRejects(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := newBackend(t)
	defer b.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uf, err := udp.(*net.UDPConn).File()
	udp.Close()
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*os.File{"pipe": r, "udp": uf} {
		s, err := transport.Adopt(b, f)
		var oe *transport.OpError
		if s != nil || !errors.As(err, &oe) || oe.Op != "adopt" || oe.Backend != stdnet.Name {
			t.Errorf("Adopt(%s) = %v, %v; want an *OpError with Op \"adopt\"", name, s, err)
		}
		if name == "udp" && !errors.Is(err, transport.ErrUnsupported) {
			t.Errorf("Adopt(udp) = %v, want ErrUnsupported", err)
		}
		if f.Fd() != ^uintptr(0) {
			t.Errorf("Adopt(%s) left the file open", name)
		}
	}
}

func TestStreamsOutliveBackend(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pair(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	go c2.Write([]byte("still here"))
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c1, buf); err != nil {
		t.Fatalf("stream after backend Close: %v", err)
	}
}

func TestDialIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	b := newBackend(t)
	defer b.Close()
	s, err := b.Dial(context.Background(), "tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ip := s.RemoteAddr().(*net.TCPAddr).IP; !ip.Equal(net.IPv6loopback) {
		t.Fatalf("RemoteAddr = %v, want ::1", ip)
	}
}
