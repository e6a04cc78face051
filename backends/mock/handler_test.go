package mock

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// protoHandler answers with the request's protocol and TLS state.
var protoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	alpn := "-"
	if r.TLS != nil {
		alpn = r.TLS.NegotiatedProtocol
	}
	fmt.Fprintf(w, "%s %s %s", r.Proto, alpn, r.URL.Path)
})

// client returns an http.Client that dials through b, speaking protos
// in clear text (if non-nil) and trusting the test certificate.
func client(t *testing.T, b *Backend, protos *http.Protocols) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.Dial(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: RootCAs()},
		ForceAttemptHTTP2: true,
		Protocols:         protos,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return string(body)
}

func protocols(h1, h2c bool) *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(h1)
	p.SetUnencryptedHTTP2(h2c)
	return &p
}

func TestFuncPeer(t *testing.T) {
	b := newBackend(t)
	b.Handle("echo:7", FuncPeer(func(c net.Conn) {
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
	}))
	s := dial(t, b, "echo:7")
	s.Write([]byte("ping"))
	// The peer's end is closed when the function returns: EOF follows.
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "ping" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	select {
	case <-b.Conns()[0].Done():
	case <-time.After(waitLimit):
		t.Fatal("Done not closed after the function returned")
	}
}

func TestHandlerPeerHTTP1(t *testing.T) {
	b := newBackend(t)
	b.Handle("example.com:80", HandlerPeer(protoHandler, 0))
	c := client(t, b, nil)
	for _, path := range []string{"/a", "/b"} {
		if got, want := get(t, c, "http://example.com"+path), "HTTP/1.1 - "+path; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if n := len(b.Conns()); n != 1 {
		t.Fatalf("%d connections for two requests, want 1 kept alive", n)
	}
	// The server lets the connection go once the client closes it.
	c.CloseIdleConnections()
	select {
	case <-b.Conns()[0].Done():
	case <-time.After(waitLimit):
		t.Fatal("server still holds the closed connection")
	}
}

func TestHandlerPeerH2C(t *testing.T) {
	b := newBackend(t)
	b.Handle("h2c:80", HandlerPeer(protoHandler, H2C))
	b.Handle("both:80", HandlerPeer(protoHandler, HTTP1|H2C))

	h2 := client(t, b, protocols(false, true))
	if got := get(t, h2, "http://h2c:80/x"); got != "HTTP/2.0 - /x" {
		t.Fatalf("h2c: got %q", got)
	}
	if got := get(t, h2, "http://both:80/y"); got != "HTTP/2.0 - /y" {
		t.Fatalf("h2c to HTTP1|H2C: got %q", got)
	}
	if got := get(t, client(t, b, nil), "http://both:80/z"); got != "HTTP/1.1 - /z" {
		t.Fatalf("HTTP/1.1 to HTTP1|H2C: got %q", got)
	}
	// An h2c-only server hangs up on HTTP/1.1.
	if _, err := client(t, b, nil).Get("http://h2c:80/"); err == nil {
		t.Fatal("HTTP/1.1 request to an H2C-only server succeeded")
	}
}

func TestTLSHandlerPeer(t *testing.T) {
	b := newBackend(t)
	b.Handle("example.com:443", TLSHandlerPeer(protoHandler, nil))
	b.Handle("h1.example.com:443", TLSHandlerPeer(protoHandler, &tls.Config{NextProtos: []string{"http/1.1"}}))
	c := client(t, b, nil)
	if got := get(t, c, "https://example.com/s"); got != "HTTP/2.0 h2 /s" {
		t.Fatalf("got %q, want HTTP/2 over TLS", got)
	}
	if got := get(t, c, "https://h1.example.com/s"); got != "HTTP/1.1 http/1.1 /s" {
		t.Fatalf("got %q, want HTTP/1.1 over TLS", got)
	}

	// transport.DialTLS runs a real handshake with this peer.
	for _, tc := range []struct {
		addr string
		want string
	}{{"example.com:443", "h2"}, {"h1.example.com:443", "http/1.1"}} {
		s, err := transport.DialTLS(t.Context(), b, "tcp", tc.addr, &tls.Config{RootCAs: RootCAs(), NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("DialTLS %s: %v", tc.addr, err)
		}
		if p := transport.NegotiatedProtocol(s); p != tc.want {
			t.Errorf("DialTLS %s: ALPN %q, want %q", tc.addr, p, tc.want)
		}
		s.Close()
	}
	// Without the test roots the certificate is refused.
	if _, err := transport.DialTLS(t.Context(), b, "tcp", "example.com:443", nil); err == nil {
		t.Fatal("DialTLS trusted the test certificate without RootCAs")
	}
}

func TestTLSFuncPeer(t *testing.T) {
	b := newBackend(t)
	b.Handle("example.org:443", FuncPeer(func(c net.Conn) {
		cfg := ServerTLSConfig()
		cfg.NextProtos = []string{"x-test"}
		tc := tls.Server(c, cfg)
		if tc.Handshake() == nil {
			tc.Write([]byte("secret"))
		}
		tc.Close()
	}))
	s, err := transport.DialTLS(t.Context(), b, "tcp", "example.org:443", &tls.Config{RootCAs: RootCAs(), NextProtos: []string{"x-test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "secret" || transport.NegotiatedProtocol(s) != "x-test" {
		t.Fatalf("ReadAll = %q, %v, ALPN %q", got, err, transport.NegotiatedProtocol(s))
	}
	// Written holds the encrypted bytes, not the plain ones.
	if len(b.Conns()[0].Written()) == 0 {
		t.Fatal("nothing recorded of the handshake")
	}
}

func TestBackendCloseStopsHandlers(t *testing.T) {
	b := New()
	started := make(chan struct{})
	b.Handle("slow:80", HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}), HTTP1))
	c := client(t, b, nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Get("http://slow:80/")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	within(t, func() { b.Close() })
	if err := <-errc; err == nil {
		t.Fatal("request answered by a server the backend closed")
	}
}

func TestListenerAfterClose(t *testing.T) {
	l := newListener()
	if l.Addr().Network() != Name {
		t.Fatalf("listener network %q", l.Addr().Network())
	}
	queued := newPair(&Conn{done: make(chan struct{})}, &Addr{}, &Addr{})
	l.push(queued.peer())
	l.Close()
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	late := newPair(&Conn{done: make(chan struct{})}, &Addr{}, &Addr{})
	l.push(late.peer())
	for _, p := range []*pair{queued, late} {
		if !transport.IsClosed(p.peer()) {
			t.Fatal("a connection the closed listener never served is still open")
		}
		select {
		case <-p.rec.done:
		default:
			t.Fatal("Done of a connection never served is not closed")
		}
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}
