package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// serverConfig offers h2 and http/1.1. Session tickets are off: a TLS 1.3
// server sends them after the handshake, and bytes the client has not read
// yet make a quiet stream readable.
func serverConfig() *tls.Config {
	return &tls.Config{
		Certificates:           []tls.Certificate{certs.Server},
		NextProtos:             []string{"h2", "http/1.1"},
		SessionTicketsDisabled: true,
	}
}

func clientConfig(protos ...string) *tls.Config {
	return &tls.Config{RootCAs: certs.Roots, NextProtos: protos}
}

// certs are the tests' CA and server certificate (127.0.0.1, ::1,
// localhost).
var certs = func() *testenv.Certs {
	c, err := testenv.NewCerts()
	if err != nil {
		panic(err)
	}
	return c
}()

func newBackend(t testing.TB) transport.Backend {
	t.Helper()
	b, err := stdnet.Open(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// tlsServer accepts one connection on a loopback listener and runs the
// server handshake; the connection comes out on the returned channel.
func tlsServer(t *testing.T, cfg *tls.Config) (string, <-chan *tls.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *tls.Conn, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		tc.Handshake() // failures are the client's to report
		tc.SetDeadline(time.Time{})
		out <- tc
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for c := range out {
			c.Close()
		}
	})
	return ln.Addr().String(), out
}

// closeServer waits for the server's connection and closes it.
func closeServer(conns <-chan *tls.Conn) {
	if c := <-conns; c != nil {
		c.Close()
	}
}

// tlsPipe makes TLS pairs over stdnet streams: c1 from StartTLS, c2 the
// crypto/tls server.
func tlsPipe(b transport.Backend) transporttest.MakePipe {
	return func() (transport.Stream, net.Conn, func(), error) {
		raw, peer, stop, err := transporttest.TCPPipe(b)()
		if err != nil {
			return nil, nil, nil, err
		}
		srv := tls.Server(peer, serverConfig())
		srvErr := make(chan error, 1)
		go func() { srvErr <- srv.Handshake() }()
		cfg := clientConfig("h2")
		cfg.ServerName = "127.0.0.1"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := transport.StartTLS(ctx, raw, cfg)
		if err2 := <-srvErr; err == nil {
			err = err2
		}
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		return s, srv, func() { s.Close(); srv.Close(); stop() }, nil
	}
}

func TestDialTLSNegotiatesALPN(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := newBackend(t)
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"h2", "http/1.1"}, "h2"},
		{[]string{"http/1.1"}, "http/1.1"},
		{nil, ""},
	} {
		addr, conns := tlsServer(t, serverConfig())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := transport.DialTLS(ctx, b, "tcp", addr, clientConfig(tc.offer...))
		cancel()
		if err != nil {
			t.Fatalf("DialTLS offering %v: %v", tc.offer, err)
		}
		if got := transport.NegotiatedProtocol(s); got != tc.want {
			t.Errorf("offering %v negotiated %q, want %q", tc.offer, got, tc.want)
		}
		v, ok := s.Info(transport.InfoTLS)
		state, isState := v.(tls.ConnectionState)
		if !ok || !isState || !state.HandshakeComplete || state.NegotiatedProtocol != tc.want {
			t.Errorf("Info(InfoTLS) = %#v, %v; want a completed handshake", v, ok)
		}
		if v, _ := s.Info(transport.InfoBackend); v != stdnet.Name {
			t.Errorf("Info(InfoBackend) = %v, want it from the raw stream", v)
		}
		nc, ok := s.(interface{ NetConn() net.Conn })
		if !ok || nc.NetConn() == nil {
			t.Errorf("TLS stream does not expose its raw stream through NetConn")
		} else if _, isStream := nc.NetConn().(transport.Stream); !isStream {
			t.Errorf("NetConn is a %T, want the raw Stream", nc.NetConn())
		}
		s.Close()
		closeServer(conns)
	}
}

