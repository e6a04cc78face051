package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
	"golang.org/x/net/http2"
)

// TestBackends runs requests over each backend and each way to reach
// HTTP/2: h2c with prior knowledge and TLS with ALPN.
func TestBackends(t *testing.T) {
	cases := []struct {
		name    string
		stream  func(t *testing.T) transport.Stream
		wantTLS bool
	}{
		{"mock/h2c", func(t *testing.T) transport.Stream {
			b := newMock(t)
			b.Handle("h2c.test:80", mock.HandlerPeer(hello, mock.H2C))
			s, err := b.Dial(testContext(t), "tcp", "h2c.test:80")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"mock/tls", func(t *testing.T) transport.Stream {
			b := newMock(t)
			b.Handle("h2.test:443", mock.TLSHandlerPeer(hello, nil))
			s, err := b.DialTLS(testContext(t), "tcp", "h2.test:443", tlsConfig())
			if err != nil {
				t.Fatal(err)
			}
			if p := transport.NegotiatedProtocol(s); p != NextProtoTLS {
				t.Fatalf("ALPN chose %q", p)
			}
			return s
		}, true},
		{"mock/split-reads", func(t *testing.T) transport.Stream {
			// Every read returns 1 byte, so the read loop gets each frame
			// header and payload in pieces.
			b := newMock(t)
			b.Handle("h2c.test:80", mock.HandlerPeer(hello, mock.H2C), mock.SplitReads(1))
			s, err := b.Dial(testContext(t), "tcp", "h2c.test:80")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, false},
		{"stdnet/h2c", func(t *testing.T) transport.Stream { return loopbackH2C(t, openBackend(t, stdnet.Name), hello) }, false},
		{"stdnet/tls", func(t *testing.T) transport.Stream { return loopbackTLS(t, openBackend(t, stdnet.Name), hello, 0) }, true},
		{"epoll/h2c", func(t *testing.T) transport.Stream { return loopbackH2C(t, openBackend(t, epoll.Name), hello) }, false},
		{"epoll/tls", func(t *testing.T) transport.Stream { return loopbackTLS(t, openBackend(t, epoll.Name), hello, 0) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			transporttest.VerifyNoLeaks(t) // goroutines and fds
			c := startConn(t, tc.stream(t), Options{})
			scheme := "http"
			if tc.wantTLS {
				scheme = "https"
			}
			for i := range 3 {
				body, resp, err := get(testContext(t), c, fmt.Sprintf("%s://localhost/%d", scheme, i))
				if err != nil {
					t.Fatalf("GET %d: %v", i, err)
				}
				if want := fmt.Sprintf("hello /%d", i); body != want || resp.ProtoMajor != 2 {
					t.Fatalf("GET %d: %s %q, want HTTP/2 %q", i, resp.Proto, body, want)
				}
				if (resp.TLS != nil) != tc.wantTLS {
					t.Fatalf("resp.TLS = %v, want TLS %v", resp.TLS, tc.wantTLS)
				}
			}
			if err := c.Ping(testContext(t)); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			st := c.State()
			if st.Active != 0 || st.GoingAway || st.Closed || st.LastIdle.IsZero() || st.MaxConcurrent != 250 {
				t.Fatalf("State after requests = %+v, want idle with net/http's 250 streams", st)
			}
		})
	}
}

// TestConcurrent100 runs 100 requests at once on one Conn to a server that
// allows 128 streams: all complete, on the one connection, and each held a
// reserved slot.
func TestConcurrent100(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	var inFlight sync.WaitGroup
	inFlight.Add(100)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		if r.URL.Path == "/warmup" {
			return
		}
		inFlight.Done()
		select { // hold every stream open until all 100 are in
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, r.URL.Path)
	})
	c := mockH2C(t, h, 128, Options{})
	if _, _, err := get(testContext(t), c, "http://h2c.test/warmup"); err != nil {
		t.Fatal(err) // the server's SETTINGS are in after one exchange
	}
	if st := c.State(); st.MaxConcurrent != 128 {
		t.Fatalf("MaxConcurrent = %d, want the server's 128", st.MaxConcurrent)
	}
	errs := make(chan error, 100)
	for i := range 100 {
		if !c.Reserve() {
			t.Fatalf("Reserve %d failed with %+v", i, c.State())
		}
		go func() {
			body, _, err := get(testContext(t), c, fmt.Sprintf("http://h2c.test/%d", i))
			if err == nil && body != fmt.Sprintf("/%d", i) {
				err = fmt.Errorf("request %d got %q", i, body)
			}
			errs <- err
		}()
	}
	waitGroup(t, &inFlight)
	if st := c.State(); st.Active != 100 || st.Reserved != 0 {
		t.Fatalf("with 100 streams open State = %+v", st)
	}
	close(release)
	for range 100 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(conns) != 1 {
		t.Fatalf("requests came over %d connections, want 1", len(conns))
	}
	if st := c.State(); st.Active != 0 || st.LastIdle.IsZero() {
		t.Fatalf("after the requests State = %+v", st)
	}
}

