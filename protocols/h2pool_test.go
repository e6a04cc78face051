//lint:file-ignore SA1019 x/net/http2's server serves the mock peers whose SETTINGS the tests choose.

package protocols

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// holdAll is a handler that holds every request until n are in, then
// answers them all: the requests are really in flight together.
type holdAll struct {
	n       int
	mu      sync.Mutex
	in      int
	release chan struct{}
}

func newHoldAll(n int) *holdAll { return &holdAll{n: n, release: make(chan struct{})} }

func (h *holdAll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.in++
	if h.in == h.n {
		close(h.release)
	}
	h.mu.Unlock()
	select {
	case <-h.release:
		io.WriteString(w, "ok")
	case <-r.Context().Done():
	case <-time.After(20 * time.Second): // a bound, not a timing: the test fails below
		w.WriteHeader(http.StatusGatewayTimeout)
	}
}

// concurrentGets runs n GETs of url at once and fails the test on any
// error or unexpected body.
func concurrentGets(t *testing.T, tr *Transport, url string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && (string(b) != "ok" || resp.ProtoMajor != 2) {
				err = errors.New(resp.Proto + " " + resp.Status + " " + string(b))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestH2StreamLimit shows that 100 concurrent requests to one HTTPS
// origin share one connection when the server allows 128 streams, and
// spread over ten when it allows 10. Every handler waits until all 100
// requests are in, so they are in flight together.
func TestH2StreamLimit(t *testing.T) {
	for _, tt := range []struct {
		maxStreams uint32
		wantDials  int64
	}{
		{128, 1},
		{10, 10},
	} {
		servers := map[string]func(t *testing.T, h http.Handler) (transport.Backend, string){
			"loopback": func(t *testing.T, h http.Handler) (transport.Backend, string) {
				return loopbackBackend(t), startH2Server(t, h, tt.maxStreams)
			},
			"mock": func(t *testing.T, h http.Handler) (transport.Backend, string) {
				b := mock.New()
				t.Cleanup(func() { b.Close() })
				b.Handle("h2.test:443", tlsH2Peer(h, tt.maxStreams))
				return b, "h2.test"
			},
		}
		for name, start := range servers {
			t.Run(name+"/"+strconv.Itoa(int(tt.maxStreams)), func(t *testing.T) {
				transporttest.VerifyNoLeaks(t)
				h := newHoldAll(100)
				b, host := start(t, h)
				tr := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: mock.RootCAs(), ServerName: "localhost"}}
				defer tr.Close()
				concurrentGets(t, tr, "https://"+host+"/", 100)
				if s := tr.Stats(); s.Dials != tt.wantDials || s.HTTP2 != int(tt.wantDials) {
					t.Errorf("server allows %d streams: stats %+v, want %d connections", tt.maxStreams, s, tt.wantDials)
				}
			})
		}
	}
}

// loopbackBackend returns a stdnet backend closed at the end of the test.
func loopbackBackend(t *testing.T) transport.Backend {
	b := realBackends()[0].open(t)
	t.Cleanup(func() { b.Close() })
	return b
}

