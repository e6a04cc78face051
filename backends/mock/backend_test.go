package mock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// dialErr checks err is the *transport.OpError of a dial of address on
// network and returns it.
func dialErr(t *testing.T, err error, network, address string) *transport.OpError {
	t.Helper()
	var oe *transport.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("Dial error %v (%T) is not a *transport.OpError", err, err)
	}
	if oe.Op != "dial" || oe.Backend != Name || oe.Network != network || oe.Address != address {
		t.Fatalf("Dial error %+v does not say dial %s %s by %s", oe, network, address, Name)
	}
	return oe
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(registry.Names(), Name) {
		t.Fatalf("registry names %v lack %q", registry.Names(), Name)
	}
	tb, err := registry.Open(Name, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	b, ok := tb.(*Backend)
	if !ok {
		t.Fatalf("registry opened a %T, want *mock.Backend", tb)
	}
	// No configuration: every address is refused.
	_, err = b.Dial(t.Context(), "tcp", "example.com:80")
	oe := dialErr(t, err, "tcp", "example.com:80")
	if !errors.Is(oe, syscall.ECONNREFUSED) || oe.Timeout() {
		t.Fatalf("Dial to an unconfigured address: %v, want ECONNREFUSED", err)
	}
	b.Handle("example.com:80", ScriptPeer())
	s, err := b.Dial(t.Context(), "tcp", "example.com:80")
	if err != nil {
		t.Fatalf("Dial once configured: %v", err)
	}
	s.Close()
}

func TestOpenConfig(t *testing.T) {
	for _, cfg := range []string{"", " ", "{}", " { } "} {
		b, err := Open(transport.Options{Config: json.RawMessage(cfg)})
		if err != nil {
			t.Errorf("Open with config %q: %v", cfg, err)
			continue
		}
		b.Close()
	}
	for _, cfg := range []string{`{"peers": 1}`, `[`, `3`} {
		if _, err := Open(transport.Options{Config: json.RawMessage(cfg)}); err == nil {
			t.Errorf("Open with config %q succeeded, want an error", cfg)
		}
	}
	if _, err := registry.Open(Name, transport.Options{Config: json.RawMessage(`{"x":1}`)}); err == nil {
		t.Error("registry.Open with an unknown setting succeeded")
	}
}

func TestName(t *testing.T) {
	if got := New().Name(); got != "mock" {
		t.Fatalf("Name = %q", got)
	}
}

func TestNetworks(t *testing.T) {
	b := newBackend(t)
	b.Handle("example.com:80", ScriptPeer())
	b.Handle("/tmp/mock.sock", ScriptPeer())
	for _, n := range []string{"tcp", "tcp4", "tcp6"} {
		s, err := b.Dial(t.Context(), n, "example.com:80")
		if err != nil {
			t.Fatalf("Dial %s: %v", n, err)
		}
		if s.RemoteAddr().Network() != n {
			t.Errorf("RemoteAddr network %q, want %q", s.RemoteAddr().Network(), n)
		}
		s.Close()
	}
	s, err := b.Dial(t.Context(), "unix", "/tmp/mock.sock")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, n := range []string{"udp", "ip", ""} {
		_, err := b.Dial(t.Context(), n, "example.com:80")
		oe := dialErr(t, err, n, "example.com:80")
		if !errors.Is(oe, transport.ErrUnsupported) || !errors.Is(oe, errors.ErrUnsupported) {
			t.Errorf("Dial %q: %v, want ErrUnsupported", n, err)
		}
	}
	conns := b.Conns()
	if len(conns) != 4 || conns[3].Network() != "unix" || conns[3].Address() != "/tmp/mock.sock" || conns[0].Network() != "tcp" {
		t.Fatalf("Conns recorded %d connections (last %v)", len(conns), conns[len(conns)-1])
	}
}

func TestDialCanceledBefore(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := b.Dial(ctx, "tcp", "a:1")
	if !errors.Is(dialErr(t, err, "tcp", "a:1"), context.Canceled) {
		t.Fatalf("Dial with a canceled context: %v", err)
	}
	if len(b.Conns()) != 0 {
		t.Fatal("a canceled Dial made a connection")
	}
}

