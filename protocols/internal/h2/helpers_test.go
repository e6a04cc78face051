package h2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 10 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newMock returns a mock backend closed at the end of the test.
func newMock(t testing.TB) *mock.Backend {
	b := mock.New()
	t.Cleanup(func() { b.Close() })
	return b
}

// startConn starts a Conn over s, closed at the end of the test.
func startConn(t testing.TB, s transport.Stream, opts Options) *Conn {
	t.Helper()
	c, err := NewConn(s, opts)
	if err != nil {
		t.Fatalf("NewConn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// h2cServerPeer serves h over h2c with net/http's server, configured by
// cfg (so that the test chooses the server's SETTINGS), one connection
// per server; the peer returns when the server let the connection go.
func h2cServerPeer(cfg *http.HTTP2Config, h http.Handler) mock.Peer {
	return mock.FuncPeer(func(nc net.Conn) {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		gone := make(chan struct{})
		srv := &http.Server{Handler: h, Protocols: &p, HTTP2: cfg,
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateClosed || st == http.StateHijacked {
					close(gone)
				}
			}}
		ln := &oneConnListener{c: nc, done: make(chan struct{})}
		served := make(chan struct{})
		go func() {
			defer close(served)
			srv.Serve(ln)
		}()
		<-gone
		srv.Close()
		<-served
	})
}

// oneConnListener accepts one connection, then blocks until closed.
type oneConnListener struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// mockH2C returns a Conn to h served over h2c by a mock peer whose server
// allows maxStreams concurrent streams (0: net/http's default, 250).
func mockH2C(t testing.TB, h http.Handler, maxStreams int, opts Options) *Conn {
	t.Helper()
	b := newMock(t)
	b.Handle("h2c.test:80", h2cServerPeer(&http.HTTP2Config{MaxConcurrentStreams: maxStreams}, h))
	s, err := b.Dial(testContext(t), "tcp", "h2c.test:80")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return startConn(t, s, opts)
}

// get runs a GET of url on c and returns the body.
func get(ctx context.Context, c *Conn, url string) (string, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp, err
}

// hello answers every request with "hello " and the request's path.
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello "+r.URL.Path)
})

// loopbackTLS starts a net/http TLS server with HTTP/2 on 127.0.0.1 and
// returns a stream to it from backend b that negotiated "h2".
func loopbackTLS(t testing.TB, b transport.Backend, h http.Handler, maxStreams int) transport.Stream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mock.ServerTLSConfig()
	cfg.NextProtos = []string{"h2"}
	srv := &http.Server{Handler: h, TLSConfig: cfg, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: maxStreams}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return dialWith(t, b, ln.Addr().String(), tlsConfig())
}

// loopbackH2C starts a net/http server speaking h2c with prior knowledge
// on 127.0.0.1 and returns a stream to it from backend b.
func loopbackH2C(t testing.TB, b transport.Backend, h http.Handler) transport.Stream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return dialWith(t, b, ln.Addr().String(), nil)
}

// openBackend opens the in-tree backend called name, closed at the end of
// the test, or skips the test where it is unavailable.
func openBackend(t testing.TB, name string) transport.Backend {
	t.Helper()
	var b transport.Backend
	var err error
	switch name {
	case stdnet.Name:
		b, err = stdnet.Open(transport.Options{})
	case epoll.Name:
		b, err = epoll.Open(transport.Options{})
	default:
		t.Fatalf("no backend %q", name)
	}
	if errors.Is(err, transport.ErrUnavailable) {
		t.Skipf("backend %s: %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dialWith dials addr with backend b, then runs TLS when cfg is not nil.
func dialWith(t testing.TB, b transport.Backend, addr string, cfg *tls.Config) transport.Stream {
	t.Helper()
	ctx := testContext(t)
	s, err := b.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		if s, err = transport.StartTLS(ctx, s, cfg); err != nil {
			t.Fatal(err)
		}
		if p := transport.NegotiatedProtocol(s); p != NextProtoTLS {
			t.Fatalf("ALPN chose %q", p)
		}
	}
	return s
}

// rawPeer is a scripted HTTP/2 server that writes raw frames, for
// malformed-peer tests. Its methods report failures with t.Error, since
// it runs in the peer's goroutine.
type rawPeer struct {
	t    testing.TB
	c    net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	henc *hpack.Encoder
	wmu  sync.Mutex // guards fr's writing side, hbuf and henc
}

// rawH2C returns a Conn whose peer runs script over the server's end of
// an in-memory connection. The script's end is closed when it returns;
// the test waits for it to return before it ends.
func rawH2C(t testing.TB, opts Options, script func(p *rawPeer)) *Conn {
	t.Helper()
	b := newMock(t)
	done := make(chan struct{})
	b.Handle("raw.test:80", mock.FuncPeer(func(nc net.Conn) {
		defer close(done)
		nc.SetDeadline(time.Now().Add(testTimeout))
		p := &rawPeer{t: t, c: nc, fr: http2.NewFramer(nc, nc)}
		p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		p.henc = hpack.NewEncoder(&p.hbuf)
		script(p)
	}))
	s, err := b.Dial(testContext(t), "tcp", "raw.test:80")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c := startConn(t, s, opts)
	t.Cleanup(func() {
		c.Close()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("scripted peer did not return")
		}
	})
	return c
}

// handshake reads the client preface and SETTINGS, and sends the
// server's SETTINGS and the ACK. It reports whether all went well.
func (p *rawPeer) handshake(settings ...http2.Setting) bool {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(p.c, preface); err != nil || string(preface) != http2.ClientPreface {
		p.t.Errorf("peer: bad preface %q: %v", preface, err)
		return false
	}
	if err := p.write(func() error { return p.fr.WriteSettings(settings...) }); err != nil {
		return false
	}
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Errorf("peer: reading client SETTINGS: %v", err)
			return false
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			return p.write(p.fr.WriteSettingsAck) == nil
		}
	}
}