// startH2Server starts net/http's HTTP/2 server over TLS on loopback,
// allowing maxStreams concurrent streams, and returns its address.
func startH2Server(t *testing.T, h http.Handler, maxStreams uint32) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mock.ServerTLSConfig()
	cfg.NextProtos = []string{"h2"}
	srv := &http.Server{Handler: h, TLSConfig: cfg, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// tlsH2Peer is a mock peer serving h over TLS with x/net's HTTP/2
// server, allowing maxStreams concurrent streams.
func tlsH2Peer(h http.Handler, maxStreams uint32) mock.Peer {
	srv := &http2.Server{MaxConcurrentStreams: maxStreams}
	return mock.FuncPeer(func(nc net.Conn) {
		cfg := mock.ServerTLSConfig()
		cfg.NextProtos = []string{"h2"}
		tc := tls.Server(nc, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		srv.ServeConn(tc, &http2.ServeConnOpts{Handler: h})
	})
}

// h2cPeer serves h over h2c with x/net's server.
func h2cPeer(srv *http2.Server, h http.Handler) mock.Peer {
	return mock.FuncPeer(func(nc net.Conn) {
		srv.ServeConn(nc, &http2.ServeConnOpts{Handler: h})
	})
}

func TestH2SharedFirstDial(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.H2C), mock.Delay(50*time.Millisecond))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://a.test/", nil)
			_, body, err := do(t, tr, req)
			if err == nil && body != "hello" {
				err = errors.New(body)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := tr.Stats(); s.Dials != 1 || s.HTTP2 != 1 || s.Idle != 1 {
		t.Errorf("stats %+v: want one shared dial", s)
	}
}

func TestH2SharedDialFails(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	b.Handle("a.test:80", mock.ScriptPeer(), mock.Refuse(), mock.Delay(20*time.Millisecond))
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://a.test/", nil)
			if _, err := tr.RoundTrip(req); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 5 {
		t.Errorf("%d of 5 failed", failed.Load())
	}
	if s := tr.Stats(); s.Open != 0 {
		t.Errorf("stats %+v after failed dials", s)
	}
}

// TestH2SharedDialerCanceled shows that callers waiting for a shared dial
// go on when the dialer's context ends.
func TestH2SharedDialerCanceled(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	stall := make(chan struct{})
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.H2C))
	b.Handle("slow.test:80", mock.FuncPeer(func(nc net.Conn) {
		<-stall
		nc.Close()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	first := goGet(ctx, tr, "http://slow.test/")
	// The first caller is waiting for the peer's SETTINGS; a second one
	// waits for its dial.
	testenv.Eventually(t, 10*time.Second, func() bool { return dialPending(tr, key{scheme: "http", host: "slow.test"}) })
	ctx2, cancel2 := context.WithCancel(context.Background())
	second := goGet(ctx2, tr, "http://slow.test/")
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("dialer: %v", err)
	}
	cancel2()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("waiter: %v", err)
	}
	close(stall)
}

// goAwayAfter serves h2c with x/net's server and sends GOAWAY once n
// requests have started on a connection, like nginx's
// keepalive_requests.
func goAwayAfter(n int) mock.Peer {
	return mock.FuncPeer(func(nc net.Conn) {
		srv := &http2.Server{}
		var count atomic.Int32
		var once sync.Once
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if int(count.Add(1)) >= n {
				once.Do(func() {
					// Setting Connection: close on an HTTP/2 response makes
					// x/net's server send GOAWAY after it.
					w.Header().Set("Connection", "close")
				})
			}
			io.WriteString(w, "ok")
		})
		srv.ServeConn(nc, &http2.ServeConnOpts{Handler: h})
	})
}

func TestH2GoAwayReplaced(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := mock.New()
	defer b.Close()
	tr := &Transport{Backend: b, H2C: true}
	defer tr.Close()
	b.Handle("a.test:80", goAwayAfter(3))
	for i := range 10 {
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		if _, body, err := do(t, tr, req); err != nil || body != "ok" {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
	}
	if s := tr.Stats(); s.Dials < 3 || s.HTTP2 > 1 {
		t.Errorf("stats %+v: want a new connection after each GOAWAY and the old ones closed", s)
	}
}

// holdFirstStream serves a.test:80 on b with x/net's HTTP/2 server, one
// stream a connection, answering "ok"; the first request waits in the
// handler until hold is closed. It sends that first request through tr
// from a goroutine of its own, its error to come on first, and returns
// once the request is in the handler.
func holdFirstStream(t *testing.T, tr *Transport, b *mock.Backend) (hold chan<- struct{}, first <-chan error) {
	t.Helper()
	var n atomic.Int32
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-release
		}
		io.WriteString(w, "ok")
	})
	b.Handle("a.test:80", h2cPeer(&http2.Server{MaxConcurrentStreams: 1}, h))
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		_, _, err := do(t, tr, req)
		errc <- err
	}()
	testenv.Eventually(t, 10*time.Second, func() bool { return n.Load() > 0 }) // the first request arrives
	return release, errc
}

