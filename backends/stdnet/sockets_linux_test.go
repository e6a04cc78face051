//go:build linux

package stdnet_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// These tests read socket state back with Linux system calls.

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
	// A reset makes the stream readable: the Read would not block.
	testenv.Eventually(t, 10*time.Second, c1.IsReadable)
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset = %v, want ECONNRESET", err)
	}
}

// socketFile returns the client end of a loopback TCP connection as a
// file, and the server end.
func socketFile(t *testing.T) (*os.File, net.Conn) {
	t.Helper()
	c, srv := testenv.TCPPair(t)
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func TestAdopt(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b, err := stdnet.Open(transport.Options{DisableNoDelay: true, KeepAlive: -1})
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
