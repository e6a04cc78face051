package testenv

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// echoServer echoes on loopback until cleanup.
func echoServer(t *testing.T) string {
	return Serve(t, nil, func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
	})
}

func TestServe(t *testing.T) {
	// A handler that returns at once leaves the connection open until
	// cleanup.
	silent := Serve(t, nil, func(net.Conn) {})
	c, err := net.Dial("tcp", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from the silent server: %v, want a timeout", err)
	}
	// Cleanup closes the connections, which ends their handlers.
	started, ended := make(chan struct{}), make(chan struct{})
	var addr string
	t.Run("cleanup", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = Serve(t, ln, func(c net.Conn) {
			defer close(ended)
			close(started)
			c.Read(make([]byte, 1))
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// The subtest ends once the handler runs (a connection still in
		// the accept queue at cleanup has no handler to end).
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler never started")
		}
	})
	select {
	case <-ended:
	default:
		t.Fatal("the handler still runs after cleanup")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the listener still accepts after cleanup")
	}
	old := listen
	listen = func() (net.Listener, error) { return nil, errors.New("no ports") }
	defer func() { listen = old }()
	if fatal, _ := capture(t, func(tb testing.TB) { Serve(tb, nil, nil) }); !strings.Contains(fatal, "no ports") {
		t.Errorf("Serve without a port: %q", fatal)
	}
}

func TestTLSRelay(t *testing.T) {
	r := StartTLSRelay(t, echoServer(t), nil)
	cfg := SharedCerts(t).ClientConfig()
	c, err := tls.Dial("tcp", r.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("relayed")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "relayed" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// Half-close: the echo ends, and so does the relayed connection.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after CloseWrite: %q, %v", rest, err)
	}

	// A connection open when the relay closes is closed with it.
	c2, err := tls.Dial("tcp", r.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("x"))
	io.ReadFull(c2, buf[:1])
	r.Close()
	r.Close() // idempotent
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(buf); err == nil {
		t.Fatal("read after relay Close succeeded")
	}
	if _, err := tls.Dial("tcp", r.Addr, cfg); err == nil {
		t.Fatal("dial after relay Close succeeded")
	}
}

func TestTLSRelayDeadTarget(t *testing.T) {
	r := StartTLSRelay(t, FreePort(t), SharedCerts(t).ServerConfig())
	c, err := tls.Dial("tcp", r.Addr, SharedCerts(t).ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a relay whose target refuses succeeded")
	}
}

func TestDialTLSPair(t *testing.T) {
	certs := SharedCerts(t)
	c, s, err := DialTLSPair(certs.ServerConfig("h2"), func(addr string) (*tls.Conn, error) {
		cfg := certs.ClientConfig()
		cfg.NextProtos = []string{"h2"}
		return tls.Dial("tcp", addr, cfg)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer s.Close()
	if p := s.ConnectionState().NegotiatedProtocol; p != "h2" || !c.ConnectionState().HandshakeComplete {
		t.Errorf("server ALPN %q, client handshake done %v", p, c.ConnectionState().HandshakeComplete)
	}
	go s.Write([]byte("pair"))
	buf := make([]byte, 4)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pair" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// dial fails without connecting.
	errDial := errors.New("no dial")
	if _, s, err := DialTLSPair(certs.ServerConfig(), func(string) (net.Conn, error) { return nil, errDial }); !errors.Is(err, errDial) || s != nil {
		t.Errorf("failed dial: %v, %v", s, err)
	}
	// The same with a pointer type: a failed dial's typed nil is not
	// closed (calling Close on a nil *tls.Conn panics).
	if _, s, err := DialTLSPair(certs.ServerConfig(), func(string) (*tls.Conn, error) { return nil, errDial }); !errors.Is(err, errDial) || s != nil {
		t.Errorf("failed dial of a *tls.Conn: %v, %v", s, err)
	}
	// The client connects but speaks no TLS: the server's handshake
	// fails, and the client's end is closed.
	var plain net.Conn
	_, _, err = DialTLSPair(certs.ServerConfig(), func(addr string) (net.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			plain = c
			c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		}
		return c, err
	})
	if err == nil {
		t.Fatal("a client that speaks no TLS made a pair")
	}
	if _, err := plain.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the client's end is still open: %v", err)
	}
	old := listen
	listen = func() (net.Listener, error) { return nil, errors.New("no ports") }
	defer func() { listen = old }()
	if _, _, err := DialTLSPair(certs.ServerConfig(), func(string) (net.Conn, error) { return nil, nil }); err == nil {
		t.Error("DialTLSPair without a port succeeded")
	}
}