func TestH2FullConnectionDialsAnother(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	hold, first := holdFirstStream(t, tr, b)
	// The connection is full: a second request gets a second connection.
	req, _ := http.NewRequest("POST", "http://a.test/", strings.NewReader("body"))
	if _, body, err := do(t, tr, req); err != nil || body != "ok" {
		t.Fatalf("%q %v", body, err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.Dials != 2 || s.HTTP2 != 2 || s.Idle != 2 {
		t.Errorf("stats %+v", s)
	}
	tr.CloseIdleConnections()
	if s := tr.Stats(); s.Open != 0 || s.HTTP2 != 0 {
		t.Errorf("stats after CloseIdleConnections %+v", s)
	}
}

// refuseFirstStream is a raw HTTP/2 peer that refuses the first stream of
// each connection with RST_STREAM(REFUSED_STREAM) and answers the others,
// once their body is whole, with 200 and "ok".
func refuseFirstStream(nc net.Conn) {
	first := true
	rawH2Peer(true, func(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32) bool {
		if first {
			first = false
			fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
			return true
		}
		writeHead(fr, enc, hbuf, id, false)
		fr.WriteData(id, true, []byte("ok"))
		return true
	})(nc)
}

func TestH2RefusedStreamRetried(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	b.Handle("a.test:80", mock.FuncPeer(refuseFirstStream))
	// A POST whose body GetBody gives again is retried: the server did
	// not process it.
	req, _ := http.NewRequest("POST", "http://a.test/", strings.NewReader("body"))
	if _, body, err := do(t, tr, req); err != nil || body != "ok" {
		t.Fatalf("%q %v", body, err)
	}
	// A body that cannot be had again is not: the refusal is returned.
	tr.CloseIdleConnections()
	req, _ = http.NewRequest("POST", "http://a.test/", onlyReader{strings.NewReader("body")})
	req.Body = io.NopCloser(req.Body)
	if _, _, err := do(t, tr, req); !errors.Is(err, h2.ErrRetryable) {
		t.Fatalf("POST without GetBody: %v", err)
	}
}

// poolState reports, under k's pool lock, whether a dial that other
// callers may share is pending and whether a caller waits on it (it
// subscribed to the dial's news). Both are false when there is no pool.
func poolState(tr *Transport, k key) (pending, waited bool) {
	tr.mu.RLock()
	p := tr.pools[k]
	tr.mu.RUnlock()
	if p == nil {
		return false, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending != nil, p.pending != nil && p.news != nil
}

// dialPending reports whether k's pool has a dial other callers may share.
func dialPending(tr *Transport, k key) bool {
	pending, _ := poolState(tr, k)
	return pending
}

// dialWaited reports whether a caller waits for the pending dial of k's
// pool.
func dialWaited(tr *Transport, k key) bool {
	_, waited := poolState(tr, k)
	return waited
}

// TestH2AtMaxConnsPerHost shows that at MaxConnsPerHost, with its only
// HTTP/2 connection full, a request waits for a stream on that connection
// rather than dialing.
func TestH2AtMaxConnsPerHost(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	tr.MaxConnsPerHost = 1
	hold, first := holdFirstStream(t, tr, b)
	second := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		_, body, err := do(t, tr, req)
		if err == nil && body != "ok" {
			err = errors.New(body)
		}
		second <- err
	}()
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.Dials != 1 {
		t.Errorf("stats %+v: want one connection at MaxConnsPerHost 1", s)
	}
}

// TestH2IdleConnTimeout: an idle HTTP/2 connection is closed after
// IdleConnTimeout while a busy one stays, until it is idle in turn.
//
// It runs in a synctest bubble: the mock backend is in memory, so the
// timers run on the bubble's clock, however loaded the machine.
func TestH2IdleConnTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, b := newMockTransport(t)
		tr.H2C = true
		tr.IdleConnTimeout = 30 * time.Millisecond
		b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.H2C))
		b.Handle("b.test:80", mock.HandlerPeer(helloHandler(), mock.H2C))
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		if _, body, err := do(t, tr, req); err != nil || body != "hello" {
			t.Fatalf("%q %v", body, err)
		}
		// A second origin's connection stays busy (its body unread) while
		// the first expires.
		req, _ = http.NewRequest("GET", "http://b.test/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		// The idle connection expires.
		testenv.Eventually(t, 10*time.Second, func() bool { return tr.Stats().HTTP2 == 1 })
		io.ReadAll(resp.Body)
		resp.Body.Close()
		// So does the second, once idle.
		testenv.Eventually(t, 10*time.Second, func() bool { return tr.Stats().HTTP2 == 0 })
		if s := tr.Stats(); s.Open != 0 || s.Dials != 2 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestH2CloseWithBusyConnection shows that Close lets a request in flight
// finish and then closes its connection.
func TestH2CloseWithBusyConnection(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := mock.New()
	defer b.Close()
	tr := &Transport{Backend: b, H2C: true, MaxResponseHeaderBytes: 64 << 10}
	b.Handle("a.test:80", mock.HandlerPeer(helloHandler(), mock.H2C))
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if s := tr.Stats(); s.HTTP2 != 1 {
		t.Errorf("busy connection closed by Close: %+v", s)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(data) != "hello" {
		t.Fatalf("%q %v", data, err)
	}
	if s := tr.Stats(); s.Open != 0 || s.HTTP2 != 0 {
		t.Errorf("stats after the last body ended: %+v", s)
	}
}

// TestH2WaiterCanceled shows that a caller waiting for a shared dial
// leaves when its context ends, and the dial goes on.
func TestH2WaiterCanceled(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	stall := make(chan struct{})
	b.Handle("slow.test:80", mock.FuncPeer(func(nc net.Conn) {
		<-stall
		nc.Close()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := goGet(ctx, tr, "http://slow.test/")
	testenv.Eventually(t, 10*time.Second, func() bool { return dialPending(tr, key{scheme: "http", host: "slow.test"}) })
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	req, _ := http.NewRequestWithContext(ctx2, "GET", "http://slow.test/", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter: %v", err)
	}
	if !dialPending(tr, key{scheme: "http", host: "slow.test"}) {
		t.Error("the dial ended with its waiter")
	}
	close(stall) // the peer closes: the dial fails
	if err := <-first; err == nil {
		t.Error("dial to a peer that closed succeeded")
	}
}

// churnPeers are h2c servers that allow one stream per connection and
// end each connection after three requests: with GOAWAY (x/net's
// server), or by closing it.
var churnPeers = []struct {
	name  string
	serve func(net.Conn)
}{
	{"goaway", func(nc net.Conn) {
		defer nc.Close()
		var count atomic.Int32
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if count.Add(1) >= 3 {
				// Connection: close on an HTTP/2 response makes x/net's
				// server send GOAWAY after it.
				w.Header().Set("Connection", "close")
			}
			io.WriteString(w, "ok")
		})
		(&http2.Server{MaxConcurrentStreams: 1}).ServeConn(nc, &http2.ServeConnOpts{Handler: h})
	}},
	{"drop", func(nc net.Conn) { dropAfter(nc, 3) }},
}

// TestH2MaxConnsPerHostChurn runs GETs from many goroutines at
// MaxConnsPerHost 1 and 4 against churnPeers on the mock backend, so
// that connections keep going away while callers wait for them. No
// request may fail, the process must not crash (it did: a nil
// connection when every connection went away between two checks), and
// every stream the transport dialed must be closed in the end.
func TestH2MaxConnsPerHostChurn(t *testing.T) {
	for _, peer := range churnPeers {
		for _, max := range []int{1, 4} {
			t.Run(peer.name+"/"+strconv.Itoa(max), func(t *testing.T) {
				b := mock.New()
				defer b.Close()
				b.Handle("a.test:80", mock.FuncPeer(peer.serve))
				testChurn(t, b, "http://a.test/", max, 16, 40)
			})
		}
	}
}

// TestH2MaxConnsPerHostRetries is TestH2MaxConnsPerHostChurn over
// loopback TCP with 64 callers, where requests meet connections that
// are going away far more often: every request the server did not
// process must be sent again, so that no GET fails with ErrNotProcessed
// (or any other error).
func TestH2MaxConnsPerHostRetries(t *testing.T) {
	for _, peer := range churnPeers {
		for _, max := range []int{1, 4} {
			t.Run(peer.name+"/"+strconv.Itoa(max), func(t *testing.T) {
				addr := testenv.Serve(t, nil, peer.serve)
				testChurn(t, loopbackBackend(t), "http://"+addr+"/", max, 64, 10)
			})
		}
	}
}

// testChurn runs callers goroutines that GET url each times through a
// Transport on b with MaxConnsPerHost max, and checks that none failed
// and that every stream was closed once the transport is.
func testChurn(t *testing.T, b transport.Backend, url string, max, callers, each int) {
	cb := &countingBackend{Backend: b}
	tr := &Transport{Backend: cb, H2C: true, MaxConnsPerHost: max}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed, notProcessed atomic.Int32
	errs := make(chan error, callers*each)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && string(body) != "ok" {
						err = errors.New(string(body))
					}
				}
				if err != nil {
					failed.Add(1)
					if errors.Is(err, h2.ErrRetryable) || errors.Is(err, ErrNotProcessed) {
						notProcessed.Add(1)
					}
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed (%d not processed); first: %v", n, callers*each, notProcessed.Load(), <-errs)
	}
	if s := tr.Stats(); s.Open > max {
		t.Errorf("stats %+v: more than %d connections", s, max)
	}
	tr.Close()
	if s := tr.Stats(); s.Open != 0 {
		t.Errorf("stats after Close %+v", s)
	}
	if n := cb.open.Load(); n != 0 {
		t.Errorf("%d streams left open by the transport", n)
	}
}

// dropAfter is a raw HTTP/2 peer allowing one stream at a time that
// answers n requests with 200 and "ok", then closes the connection
// without GOAWAY.
func dropAfter(nc net.Conn, n int) {
	defer nc.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil {
		return
	}
	fr := http2.NewFramer(nc, nc)
	if fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}) != nil {
		return
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for n > 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				writeHead(fr, enc, &hbuf, f.StreamID, false)
				fr.WriteData(f.StreamID, true, []byte("ok"))
				n--
			}
		}
	}
}

