//go:build linux

package plugins_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// direct is the DialerBackend of Direct: what a plugin that dials
// directly serves.
func direct(opts transport.Options) transport.Backend {
	return plugins.DialerBackend("direct", opts, plugins.Direct(opts))
}

func TestDialerBackendSuites(t *testing.T) {
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend { return direct(transport.Options{}) })
	b := direct(transport.Options{})
	t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
	t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
	transporttest.TestOptions(t, func(opts transport.Options) (transport.Backend, error) { return direct(opts), nil })
}

// tlsPipe makes TLS pairs: the client's *tls.Conn through NewStream, the
// server's conn as the peer.
func tlsPipe(t *testing.T) transporttest.MakePipe {
	cert := testenv.SharedCerts(t).Server
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	return func() (transport.Stream, net.Conn, func(), error) {
		// C is net.Conn, not *tls.Conn: a failed dial returns a nil
		// interface, which DialTLSPair does not try to close.
		c, peer, err := testenv.DialTLSPair(srvCfg, func(addr string) (net.Conn, error) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			tc.SetDeadline(time.Now().Add(waitLimit))
			err = tc.Handshake()
			tc.SetDeadline(time.Time{})
			return tc, err
		})
		if err != nil {
			return nil, nil, nil, err
		}
		s := plugins.NewStream(c, "tls")
		return s, peer, func() { s.Close(); peer.Close() }, nil
	}
}

func TestNewStream(t *testing.T) {
	sb, err := stdnet.Open(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// A Stream given to NewStream keeps its own answers.
	wrapped := plugins.DialerBackend("wrapped", transport.Options{}, func(ctx context.Context, network, address string) (net.Conn, error) {
		return sb.Dial(ctx, network, address)
	})
	t.Run("stream", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(wrapped)) })

	s, peer, stop, err := tlsPipe(t)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if alpn, _ := s.Info(transport.InfoALPN); alpn != "h2" {
		t.Errorf("InfoALPN = %v, want h2", alpn)
	}
	if cs, ok := s.Info(transport.InfoTLS); !ok || !cs.(tls.ConnectionState).HandshakeComplete {
		t.Errorf("InfoTLS = %v, %v", cs, ok)
	}
	if _, ok := s.Info(transport.InfoFD); ok {
		t.Error("a *tls.Conn's stream answers InfoFD")
	}
	// IsReadable looks at the socket under the TLS layer.
	s.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 8)
	peer.SetWriteDeadline(time.Now().Add(waitLimit))
	io.WriteString(peer, "abc")
	if !eventuallyTrue(s.IsReadable) {
		t.Fatal("IsReadable never became true")
	}
	if n, err := io.ReadFull(s, buf[:3]); string(buf[:n]) != "abc" || err != nil {
		t.Errorf("read %q, %v; want abc", buf[:n], err)
	}
	// A conn without CloseWrite cannot half-close.
	c1, c2 := net.Pipe()
	defer c2.Close()
	p := plugins.NewStream(c1, "pipe")
	if err := p.CloseWrite(); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("CloseWrite of a net.Pipe: %v, want ErrUnsupported", err)
	}
	if _, ok := p.Info(transport.InfoTLS); ok {
		t.Error("a pipe answers InfoTLS")
	}
	go func() { c2.Write([]byte("x")); c2.Close() }()
	if !eventuallyTrue(p.IsReadable) {
		t.Error("IsReadable of a pipe with a byte waiting stayed false")
	}
	if b, err := io.ReadAll(p); string(b) != "x" || err != nil {
		t.Errorf("read %q, %v after the probe; want x", b, err)
	}
	// The probe keeps an end it found for the next Read.
	c3, c4 := net.Pipe()
	q := plugins.NewStream(lenient{c3}, "pipe")
	defer q.Close()
	readDone := make(chan error, 1)
	go func() {
		_, err := q.Read(make([]byte, 1))
		readDone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if q.IsReadable() {
		t.Error("IsReadable is true while a Read waits on a quiet pipe")
	}
	c4.Write([]byte("y"))
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	c4.Close()
	if !eventuallyTrue(q.IsReadable) || !q.IsReadable() {
		t.Error("IsReadable is false at EOF")
	}
	if _, err := q.Read(buf); err != io.EOF {
		t.Errorf("Read at EOF: %v", err)
	}
	p.Close()
	if _, ok := p.Info(transport.InfoFD); ok {
		t.Error("InfoFD of a closed stream")
	}
}

