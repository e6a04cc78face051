package protocols

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func newMockTransport(t *testing.T) (*Transport, *mock.Backend) {
	t.Helper()
	b := mock.New()
	tr := &Transport{Backend: b}
	t.Cleanup(func() {
		tr.Close()
		b.Close()
	})
	return tr, b
}

// goGet sends a GET for url with ctx through rt from a goroutine of its
// own; the error comes on the channel returned.
func goGet(ctx context.Context, rt http.RoundTripper, url string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		_, err := rt.RoundTrip(req)
		errc <- err
	}()
	return errc
}

func helloHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Method", r.Method)
		io.WriteString(w, "hello")
	})
}

func do(t *testing.T, rt http.RoundTripper, req *http.Request) (*http.Response, string, error) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

type closeCounter struct {
	io.Reader
	n atomic.Int32
}

func (c *closeCounter) Close() error { c.n.Add(1); return nil }

func TestRoundTripContract(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(503)
	}), mock.HTTP1))
	body := &closeCounter{Reader: strings.NewReader("data")}
	req, _ := http.NewRequest("POST", "http://a.test/x", body)
	req.Header.Set("X-A", "1")
	snapshot := req.Clone(context.Background())
	resp, _, err := do(t, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Request != req {
		t.Errorf("status %d, Request %p", resp.StatusCode, resp.Request)
	}
	if body.n.Load() == 0 {
		t.Error("request body not closed")
	}
	if !reflect.DeepEqual(req.Header, snapshot.Header) || req.URL.String() != snapshot.URL.String() || req.Host != snapshot.Host || req.ContentLength != snapshot.ContentLength {
		t.Error("request modified")
	}
}

func TestRoundTripErrorsCloseBody(t *testing.T) {
	tr, _ := newMockTransport(t)
	for name, url := range map[string]string{
		"refused":     "http://nobody.test/",
		"bad scheme":  "ftp://a.test/",
		"no host":     "http:///path",
		"tls refused": "https://nobody.test/",
	} {
		t.Run(name, func(t *testing.T) {
			body := &closeCounter{Reader: strings.NewReader("x")}
			req, _ := http.NewRequest("PUT", url, body)
			if _, err := tr.RoundTrip(req); err == nil {
				t.Fatal("no error")
			}
			if body.n.Load() != 1 {
				t.Errorf("body closed %d times", body.n.Load())
			}
		})
	}
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	req.URL = nil
	if _, err := tr.RoundTrip(req); !errors.Is(err, h1.ErrInvalidRequest) {
		t.Errorf("nil URL: %v", err)
	}
	req, _ = http.NewRequest("GET", "http://nobody.test/", nil)
	var op *transport.OpError
	if _, err := tr.RoundTrip(req); !errors.As(err, &op) {
		t.Errorf("dial error %T %v", err, err)
	}
}

func TestReuseAndStats(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	for i := 0; i < 5; i++ {
		for _, u := range []string{"http://a.test/", "http://a.test:80/"} {
			req, _ := http.NewRequest("GET", u, nil)
			if _, body, err := do(t, tr, req); err != nil || body != "hello" {
				t.Fatalf("%q %v", body, err)
			}
		}
	}
	if s := tr.Stats(); s.Dials != 1 || s.Open != 1 || s.Idle != 1 {
		t.Errorf("stats %+v, want one connection for both spellings of the origin", s)
	}
	tr.CloseIdleConnections()
	if s := tr.Stats(); s.Open != 0 || s.Idle != 0 {
		t.Errorf("stats after CloseIdleConnections %+v", s)
	}
}

func TestDisableKeepAlivesAndMaxIdle(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	tr.DisableKeepAlives = true
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		do(t, tr, req)
	}
	if s := tr.Stats(); s.Dials != 3 || s.Open != 0 {
		t.Errorf("DisableKeepAlives: %+v", s)
	}
	tr2 := &Transport{Backend: b, MaxIdleConnsPerHost: -1}
	defer tr2.Close()
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	do(t, tr2, req)
	if s := tr2.Stats(); s.Idle != 0 || s.Open != 0 {
		t.Errorf("MaxIdleConnsPerHost -1: %+v", s)
	}
}

// gate is a handler that holds each request until released.
type gate struct {
	in      chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{in: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.in <- struct{}{}
	<-g.release
	io.WriteString(w, "ok")
}

func TestMaxConnsPerHostWaits(t *testing.T) {
	tr, b := newMockTransport(t)
	g := newGate()
	b.Handle("a.test:80", mock.HandlerPeer(g, mock.HTTP1))
	tr.MaxConnsPerHost = 2
	var wg sync.WaitGroup
	results := make(chan string, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://a.test/", nil)
			_, body, err := do(t, tr, req)
			if err != nil {
				body = err.Error()
			}
			results <- body
		}()
	}
	<-g.in
	<-g.in
	// Two requests are in the handler; the others wait for a connection.
	ctx, cancel := context.WithCancel(context.Background())
	waiting := goGet(ctx, tr, "http://a.test/")
	cancel()
	if err := <-waiting; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled waiter: %v", err)
	}
	close(g.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "ok" {
			t.Errorf("result %q", r)
		}
	}
	if s := tr.Stats(); s.Dials > 2 || s.Open > 2 {
		t.Errorf("stats %+v, want at most 2 connections", s)
	}
}