func TestDialTLSKeepsConfig(t *testing.T) {
	b := newBackend(t)
	addr, conns := tlsServer(t, serverConfig())
	cfg := clientConfig("h2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := transport.DialTLS(ctx, b, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	closeServer(conns)
	if cfg.ServerName != "" {
		t.Fatalf("DialTLS set ServerName %q on the caller's config", cfg.ServerName)
	}
}

func TestDialTLSNilConfigVerifies(t *testing.T) {
	// With a nil config, the system roots are used and the test
	// certificate is rejected.
	b := newBackend(t)
	addr, conns := tlsServer(t, serverConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := transport.DialTLS(ctx, b, "tcp", addr, nil)
	closeServer(conns)
	var oe *transport.OpError
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &oe) || oe.Op != "tls" || !errors.As(err, &verr) {
		t.Fatalf("DialTLS with a nil config to a self-signed server = %v; want a tls OpError with a verification error", err)
	}
	if oe.Backend != stdnet.Name || oe.Network != "tcp" || oe.Address != addr {
		t.Errorf("OpError = %+v; want Backend stdnet, Network tcp, Address %s", oe, addr)
	}
}

func TestDialTLSDialFails(t *testing.T) {
	b := newBackend(t)
	b.Close()
	_, err := transport.DialTLS(context.Background(), b, "tcp", "127.0.0.1:1", clientConfig())
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("DialTLS on a closed backend = %v, want net.ErrClosed", err)
	}
}

func TestDialTLSAddressWithoutPort(t *testing.T) {
	// The host part cannot be split off, so ServerName is the whole
	// address; the dial itself then fails on the missing port.
	b := newBackend(t)
	fake := &tlsDialerBackend{Backend: b}
	_, err := transport.DialTLS(context.Background(), fake, "tcp", "localhost", nil)
	if !errors.Is(err, errRecorded) || fake.cfg.ServerName != "localhost" {
		t.Fatalf("DialTLS = %v with ServerName %q; want the TLSDialer called with ServerName localhost", err, fake.cfg.ServerName)
	}
}

var errRecorded = errors.New("recorded")

// tlsDialerBackend does its own TLS: it records the config it was given.
type tlsDialerBackend struct {
	transport.Backend
	cfg *tls.Config
}

func (d *tlsDialerBackend) DialTLS(ctx context.Context, network, address string, cfg *tls.Config) (transport.Stream, error) {
	d.cfg = cfg
	return nil, errRecorded
}

func TestDialTLSUsesTLSDialer(t *testing.T) {
	fake := &tlsDialerBackend{Backend: newBackend(t)}
	cfg := &tls.Config{ServerName: "example.test"}
	_, err := transport.DialTLS(context.Background(), fake, "tcp", "127.0.0.1:443", cfg)
	if !errors.Is(err, errRecorded) || fake.cfg != cfg {
		t.Fatalf("DialTLS = %v; want the backend's own DialTLS called with the caller's config", err)
	}
}

func TestStartTLSNilConfig(t *testing.T) {
	b := newBackend(t)
	raw, _, stop, err := transporttest.TCPPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, err = transport.StartTLS(context.Background(), raw, nil)
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "tls" {
		t.Fatalf("StartTLS(nil) = %v, want a tls OpError", err)
	}
	if !transport.IsClosed(raw) {
		t.Fatal("StartTLS failed without closing the raw stream")
	}
}

func TestStartTLSContext(t *testing.T) {
	// A server that never answers the ClientHello.
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"Deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, os.ErrDeadlineExceeded},
		{"Cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			stop := time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, func() { stop.Stop(); cancel() }
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			transporttest.VerifyNoLeaks(t)
			b := newBackend(t)
			raw, _, stop, err := transporttest.TCPPipe(b)()
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			ctx, cancel := tc.ctx()
			defer cancel()
			cfg := clientConfig()
			cfg.ServerName = "127.0.0.1"
			_, err = transport.StartTLS(ctx, raw, cfg)
			var oe *transport.OpError
			if !errors.As(err, &oe) || oe.Op != "tls" || !errors.Is(err, tc.want) {
				t.Fatalf("StartTLS = %v, want a tls OpError matching %v", err, tc.want)
			}
			if tc.want == os.ErrDeadlineExceeded && !oe.Timeout() {
				t.Fatalf("StartTLS past its deadline = %v, not a timeout", err)
			}
		})
	}
}

func TestTLSCloseWriteFailsOnDeadRaw(t *testing.T) {
	s, c2, stop, err := tlsPipe(newBackend(t))()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_ = c2
	raw := s.(interface{ NetConn() net.Conn }).NetConn()
	raw.Close()
	if err := s.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("CloseWrite over a closed raw stream = %v, want net.ErrClosed", err)
	}
}

func TestTLSIsReadable(t *testing.T) {
	s, c2, stop, err := tlsPipe(newBackend(t))()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if s.IsReadable() {
		t.Fatal("quiet TLS stream is readable")
	}
	go c2.Write([]byte("x"))
	testenv.Eventually(t, 10*time.Second, s.IsReadable) // once the peer wrote
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(io.LimitReader(s, 1)); err != nil || string(b) != "x" {
		t.Fatalf("read %q, %v", b, err)
	}
}