func TestBadAddressesAreRefused(t *testing.T) {
	b := newBackend(t)
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "[::1:80", ""} {
		_, err := b.Dial(t.Context(), "tcp", addr)
		if !errors.Is(dialErr(t, err, "tcp", addr), syscall.ECONNREFUSED) {
			t.Errorf("Dial(%q): %v, want ECONNREFUSED", addr, err)
		}
	}
}

func TestBackendClose(t *testing.T) {
	b := New()
	b.Handle("a:1", ScriptPeer(Send("hi")))
	echoed := make(chan struct{})
	b.Handle("echo:1", FuncPeer(func(c net.Conn) {
		defer close(echoed)
		io.Copy(c, c)
	}))
	s := dial(t, b, "a:1")
	e := dial(t, b, "echo:1")
	blocked := make(chan error, 1)
	go func() {
		_, err := e.Read(make([]byte, 1))
		blocked <- err
	}()
	within(t, func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Close waited for the FuncPeer.
	select {
	case <-echoed:
	default:
		t.Fatal("Close returned before the FuncPeer did")
	}
	if err := <-blocked; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read blocked across Close: %v, want net.ErrClosed", err)
	}
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
	if !transport.IsClosed(s) {
		t.Fatal("stream not closed by the backend's Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := b.Dial(t.Context(), "tcp", "a:1")
	if !errors.Is(dialErr(t, err, "tcp", "a:1"), net.ErrClosed) {
		t.Fatalf("Dial after Close: %v, want net.ErrClosed", err)
	}
}

// TestCloseEndsDelayedDial: Close ends a Dial waiting out a Delay fault.
// In a synctest bubble, synctest.Wait tells when the Dial waits.
func TestCloseEndsDelayedDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New()
		b.Handle("slow:1", ScriptPeer(), Delay(time.Hour))
		errc := make(chan error, 1)
		go func() {
			_, err := b.Dial(context.Background(), "tcp", "slow:1")
			errc <- err
		}()
		synctest.Wait() // the Dial is waiting out its delay
		b.Close()
		select {
		case err := <-errc:
			if !errors.Is(dialErr(t, err, "tcp", "slow:1"), net.ErrClosed) {
				t.Fatalf("Dial across Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Dial still waiting out its Delay after Close")
		}
	})
}

func TestOptions(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5555}
	b, err := Open(transport.Options{ConnectTimeout: 20 * time.Millisecond, LocalAddr: local})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Handle("slow:1", ScriptPeer(), Delay(time.Hour))
	b.Handle("fast:1", ScriptPeer())
	start := time.Now()
	_, err = b.Dial(context.Background(), "tcp", "slow:1")
	oe := dialErr(t, err, "tcp", "slow:1")
	if !oe.Timeout() || !errors.Is(oe, os.ErrDeadlineExceeded) {
		t.Fatalf("Dial past ConnectTimeout: %v, want a timeout", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("Dial timed out before ConnectTimeout")
	}
	s, err := b.Dial(context.Background(), "tcp", "fast:1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LocalAddr() != local {
		t.Fatalf("LocalAddr = %v, want Options.LocalAddr %v", s.LocalAddr(), local)
	}
}

func TestHandleReplaces(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(Send("one")))
	s1 := dial(t, b, "a:1")
	b.Handle("a:1", ScriptPeer(Send("two")))
	s2 := dial(t, b, "a:1")
	for i, s := range []transport.Stream{s1, s2} {
		buf := make([]byte, 8)
		n, err := s.Read(buf)
		if want := []string{"one", "two"}[i]; err != nil || string(buf[:n]) != want {
			t.Errorf("connection %d read %q, %v; want %q", i, buf[:n], err, want)
		}
	}
	b.Handle("a:1", nil, Fault{}, Refuse())
	if _, err := b.Dial(t.Context(), "tcp", "a:1"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial after Handle with Refuse: %v", err)
	}
}

func TestNilPeerStalls(t *testing.T) {
	b := newBackend(t)
	b.Handle("quiet:1", nil)
	s := dial(t, b, "quiet:1")
	c := b.Conns()[0]
	select {
	case <-c.Done():
	default:
		t.Fatal("Done of a connection nobody answers is not closed")
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read from a nil peer: %v, want a timeout", err)
	}
}