// countingBackend counts the streams its backend dialed that are not
// closed yet.
type countingBackend struct {
	transport.Backend
	open atomic.Int64
}

func (b *countingBackend) Dial(ctx context.Context, network, addr string) (transport.Stream, error) {
	s, err := b.Backend.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	b.open.Add(1)
	return &countedStream{Stream: s, b: b}, nil
}

type countedStream struct {
	transport.Stream
	b    *countingBackend
	once sync.Once
}

func (s *countedStream) Close() error {
	s.once.Do(func() { s.b.open.Add(-1) })
	return s.Stream.Close()
}

// TestH2NoBodyFreesSlot shows that, at MaxConnsPerHost, a response
// without a body (204) gives its stream slot to the next waiting caller
// once its (empty) body is closed.
func TestH2NoBodyFreesSlot(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	tr.MaxConnsPerHost = 1
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	b.Handle("a.test:80", h2cPeer(&http2.Server{MaxConcurrentStreams: 1}, h))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					err = errors.New(resp.Status)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if s := tr.Stats(); s.Dials != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestH2NoStreamsYet: the server's first SETTINGS allow no streams
// (SETTINGS_MAX_CONCURRENT_STREAMS 0), and a later SETTINGS raises the
// limit. The request that dialed the connection waits on it for a
// stream, and goes when the limit is raised: a connection that allows no
// streams for now has not gone away, and dialing others would meet the
// same server.
//
// It runs in a synctest bubble, so that the server's pause is no time.
func TestH2NoStreamsYet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, b := newMockTransport(t)
		tr.H2C = true
		b.Handle("a.test:80", mock.FuncPeer(func(nc net.Conn) {
			defer nc.Close()
			if _, err := io.ReadFull(nc, make([]byte, len(http2.ClientPreface))); err != nil {
				return
			}
			fr := http2.NewFramer(nc, nc)
			var mu sync.Mutex // guards fr's writing side
			if fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 0}) != nil {
				return
			}
			done := make(chan struct{})
			defer close(done)
			go func() {
				select {
				case <-time.After(200 * time.Millisecond):
				case <-done:
					return
				}
				mu.Lock()
				fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 10})
				mu.Unlock()
			}()
			var hbuf bytes.Buffer
			enc := hpack.NewEncoder(&hbuf)
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				mu.Lock()
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						fr.WriteSettingsAck()
					}
				case *http2.HeadersFrame:
					writeHead(fr, enc, &hbuf, f.StreamID, false)
					fr.WriteData(f.StreamID, true, []byte("ok"))
				}
				mu.Unlock()
			}
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a timing
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v (stats %+v)", err, tr.Stats())
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "ok" {
			t.Fatalf("body %q, %v", body, err)
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Errorf("the response came after %v, want when the limit was raised (200ms)", d)
		}
		if s := tr.Stats(); s.Dials != 1 {
			t.Errorf("stats %+v, want one dial", s)
		}
	})
}

