package stdnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

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
		b, err := stdnet.Open(transport.Options{Config: []byte(cfg)})
		if err != nil {
			t.Errorf("New with Config %q: %v", cfg, err)
			continue
		}
		b.Close()
	}
	for _, cfg := range []string{`{"buffer":1}`, `[1]`, `{`} {
		_, err := stdnet.Open(transport.Options{Config: []byte(cfg)})
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

// unixPair dials a unix socket listener through b and returns both ends.
func unixPair(t *testing.T, b transport.Backend) (transport.Stream, net.Conn) {
	t.Helper()
	c1, c2, stop, err := transporttest.UnixPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return c1, c2
}

func TestUnixLocalAddr(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	dir, err := os.MkdirTemp("", "tks")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	local := &net.UnixAddr{Name: filepath.Join(dir, "client"), Net: "unix"}
	b := newBackendWith(t, transport.Options{LocalAddr: local})
	defer b.Close()
	c1, c2 := unixPair(t, b)
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
	b := newBackendWith(t, transport.Options{DisableNoDelay: true})
	defer b.Close()
	c1, c2 := unixPair(t, b)
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

// TestStreamErrorsAreOpErrors checks the contract's one error shape:
// every failure of a stream operation is a *transport.OpError naming the
// backend, with the cause reachable by errors.Is.
func TestStreamErrorsAreOpErrors(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := newBackend(t)
	defer b.Close()
	s, peer := pair(t, b)
	check := func(what string, err error, cause error) {
		t.Helper()
		var oe *transport.OpError
		if !errors.As(err, &oe) || oe.Backend != stdnet.Name || oe.Address != peer.LocalAddr().String() {
			t.Errorf("%s: %#v, want a *transport.OpError of %s naming the peer", what, err, stdnet.Name)
			return
		}
		var ne *net.OpError
		if errors.As(err, &ne) {
			t.Errorf("%s: %v still holds a *net.OpError", what, err)
		}
		if !errors.Is(err, cause) {
			t.Errorf("%s: %v does not match %v", what, err, cause)
		}
	}

	s.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := s.Read(make([]byte, 1))
	check("read past deadline", err, os.ErrDeadlineExceeded)
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read past deadline: %v is not a timeout matching context.DeadlineExceeded", err)
	}
	s.SetReadDeadline(time.Time{})

	peer.Write([]byte("x"))
	peer.Close()
	buf := make([]byte, 8)
	if n, err := s.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v; want the byte", n, err)
	}
	if _, err := s.Read(buf); err != io.EOF {
		t.Errorf("Read at EOF = %v, want io.EOF itself", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Write([]byte("x"))
	check("write after close", err, net.ErrClosed)
	check("second close", s.Close(), net.ErrClosed)
	check("close write after close", s.CloseWrite(), net.ErrClosed)
	check("deadline after close", s.SetDeadline(time.Now()), net.ErrClosed)
	check("read deadline after close", s.SetReadDeadline(time.Now()), net.ErrClosed)
	check("write deadline after close", s.SetWriteDeadline(time.Now()), net.ErrClosed)
}
