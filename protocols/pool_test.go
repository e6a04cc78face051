package protocols

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/protocols/h1"
	"github.com/transportkit/transportkit/transport"
)

// alpnStream is a Stream that only reports a negotiated protocol.
type alpnStream struct {
	transport.Stream
	proto  string
	closed bool
}

func (s *alpnStream) Info(k transport.InfoKey) (any, bool) {
	if k == transport.InfoALPN {
		return s.proto, true
	}
	return nil, false
}

func (s *alpnStream) Close() error { s.closed = true; return nil }

func TestNewConnRejectsUnknownProtocol(t *testing.T) {
	p := &hostPool{t: &Transport{}}
	s := &alpnStream{proto: "spdy/3"}
	if _, err := p.newConn(context.Background(), s); !errors.Is(err, ErrUnsupportedProtocol) || !s.closed {
		t.Errorf("error %v, stream closed %v", err, s.closed)
	}
	if got := Negotiated(&alpnStream{}); got != ProtoHTTP11 {
		t.Errorf("Negotiated on clear text: %q", got)
	}
}

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&h1.Error{Op: "read", Err: h1.ErrServerClosed, NoResponse: true}, true},
		{&h1.Error{Op: "read", Err: h1.ErrServerClosed}, false},
		{&h1.Error{Op: "read", Err: h1.ErrResponseHeaderTimeout, NoResponse: true}, false},
		{&h1.Error{Op: "write", Err: h1.ErrInvalidRequest, NoResponse: true}, false},
		{&h1.Error{Op: "write", Err: h1.ErrBodyLength, NoResponse: true}, false},
		{errors.New("other"), false},
	} {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v", tt.err, got)
		}
	}
}

func TestGetBodyFailureStopsRetry(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.FuncPeer(staleAfterFirst))
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	do(t, tr, req)
	boom := errors.New("no body again")
	req, _ = http.NewRequest("GET", "http://a.test/", io.NopCloser(nil))
	req.Body = io.NopCloser(&emptyReader{})
	req.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	if _, err := tr.RoundTrip(req); !errors.Is(err, h1.ErrServerClosed) {
		t.Errorf("error %v, want the original failure", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

func TestSlotHandedToWaiter(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	tr.MaxConnsPerHost = 1
	tr.DisableKeepAlives = true
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://a.test/", nil)
			if _, body, err := do(t, tr, req); err != nil || body != "hello" {
				t.Errorf("%q %v", body, err)
			}
		}()
	}
	wg.Wait()
	if s := tr.Stats(); s.Dials != 6 || s.Open != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestMaxIdlePerHost(t *testing.T) {
	tr, b := newMockTransport(t)
	g := newGate()
	b.Handle("a.test:80", mock.HandlerPeer(g, mock.HTTP1))
	tr.MaxIdleConnsPerHost = 1
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://a.test/", nil)
			do(t, tr, req)
		}()
	}
	for i := 0; i < 3; i++ {
		<-g.in
	}
	close(g.release)
	wg.Wait()
	if s := tr.Stats(); s.Dials != 3 || s.Idle != 1 || s.Open != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestSweepRearms(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	b.Handle("b.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	tr.IdleConnTimeout = 60 * time.Millisecond
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	do(t, tr, req)
	time.Sleep(40 * time.Millisecond)
	req, _ = http.NewRequest("GET", "http://b.test/", nil)
	do(t, tr, req)
	deadline := time.Now().Add(10 * time.Second)
	for tr.Stats().Idle != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle connections never expired: %+v", tr.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// No limit: nothing expires and no timer runs.
	tr2 := &Transport{Backend: b, IdleConnTimeout: -1}
	defer tr2.Close()
	req, _ = http.NewRequest("GET", "http://a.test/", nil)
	do(t, tr2, req)
	if tr2.janitor != nil || tr2.Stats().Idle != 1 {
		t.Errorf("janitor %v, stats %+v", tr2.janitor, tr2.Stats())
	}
}

// TestPoolTLSConfigShared checks that every dial of an origin shares one
// TLS config with the origin's host as ServerName, and that the
// transport's own config is left alone.
func TestPoolTLSConfigShared(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"example.com:443", "example.com"},
		{"[::1]:8443", "::1"},
		{"noport", "noport"},
	} {
		base := &tls.Config{}
		p := &hostPool{t: &Transport{TLSClientConfig: base}, addr: tc.addr}
		a, b := p.tlsConfig(), p.tlsConfig()
		if a != b {
			t.Errorf("%s: two dials got two configs", tc.addr)
		}
		if a.ServerName != tc.want {
			t.Errorf("%s: ServerName %q, want %q", tc.addr, a.ServerName, tc.want)
		}
		if base.ServerName != "" {
			t.Errorf("%s: the transport's config was changed", tc.addr)
		}
	}
	named := &Transport{TLSClientConfig: &tls.Config{ServerName: "override"}}
	if got := (&hostPool{t: named, addr: "example.com:443"}).tlsConfig().ServerName; got != "override" {
		t.Errorf("ServerName %q, want the configured override", got)
	}
}