// TestH2UploadAfterResponseHoldsSlot: at MaxConnsPerHost 1, on a server
// allowing one stream, a POST answered without a body while its request
// body is still being sent holds the stream: a GET waits for it, and goes
// on the same connection once the request body has ended.
//
// It runs in a synctest bubble, so that the GET is known to wait.
func TestH2UploadAfterResponseHoldsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, b := newMockTransport(t)
		tr.H2C = true
		tr.MaxConnsPerHost = 1
		b.Handle("a.test:80", mock.FuncPeer(func(nc net.Conn) {
			defer nc.Close()
			if _, err := io.ReadFull(nc, make([]byte, len(http2.ClientPreface))); err != nil {
				return
			}
			fr := http2.NewFramer(nc, nc)
			if fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}) != nil {
				return
			}
			var hbuf bytes.Buffer
			enc := hpack.NewEncoder(&hbuf)
			answered := false
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						fr.WriteSettingsAck()
					}
				case *http2.DataFrame:
					if !answered { // the POST's: answered at once, no body
						answered = true
						writeHead(fr, enc, &hbuf, f.StreamID, true)
					}
				case *http2.HeadersFrame:
					if f.StreamEnded() { // the GET
						writeHead(fr, enc, &hbuf, f.StreamID, false)
						fr.WriteData(f.StreamID, true, []byte("ok"))
					}
				}
			}
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a timing
		defer cancel()
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("first part"))
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://a.test/", pr)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
		got := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				var body []byte
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && string(body) != "ok" {
					err = errors.New(string(body))
				}
			}
			got <- err
		}()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("GET ended while the POST held the one stream: %v", err)
		default:
		}
		pw.Close() // the POST's body ends: its stream closes
		if err := <-got; err != nil {
			t.Fatalf("GET: %v", err)
		}
		if s := tr.Stats(); s.Dials != 1 {
			t.Errorf("stats %+v, want one connection", s)
		}
	})
}