// waitGroup waits for wg, or fails the test after testTimeout.
func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting")
	}
}

// TestReserveLimit checks that Reserve honours the server's
// MAX_CONCURRENT_STREAMS of 10, counting active requests and
// reservations, and that Release and finished requests free slots.
func TestReserveLimit(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			started.Done()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	})
	c := mockH2C(t, h, 10, Options{})
	if _, _, err := get(testContext(t), c, "http://h2c.test/"); err != nil {
		t.Fatal(err)
	}
	if st := c.State(); st.MaxConcurrent != 10 {
		t.Fatalf("MaxConcurrent = %d, want 10", st.MaxConcurrent)
	}
	// 7 requests in flight and 3 reservations fill the 10 slots.
	started.Add(7)
	errs := make(chan error, 7)
	for range 7 {
		if !c.Reserve() {
			t.Fatal("Reserve failed below the limit")
		}
		go func() {
			_, _, err := get(testContext(t), c, "http://h2c.test/hold")
			errs <- err
		}()
	}
	waitGroup(t, &started)
	for i := range 3 {
		if !c.Reserve() {
			t.Fatalf("Reserve %d failed with %+v", i, c.State())
		}
	}
	if c.Reserve() {
		t.Fatalf("Reserve succeeded with 10 slots in use: %+v", c.State())
	}
	if st := c.State(); st.Active != 7 || st.Reserved != 3 || !st.LastIdle.IsZero() {
		t.Fatalf("State = %+v, want 7 active and 3 reserved", st)
	}
	c.Release()
	if !c.Reserve() {
		t.Fatal("Reserve failed after Release")
	}
	close(release)
	for range 7 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		c.Release()
	}
	c.Release() // nothing reserved: no effect
	if st := c.State(); st.Active != 0 || st.Reserved != 0 || st.LastIdle.IsZero() {
		t.Fatalf("State after all = %+v", st)
	}
}

// TestCancelResetsOnlyItsStream cancels one request while another runs on
// the same connection: the server sees the cancelled stream reset, the
// other completes, and the connection stays usable.
func TestCancelResetsOnlyItsStream(t *testing.T) {
	reset := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cancel":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the client's RST_STREAM ends it
			close(reset)
		case "/slow":
			<-release
			io.WriteString(w, "slow done")
		}
	})
	c := mockH2C(t, h, 0, Options{})
	slow := make(chan error, 1)
	go func() {
		body, _, err := get(testContext(t), c, "http://h2c.test/slow")
		if err == nil && body != "slow done" {
			err = fmt.Errorf("slow got %q", body)
		}
		slow <- err
	}()

	// A request cancelled before its response headers arrive.
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, _, err := get(ctx, c, "http://h2c.test/slow"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled GET: %v, want context.Canceled", err)
	}

	// A request cancelled while its body is being read.
	ctx, cancel = context.WithCancel(testContext(t))
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://h2c.test/cancel", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("body read after cancel: %v, want context.Canceled", err)
	}
	resp.Body.Close()
	select {
	case <-reset:
	case <-time.After(testTimeout):
		t.Fatal("server never saw the stream reset")
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the other stream: %v", err)
	}
	if body, _, err := get(testContext(t), c, "http://h2c.test/none"); err != nil || body != "" {
		t.Fatalf("GET after cancellations: %q, %v", body, err)
	}
	if st := c.State(); st.GoingAway || st.Active != 0 {
		t.Fatalf("State = %+v", st)
	}
}

