package epoll_test

import (
	"errors"
	"math"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
)

// net.TCPConn.CloseWrite returns at once while another goroutine's Write
// waits for buffer space, and the Write then fails with EPIPE. epoll's
// CloseWrite took the write mutex that the parked Write holds, so it
// blocked until that Write ended: without a write deadline, forever.
func TestCloseWriteWhileWriteParked(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	s, _ := pair(t, b) // the peer never reads
	big := make([]byte, 64<<20)
	wrote := make(chan error, 1)
	go func() { _, err := s.Write(big); wrote <- err }()
	deadline := time.Now().Add(waitTimeout)
	for !epoll.WriteParked(s) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cw := make(chan error, 1)
	go func() { cw <- s.CloseWrite() }()
	select {
	case err := <-cw:
		if err != nil {
			t.Errorf("CloseWrite = %v, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("CloseWrite still blocked 2s while a Write is parked; net.TCPConn's returns at once")
		s.Close() // releases the Write, then CloseWrite
		<-cw
	}
	select {
	case err := <-wrote:
		if err == nil {
			t.Errorf("parked Write succeeded after CloseWrite")
		} else if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("parked Write: %v, want EPIPE", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("parked Write still blocked 2s after CloseWrite; net.TCPConn's fails with EPIPE")
		s.Close()
		<-wrote
	}
}

// A deadline far in the future (more than ~292 years from the process
// start, e.g. year 9999) means "no timeout in practice" for net.TCPConn.
// epoll computed monoNow()+time.Until(t), which overflowed and was then
// clamped to 1: every Read and Write failed at once with a timeout.
func TestFarFutureDeadline(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	for _, d := range []time.Time{
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now().Add(math.MaxInt64),
	} {
		s, c := pair(t, b)
		if err := s.SetDeadline(d); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if n, err := s.Read(buf); err != nil || n == 0 {
			t.Errorf("deadline %v: Read = %d, %v; want data (net.TCPConn reads it)", d, n, err)
		}
		if _, err := s.Write([]byte("x")); err != nil {
			t.Errorf("deadline %v: Write = %v; want nil (net.TCPConn writes)", d, err)
		}
	}
}

// net.Dial to 0.0.0.0:port or [::]:port connects to the local host, and
// the conn's RemoteAddr is what the kernel reports (127.0.0.1:port,
// [::1]:port). epoll's RemoteAddr was the dialed sockaddr as given.
func TestRemoteAddrOfVagueDial(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	for _, tc := range []struct{ listen, dial string }{
		{"127.0.0.1:0", "0.0.0.0"},
		{"[::1]:0", "::"},
	} {
		ln, err := net.Listen("tcp", tc.listen)
		if err != nil {
			t.Skip(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		addr := net.JoinHostPort(tc.dial, port)
		ref, err := net.Dial("tcp", addr)
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		s, err := b.Dial(ctxT(t), "tcp", addr)
		if err != nil {
			ref.Close()
			ln.Close()
			t.Fatal(err)
		}
		if got, want := s.RemoteAddr().String(), ref.RemoteAddr().String(); got != want {
			t.Errorf("Dial %s: RemoteAddr = %s; net.Dial's is %s", addr, got, want)
		}
		s.Close()
		ref.Close()
		ln.Close()
	}
}

// net.TCPConn.Read with an empty buffer returns 0, nil without looking at
// the deadline (internal/poll.FD.Read); epoll returned a timeout.
func TestZeroLengthReadPastDeadline(t *testing.T) {
	b := openBackend(t, "")
	defer b.Close()
	s, _ := pair(t, b)
	s.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) past the deadline = %d, %v; net.TCPConn gives 0, nil (deadline exceeded: %v)", n, err, errors.Is(err, os.ErrDeadlineExceeded))
	}
}