func TestMaxConnsPerHostDialFailureHandsSlot(t *testing.T) {
	tr, _ := newMockTransport(t)
	tr.MaxConnsPerHost = 1
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", "http://nobody.test/", nil)
		if _, err := tr.RoundTrip(req); err == nil {
			t.Fatal("dial to nobody succeeded")
		}
	}
	if s := tr.Stats(); s.Open != 0 {
		t.Errorf("slots leaked: %+v", s)
	}
}

// staleAfterFirst answers one request per connection, then reads the next
// request and closes without answering: a server that timed the
// connection out just as it was reused.
func staleAfterFirst(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	io.Copy(io.Discard, req.Body)
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	http.ReadRequest(br)
}

func TestRetryOnStaleConnection(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.FuncPeer(staleAfterFirst))
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		if _, body, err := do(t, tr, req); err != nil || body != "hello" {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
	}
	// Replayable with GetBody.
	req, _ := http.NewRequest("PUT", "http://a.test/", strings.NewReader("x"))
	req.Header.Set("Idempotency-Key", "1")
	if _, body, err := do(t, tr, req); err != nil || body != "hello" {
		t.Fatalf("PUT with GetBody: %q %v", body, err)
	}
	// Not replayable: the failure is returned.
	req, _ = http.NewRequest("POST", "http://a.test/", strings.NewReader("x"))
	if _, _, err := do(t, tr, req); !errors.Is(err, h1.ErrServerClosed) {
		t.Fatalf("POST on a stale connection: %v", err)
	}
}

// TestIdleConnTimeout: an idle connection is closed once idle for
// IdleConnTimeout, by the janitor (in a synctest bubble: the mock backend
// is in memory, so the timer runs on the bubble's clock however loaded
// the machine) or at checkout, before the sweep (in real time: the
// connection must age between two requests).
func TestIdleConnTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, b := newMockTransport(t)
		b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
		tr.IdleConnTimeout = 30 * time.Millisecond
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		do(t, tr, req)
		testenv.Eventually(t, 10*time.Second, func() bool { return tr.Stats().Idle == 0 }) // the idle connection expires
	})
	// Expired at checkout, before the sweep.
	_, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	tr2 := &Transport{Backend: b, IdleConnTimeout: time.Nanosecond}
	defer tr2.Close()
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		do(t, tr2, req)
	}
	if s := tr2.Stats(); s.Dials != 2 {
		t.Errorf("stats %+v: the expired connection was reused", s)
	}
}

func TestClosedTransport(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if s := tr.Stats(); s.Open != 0 {
		t.Errorf("connection kept after Close: %+v", s)
	}
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrClosed) {
		t.Errorf("RoundTrip after Close: %v", err)
	}
}

func TestBackendFromRegistry(t *testing.T) {
	tr := &Transport{Selection: registry.Selection{Name: "mock"}}
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	_, err := tr.RoundTrip(req)
	var op *transport.OpError
	if !errors.As(err, &op) || op.Backend != "mock" {
		t.Errorf("error %v, want a dial error from the mock backend", err)
	}
	if err := tr.Close(); err != nil {
		t.Error(err)
	}
	if _, err := tr.backend(); !errors.Is(err, ErrClosed) {
		t.Errorf("backend after Close: %v", err)
	}
	bad := &Transport{Selection: registry.Selection{Name: "no-such-backend"}}
	if _, err := bad.RoundTrip(req); !errors.Is(err, registry.ErrUnknownBackend) {
		t.Errorf("unknown backend: %v", err)
	}
}

func TestNextProtos(t *testing.T) {
	for _, tt := range []struct {
		name string
		tr   *Transport
		want []string
	}{
		{"default", &Transport{TLSClientConfig: &tls.Config{ServerName: "x", NextProtos: []string{"spdy"}}}, []string{ProtoH2, ProtoHTTP11}},
		{"h1 only", &Transport{NextProtos: []string{ProtoHTTP11}}, []string{ProtoHTTP11}},
		{"h2 only", &Transport{NextProtos: []string{ProtoH2}}, []string{ProtoH2}},
		{"no keep-alives", &Transport{DisableKeepAlives: true}, []string{ProtoHTTP11}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.tr.tlsConfig()
			if !reflect.DeepEqual(cfg.NextProtos, tt.want) || tt.tr.protoErr != nil {
				t.Errorf("offers %v (%v), want %v", cfg.NextProtos, tt.tr.protoErr, tt.want)
			}
			if tt.tr.offersH2 != slices.Contains(tt.want, ProtoH2) {
				t.Errorf("offersH2 %v", tt.tr.offersH2)
			}
			if c := tt.tr.TLSClientConfig; c != nil && (c.NextProtos[0] != "spdy" || cfg.ServerName != "x") {
				t.Errorf("base config changed or not copied: %v %q", c.NextProtos, cfg.ServerName)
			}
		})
	}
	for _, bad := range [][]string{{"spdy/3"}, {}} {
		tr := &Transport{NextProtos: bad, Backend: mock.New()}
		req, _ := http.NewRequest("GET", "https://a.test/", nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, ErrUnsupportedProtocol) {
			t.Errorf("NextProtos %q: %v", bad, err)
		}
		tr.Close()
		tr.Backend.Close()
	}
}