// TestDeadline checks that a request whose context expires fails with
// an error matching transport.ErrTimeout and context.DeadlineExceeded.
func TestDeadline(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := mockH2C(t, h, 0, Options{})
	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	_, _, err := get(ctx, c, "http://h2c.test/")
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "roundtrip" || oe.Backend != mock.Name {
		t.Fatalf("error %v is not an OpError from roundtrip on mock", err)
	}
	if !errors.Is(err, transport.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !oe.Timeout() || IsRetryable(err) {
		t.Fatalf("error %v: want a timeout that is not retryable", err)
	}
}

// TestPostBody sends request bodies and reads a large response, so that
// flow control runs in both directions.
func TestPostBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d\n", n)
		w.Write(make([]byte, 3<<20))
	})
	c := mockH2C(t, h, 0, Options{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 128 << 10})
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://h2c.test/", io.LimitReader(zeros{}, 5<<20))
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int
	if _, err := fmt.Fscanf(resp.Body, "%d\n", &n); err != nil || n != 5<<20 {
		t.Fatalf("server read %d (%v), want %d", n, err, 5<<20)
	}
	rest, err := io.Copy(io.Discard, resp.Body)
	if err != nil || rest != 3<<20 {
		t.Fatalf("read %d more (%v), want %d", rest, err, 3<<20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestShutdown waits for a request in flight, sends GOAWAY and closes; a
// request after Shutdown began is retryable.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	c := mockH2C(t, h, 0, Options{})
	got := make(chan error, 1)
	go func() {
		body, _, err := get(testContext(t), c, "http://h2c.test/")
		if err == nil && body != "done" {
			err = fmt.Errorf("got %q", body)
		}
		got <- err
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- c.Shutdown(testContext(t)) }()
	testenv.Eventually(t, testTimeout, func() bool { return c.State().GoingAway })
	if c.Reserve() {
		t.Fatal("Reserve succeeded during Shutdown")
	}
	if _, _, err := get(testContext(t), c, "http://h2c.test/"); !IsRetryable(err) {
		t.Fatalf("GET during Shutdown: %v, want retryable", err)
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("request in flight: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if st := c.State(); !st.Closed {
		t.Fatalf("State after Shutdown = %+v", st)
	}
	if err := c.Ping(testContext(t)); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Ping after Shutdown: %v, want ErrClosed", err)
	}
	_, _, err := get(testContext(t), c, "http://h2c.test/")
	if !errors.Is(err, transport.ErrClosed) || !IsRetryable(err) {
		t.Fatalf("GET after Shutdown: %v, want retryable ErrClosed", err)
	}
}

// TestShutdownContext gives up waiting when ctx ends; Close then ends the
// request in flight.
func TestShutdownContext(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	c := mockH2C(t, h, 0, Options{})
	got := make(chan error, 1)
	go func() {
		_, _, err := get(testContext(t), c, "http://h2c.test/")
		got <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
	defer cancel()
	if err := c.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want a deadline error", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err == nil || IsRetryable(err) {
		t.Fatalf("request ended by Close: %v, want a non-retryable error", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestConnectionClose marks the Conn going away after a request that asks
// to close the connection.
func TestConnectionClose(t *testing.T) {
	c := mockH2C(t, hello, 0, Options{})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h2c.test/", nil)
	req.Header.Set("Connection", "close")
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !c.State().GoingAway || c.Reserve() {
		t.Fatalf("State after Connection: close = %+v, want going away", c.State())
	}
}

// TestHealthCheck closes a Conn whose peer stops answering PINGs.
func TestHealthCheck(t *testing.T) {
	c := rawH2C(t, Options{ReadIdleTimeout: 20 * time.Millisecond, PingTimeout: 20 * time.Millisecond}, func(p *rawPeer) {
		if p.handshake() {
			p.drain() // reads the PINGs, never answers
		}
	})
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
	if err := mustGetError(t, c); !IsRetryable(err) || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("GET on a dead Conn: %v", err)
	}
}

// TestPingTimeout checks Ping against a peer that never answers.
func TestPingTimeout(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if p.handshake() {
			p.drain()
		}
	})
	ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
	defer cancel()
	err := c.Ping(ctx)
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "ping" || !errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("Ping: %v, want an OpError timeout", err)
	}
}

// TestNilStream checks the error for a nil stream.
func TestNilStream(t *testing.T) {
	if _, err := NewConn(nil, Options{}); !errors.Is(err, errNilStream) {
		t.Fatalf("NewConn(nil): %v", err)
	}
}

// TestNewConnWriteError checks that NewConn fails, closing the stream,
// when it cannot write the preface.
func TestNewConnWriteError(t *testing.T) {
	b := newMock(t)
	b.Handle("h2c.test:80", mock.HandlerPeer(hello, mock.H2C))
	s, err := b.Dial(testContext(t), "tcp", "h2c.test:80")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = NewConn(s, Options{})
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "handshake" || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("NewConn on a closed stream: %v", err)
	}
}

// TestShutdownIdle shuts down an idle Conn: the peer gets GOAWAY with
// NO_ERROR, the connection closes, and a second Shutdown does nothing.
func TestShutdownIdle(t *testing.T) {
	goaway := make(chan http2.ErrCode, 1)
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		// The Conn may shut down before the handshake ends (its SETTINGS
		// ACK then finds the connection closed): the GOAWAY is still in
		// what it sent, after its SETTINGS.
		p.handshake()
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				goaway <- ga.ErrCode
			}
		}
	})
	if err := c.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-goaway:
		if code != http2.ErrCodeNo {
			t.Fatalf("GOAWAY code %v", code)
		}
	case <-time.After(testTimeout):
		t.Fatal("the peer got no GOAWAY")
	}
	if !c.State().Closed {
		t.Fatalf("State after Shutdown = %+v", c.State())
	}
	if err := c.Shutdown(testContext(t)); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
