package protocols

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/h1"
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
	if got := negotiated(&alpnStream{}); got != ProtoHTTP11 {
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

// TestSweepRearms: the janitor's run for the first idle connection,
// finding a second one not yet expired, arms itself again for that one.
// It runs in a synctest bubble (the mock backend is in memory), so the
// second connection goes idle 40 ms after the first on the bubble's
// clock, however loaded the machine.
func TestSweepRearms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, b := newMockTransport(t)
		b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
		b.Handle("b.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
		tr.IdleConnTimeout = 60 * time.Millisecond
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		do(t, tr, req)
		time.Sleep(40 * time.Millisecond)
		req, _ = http.NewRequest("GET", "http://b.test/", nil)
		do(t, tr, req)
		// At 70 ms the first has expired, the second not.
		time.Sleep(30 * time.Millisecond)
		synctest.Wait()
		if s := tr.Stats(); s.Idle != 1 {
			t.Errorf("stats %+v at 70 ms, want the second connection still idle", s)
		}
		testenv.Eventually(t, 10*time.Second, func() bool { return tr.Stats().Idle == 0 }) // both idle connections expire
		// No limit: nothing expires and no timer runs.
		tr2 := &Transport{Backend: b, IdleConnTimeout: -1}
		defer tr2.Close()
		req, _ = http.NewRequest("GET", "http://a.test/", nil)
		do(t, tr2, req)
		if tr2.janitor != nil || tr2.Stats().Idle != 1 {
			t.Errorf("janitor %v, stats %+v", tr2.janitor, tr2.Stats())
		}
	})
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

// TestSharedDialNeverEnds shows that a dial that never completes (TLS
// never answered, or an h2c peer that never sends SETTINGS) does not hold
// the callers that arrive after it: each one with a 1 s deadline dials
// its own connection in time and succeeds, as with net/http.
func TestSharedDialNeverEnds(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, tc := range []struct {
		name, scheme, addr string
		peer               mock.Peer
	}{
		{"tls", "https", "a.test:443", mock.TLSHandlerPeer(ok, nil)},
		{"h2c", "http", "a.test:80", mock.HandlerPeer(ok, mock.H2C)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, b := newMockTransport(t)
			tr.H2C = true
			tr.TLSClientConfig = &tls.Config{RootCAs: mock.RootCAs(), ServerName: "localhost"}
			// The first connection is accepted and never answered.
			b.Handle(tc.addr, tc.peer, mock.Stall())
			url := tc.scheme + "://a.test/"
			stuckCtx, cancelStuck := context.WithCancel(context.Background())
			defer cancelStuck()
			stuck := goGet(stuckCtx, tr, url)
			// The first dial connects and waits for its answer.
			testenv.Eventually(t, 10*time.Second, func() bool {
				return len(b.Conns()) > 0 && dialPending(tr, key{scheme: tc.scheme, host: "a.test"})
			})
			// Later connections are answered.
			b.Handle(tc.addr, tc.peer)
			const n = 5
			errs := make(chan error, n)
			for range n {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
					_, body, err := do(t, tr, req)
					if err == nil && body != "ok" {
						err = errors.New(body)
					}
					errs <- err
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Errorf("request behind a dial that never ends: %v", err)
				}
			}
			cancelStuck()
			if err := <-stuck; !errors.Is(err, context.Canceled) {
				t.Errorf("the stuck dial's caller: %v", err)
			}
		})
	}
}

// deadlineBackend records the deadline of each Dial's context and
// refuses the dial.
type deadlineBackend struct {
	transport.Backend
	mu        sync.Mutex
	deadlines []time.Duration // time left at Dial; -1 for none
}

func (b *deadlineBackend) Dial(ctx context.Context, network, addr string) (transport.Stream, error) {
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	b.mu.Lock()
	b.deadlines = append(b.deadlines, left)
	b.mu.Unlock()
	return nil, &transport.OpError{Op: "dial", Network: network, Address: addr, Err: syscall.ECONNREFUSED}
}

// TestSetupTimeoutDefault shows that TLSHandshakeTimeout's zero value
// bounds the setup of an https or h2c connection by 10 s, as net/http's
// DefaultTransport does, that a negative one leaves it to the request's
// context, and that plain HTTP/1.1 dials are not bounded by it.
func TestSetupTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		h2c     bool
		url     string
		want    time.Duration // -1: no deadline
	}{
		{"https zero", 0, false, "https://a.test/", DefaultTLSHandshakeTimeout},
		{"h2c zero", 0, true, "http://a.test/", DefaultTLSHandshakeTimeout},
		{"https set", 3 * time.Second, false, "https://a.test/", 3 * time.Second},
		{"https negative", -1, false, "https://a.test/", -1},
		{"http/1.1", 0, false, "http://a.test/", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &deadlineBackend{Backend: mock.New()}
			defer b.Backend.Close()
			tr := &Transport{Backend: b, TLSHandshakeTimeout: tc.timeout, H2C: tc.h2c}
			defer tr.Close()
			req, _ := http.NewRequest("GET", tc.url, nil)
			if _, err := tr.RoundTrip(req); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("error %v", err)
			}
			if len(b.deadlines) != 1 {
				t.Fatalf("%d dials", len(b.deadlines))
			}
			got := b.deadlines[0]
			if tc.want < 0 && got >= 0 || tc.want >= 0 && (got > tc.want || got < tc.want-5*time.Second) {
				t.Errorf("dial deadline in %v, want %v", got, tc.want)
			}
		})
	}
}

// TestH2CSettingsTimeout shows that an h2c peer that never sends
// SETTINGS fails the request after TLSHandshakeTimeout, with a timeout
// error, even when the request has no deadline of its own.
//
// It runs in a synctest bubble: the mock backend is in memory, so the
// timers run on the bubble's clock, however loaded the machine.
func TestH2CSettingsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, b := newMockTransport(t)
		tr.H2C = true
		tr.TLSHandshakeTimeout = 100 * time.Millisecond
		b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.H2C), mock.Stall())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		done := goGet(ctx, tr, "http://a.test/")
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want a timeout", err)
			}
			if d := time.Since(start); d != tr.TLSHandshakeTimeout {
				t.Errorf("failed after %v on the bubble's clock, want TLSHandshakeTimeout (%v)", d, tr.TLSHandshakeTimeout)
			}
		case <-time.After(10 * time.Second):
			cancel()
			<-done
			t.Fatal("no SETTINGS: the request waited past TLSHandshakeTimeout")
		}
	})
}