// eventuallyTrue polls f for a few seconds.
func eventuallyTrue(f func() bool) bool {
	deadline := time.Now().Add(waitLimit)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// conns is a DialFunc's record of its calls.
type conns struct {
	mu        sync.Mutex
	addresses []string
	traced    bool
}

func TestDialerBackendDial(t *testing.T) {
	ln := listenTCP(t)
	echoServer(t, ln)
	var rec conns
	b := plugins.DialerBackend("rec", transport.Options{}, func(ctx context.Context, network, address string) (net.Conn, error) {
		rec.mu.Lock()
		rec.addresses = append(rec.addresses, address)
		rec.traced = rec.traced || httptrace.ContextClientTrace(ctx) == nil
		rec.mu.Unlock()
		return plugins.Direct(transport.Options{})(ctx, network, ln.Addr().String())
	})
	var ev events
	ctx := ev.context(dialCtx(t))
	s, err := b.Dial(ctx, "tcp", "localhost:http")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec.addresses[0] != "localhost:80" || rec.traced {
		t.Errorf("the dial function got %q (trace lost: %v), want localhost:80 and the caller's context", rec.addresses, rec.traced)
	}
	// Direct's connect to the listener is not the caller's.
	if ev.String() != "connect tcp localhost:http; connected tcp localhost:http false" {
		t.Errorf("trace events %q, want the connect to the address asked for only", ev.String())
	}
	if a := s.RemoteAddr(); a.Network() != "tcp" || a.String() != "localhost:http" {
		t.Errorf("RemoteAddr = %s %s, want the name dialed", a.Network(), a)
	}
	if _, err := b.Dial(ctx, "unix", ""); err == nil {
		t.Error("an empty unix path was dialed")
	}
}

// timeoutErr is a net.Error timeout that is not transport's.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "proxy timed out" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestDialerBackendErrors(t *testing.T) {
	ln := listenTCP(t)
	silentServer(t, ln)
	addr := ln.Addr().String()
	dialWith := func(f plugins.DialFunc) error {
		_, err := plugins.DialerBackend("e", transport.Options{}, f).Dial(dialCtx(t), "tcp", addr)
		return err
	}
	if err := dialWith(func(context.Context, string, string) (net.Conn, error) { return nil, nil }); err == nil {
		t.Error("a dial function returning nothing made a stream")
	}
	var timedOut error = timeoutErr{}
	err := dialWith(func(context.Context, string, string) (net.Conn, error) { return nil, timedOut })
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, timedOut) {
		t.Errorf("a dial function's timeout: %v, want it to match the timeouts and itself", err)
	}
	var oe *transport.OpError
	if !errors.As(err, &oe) || !oe.Timeout() || !strings.Contains(oe.Error(), "proxy timed out") {
		t.Errorf("a dial function's timeout: %v", err)
	}
	inner := &transport.OpError{Op: "dial", Backend: "other", Err: syscall.ECONNREFUSED}
	err = dialWith(func(context.Context, string, string) (net.Conn, error) { return nil, inner })
	if !errors.As(err, &oe) || oe.Backend != "e" || oe.Err != syscall.ECONNREFUSED {
		t.Errorf("a dial function's OpError: %#v, want its cause under this backend's OpError", err)
	}
	// A conn returned with an error is closed.
	var returned net.Conn
	err = dialWith(func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := net.Dial(network, address)
		returned = c
		return c, errors.Join(err, syscall.EACCES)
	})
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("Dial: %v", err)
	}
	if _, err := returned.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the conn returned with an error is still open: %v", err)
	}
}

// TestDialerBackendAbort: when the context ends while the dial function
// waits on a connection Direct made, the connection is closed, and the
// Dial fails with the context's error at once.
func TestDialerBackendAbort(t *testing.T) {
	ln := listenTCP(t)
	silentServer(t, ln)
	var (
		mu   sync.Mutex
		made []net.Conn
	)
	d := plugins.Direct(transport.Options{})
	b := plugins.DialerBackend("abort", transport.Options{ConnectTimeout: 100 * time.Millisecond}, func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := d(ctx, network, address)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		made = append(made, c)
		mu.Unlock()
		_, err = c.Read(make([]byte, 1)) // the silent server never answers
		return c, err
	})
	start := time.Now()
	_, err := b.Dial(context.Background(), "tcp", ln.Addr().String())
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > waitLimit {
		t.Errorf("Dial past ConnectTimeout: %v after %v, want a timeout", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := b.Dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial canceled: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range made {
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("a connection of an aborted dial is open: %v", err)
		}
	}
	// A connection made after the abort is closed at once.
	late := plugins.DialerBackend("late", transport.Options{}, func(ctx context.Context, network, address string) (net.Conn, error) {
		<-ctx.Done()
		c, err := d(context.WithoutCancel(ctx), network, address)
		if err == nil {
			_, err = c.Write([]byte("x"))
		}
		return nil, err
	})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := late.Dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("late Dial: %v", err)
	}
}

// lenient is a conn whose read deadline can always be set, even once the
// peer is gone (net.Pipe refuses then).
type lenient struct{ net.Conn }

func (l lenient) SetReadDeadline(t time.Time) error {
	l.Conn.SetReadDeadline(t)
	return nil
}