// write runs f with the writing side locked, reporting its error.
func (p *rawPeer) write(f func() error) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	err := f()
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
		p.t.Logf("peer: write: %v", err)
	}
	return err
}

// readHeaders reads client frames until a HEADERS frame, which it
// returns; nil when the connection ended first.
func (p *rawPeer) readHeaders() *http2.MetaHeadersFrame {
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			return h
		}
	}
}

// drain reads and drops what the client sends until the connection ends.
func (p *rawPeer) drain() {
	io.Copy(io.Discard, p.c)
}

// encode returns a header block for fields, given as name, value pairs.
// The caller holds wmu.
func (p *rawPeer) encode(fields ...string) []byte {
	p.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		p.henc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(p.hbuf.Bytes())
}

// respond sends a complete response with status 200 and body on stream.
func (p *rawPeer) respond(stream uint32, body string) error {
	return p.write(func() error {
		block := p.encode(":status", "200", "content-length", strconv.Itoa(len(body)))
		if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block, EndHeaders: true, EndStream: body == ""}); err != nil {
			return err
		}
		if body == "" {
			return nil
		}
		return p.fr.WriteData(stream, true, []byte(body))
	})
}

// mustGetError runs a GET on c and returns its error, failing the test if
// it succeeds.
func mustGetError(t *testing.T, c *Conn) error {
	t.Helper()
	_, _, err := get(testContext(t), c, "http://raw.test/")
	if err == nil {
		t.Fatal("GET succeeded; want an error")
	}
	return err
}

// tlsConfig is a client configuration that trusts the mock certificate
// and offers h2.
func tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: mock.RootCAs(), ServerName: "localhost", NextProtos: []string{NextProtoTLS}}
}

// readRequest reads client frames until a request has ended (END_STREAM),
// and returns its head and body; nil when the connection ended first.
// With grant, it gives back every DATA frame's bytes to both windows.
func (p *rawPeer) readRequest(grant bool) (*http2.MetaHeadersFrame, []byte) {
	var head *http2.MetaHeadersFrame
	var body []byte
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return nil, nil
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if head == nil {
				head = f
			}
			if f.StreamEnded() {
				return head, body
			}
		case *http2.DataFrame:
			body = append(body, f.Data()...)
			if n := uint32(len(f.Data())); grant && n > 0 {
				p.write(func() error {
					if err := p.fr.WriteWindowUpdate(0, n); err != nil {
						return err
					}
					return p.fr.WriteWindowUpdate(f.StreamID, n)
				})
			}
			if f.StreamEnded() {
				return head, body
			}
		}
	}
}

// field returns the values of name in a header block.
func field(h *http2.MetaHeadersFrame, name string) []string {
	var vv []string
	for _, f := range h.Fields {
		if f.Name == name {
			vv = append(vv, f.Value)
		}
	}
	return vv
}

// respondFields sends a response head made of fields (name, value
// pairs), then body if not empty, ending the stream.
func (p *rawPeer) respondFields(stream uint32, body string, fields ...string) error {
	return p.write(func() error {
		block := p.encode(fields...)
		if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block, EndHeaders: true, EndStream: body == ""}); err != nil {
			return err
		}
		if body == "" {
			return nil
		}
		return p.fr.WriteData(stream, true, []byte(body))
	})
}

// closeTracker is a request body that records its Close.
type closeTracker struct {
	io.Reader
	closed chan struct{}
	once   sync.Once
}

func newCloseTracker(r io.Reader) *closeTracker {
	return &closeTracker{Reader: r, closed: make(chan struct{})}
}

func (c *closeTracker) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// wasClosed reports whether Close was called, waiting up to testTimeout.
func (c *closeTracker) wasClosed() bool {
	select {
	case <-c.closed:
		return true
	case <-time.After(testTimeout):
		return false
	}
}
