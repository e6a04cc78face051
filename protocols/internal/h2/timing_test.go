package h2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/prototest"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// TestResponseHeaderTimeout: a response head that does not come within
// Options.ResponseHeaderTimeout fails the request with a timeout and
// resets its stream only.
//
// It runs in a synctest bubble: the mock backend is in memory, so its
// timeouts run on the bubble's clock, however loaded the machine.
func TestResponseHeaderTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-r.Context().Done()
				close(reset)
				return
			}
			io.WriteString(w, "fast")
		})
		c := mockH2C(t, h, 0, Options{ResponseHeaderTimeout: 50 * time.Millisecond})
		_, _, err := get(testContext(t), c, "http://h2c.test/slow")
		var ne net.Error
		if !errors.Is(err, ErrResponseHeaderTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) ||
			!errors.As(err, &ne) || !ne.Timeout() || IsRetryable(err) {
			t.Fatalf("GET: %v, want a response header timeout", err)
		}
		select {
		case <-reset:
		case <-time.After(testTimeout):
			t.Fatal("the server never saw the stream reset")
		}
		if body, _, err := get(testContext(t), c, "http://h2c.test/"); err != nil || body != "fast" {
			t.Fatalf("next GET: %q, %v", body, err)
		}
	})
}

// TestResponseHeaderTimeoutAfterBody: the timeout counts from the end of
// the request body, not from its head.
//
// It runs in a synctest bubble: the mock backend is in memory, so its
// timeouts run on the bubble's clock, however loaded the machine.
func TestResponseHeaderTimeoutAfterBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
		})
		c := mockH2C(t, h, 0, Options{ResponseHeaderTimeout: 100 * time.Millisecond})
		body := io.MultiReader(strings.NewReader("abc"), &slowReader{d: 300 * time.Millisecond})
		req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://h2c.test/", body)
		if got, _, err := doRequest(c, req); err != nil || got != "3" {
			t.Fatalf("POST with a slow body: %q, %v", got, err)
		}
	})
}

// slowReader ends after a delay.
type slowReader struct{ d time.Duration }

func (s *slowReader) Read([]byte) (int, error) { time.Sleep(s.d); return 0, io.EOF }

// TestExpectContinue: with "Expect: 100-continue" the body waits for the
// 100 Continue (net/http's server sends it when the handler reads), or
// for ExpectContinueTimeout; a final response that comes instead means
// the body is not sent; with a zero timeout it goes at once.
//
// The timeout cases run in synctest bubbles: the mock backend is in
// memory, so the timeout runs on the bubble's clock, however loaded the
// machine.
func TestExpectContinue(t *testing.T) {
	t.Run("Continue", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
		})
		c := mockH2C(t, h, 0, Options{ExpectContinueTimeout: testTimeout})
		var waited, continued bool
		trace := &httptrace.ClientTrace{
			Wait100Continue: func() { waited = true },
			Got100Continue:  func() { continued = true },
		}
		ctx := httptrace.WithClientTrace(testContext(t), trace)
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://h2c.test/", bytes.NewReader(make([]byte, 100<<10)))
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		if got, _, err := doRequest(c, req); err != nil || got != fmt.Sprint(100<<10) {
			t.Fatalf("POST: %q, %v", got, err)
		}
		if !waited || !continued || time.Since(start) > testTimeout/2 {
			t.Fatalf("waited %v, continued %v after %v", waited, continued, time.Since(start))
		}
	})
	t.Run("FinalInstead", func(t *testing.T) {
		reset := make(chan struct{})
		c := rawH2C(t, Options{ExpectContinueTimeout: testTimeout}, func(p *rawPeer) {
			if !p.handshake() {
				return
			}
			h := p.readHeaders()
			if h == nil {
				return
			}
			p.respondFields(h.StreamID, "", ":status", "417")
			for {
				f, err := p.fr.ReadFrame()
				if err != nil {
					p.t.Error("peer: no RST_STREAM")
					return
				}
				switch f := f.(type) {
				case *http2.DataFrame:
					p.t.Errorf("peer: the body was sent (%d bytes)", len(f.Data()))
				case *http2.RSTStreamFrame:
					if f.StreamID == h.StreamID && f.ErrCode == http2.ErrCodeNo {
						close(reset)
						p.drain()
						return
					}
				}
			}
		})
		body := &countingReader{r: strings.NewReader("never read")}
		req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", body)
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		got, resp, err := doRequest(c, req)
		if err != nil || resp.StatusCode != 417 || got != "" {
			t.Fatalf("POST: %v %v", resp, err)
		}
		if body.n > 0 || time.Since(start) > testTimeout/2 {
			t.Fatalf("body read %d bytes; took %v", body.n, time.Since(start))
		}
		select { // this side's half of the stream closes, without the body
		case <-reset:
		case <-time.After(testTimeout):
			t.Fatal("no RST_STREAM(NO_ERROR)")
		}
	})
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"Timeout", 200 * time.Millisecond}, {"NoTimeout", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gap := make(chan time.Duration, 1)
				c := rawH2C(t, Options{ExpectContinueTimeout: tc.timeout}, func(p *rawPeer) {
					if !p.handshake() {
						return
					}
					h := p.readHeaders()
					if h == nil {
						return
					}
					headAt := time.Now()
					var body []byte
					for {
						f, err := p.fr.ReadFrame()
						if err != nil {
							return
						}
						if d, ok := f.(*http2.DataFrame); ok {
							if body == nil {
								gap <- time.Since(headAt)
							}
							body = append(body, d.Data()...)
							if d.StreamEnded() {
								p.respond(h.StreamID, string(body))
								p.drain()
								return
							}
						}
					}
				})
				var waited bool
				ctx := httptrace.WithClientTrace(testContext(t), &httptrace.ClientTrace{Wait100Continue: func() { waited = true }})
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://raw.test/", io.NopCloser(strings.NewReader("body")))
				req.Header.Set("Expect", "100-continue")
				if got, _, err := doRequest(c, req); err != nil || got != "body" {
					t.Fatalf("POST: %q, %v", got, err)
				}
				d := <-gap
				// The peer's clock starts when it reads the head, a little after
				// the client's: half the timeout tells waiting from not.
				if tc.timeout > 0 && (d < tc.timeout/2 || !waited) {
					t.Fatalf("body sent %v after the head, waited %v: want the %v timeout", d, waited, tc.timeout)
				}
				if tc.timeout == 0 && waited {
					t.Fatal("Wait100Continue with no ExpectContinueTimeout")
				}
			})
		})
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	mu sync.Mutex
	r  io.Reader
	n  int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestTraceLikeNetHTTP runs the same requests through this package's
// Conn and net/http's HTTP/2 client, each with an httptrace.ClientTrace,
// and compares the request-level hooks called (the connection-level ones
// are the pool's): the hooks of the writing side, in order, and those of
// the reading side, in order, are net/http's; and ours come in the one
// order causality allows (net/http's can interleave the two sides the
// other way when the response is fast).
func TestTraceLikeNetHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "done")
	})
	b := newMock(t)
	b.Handle("h2c.test:80", h2cServerPeer(nil, h))
	s, err := b.Dial(testContext(t), "tcp", "h2c.test:80")
	if err != nil {
		t.Fatal(err)
	}
	ours := startConn(t, s, Options{ExpectContinueTimeout: testTimeout})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	theirs := &http.Transport{
		Protocols:             &p,
		ExpectContinueTimeout: testTimeout,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return b.Dial(ctx, "tcp", "h2c.test:80")
		},
	}
	t.Cleanup(theirs.CloseIdleConnections)

	fields, headers, wrote := "WroteHeaderField", "WroteHeaders", "WroteRequest(<nil>)"
	first := "GotFirstResponseByte"
	for _, tc := range []struct {
		name, method, path string
		body               string
		expect             bool
		order              []string // ours, in full
	}{
		{"GET", "GET", "/", "", false, []string{fields, headers, wrote, first}},
		{"POST", "POST", "/", "payload", false, []string{fields, headers, wrote, first}},
		{"Continue", "POST", "/", "payload", true, []string{fields, headers, "Wait100Continue", first, "Got1xxResponse(100 )", "Got100Continue", wrote}},
		{"EarlyHints", "GET", "/hints", "", false, []string{fields, headers, wrote, first, "Got1xxResponse(103 </style.css>; rel=preload)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(rt http.RoundTripper) ([]string, []string) {
				var l prototest.TraceLog
				ctx := httptrace.WithClientTrace(testContext(t), l.Trace())
				var body io.Reader
				if tc.body != "" {
					body = io.NopCloser(strings.NewReader(tc.body)) // streamed, as net/http does
				}
				req, _ := http.NewRequestWithContext(ctx, tc.method, "http://h2c.test"+tc.path, body)
				if tc.expect {
					req.Header.Set("Expect", "100-continue")
				}
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != "done" {
					t.Fatalf("body %q", got)
				}
				return l.Events(), l.FieldNames()
			}
			want, _ := run(theirs)
			got, names := run(ours)
			if !prototest.SameSides(t, got, want) {
				t.FailNow()
			}
			if !slices.Equal(got, tc.order) {
				t.Fatalf("hooks in the order %q, want %q", got, tc.order)
			}
			for _, f := range []string{":authority", ":method", ":path", ":scheme"} {
				if !slices.Contains(names, f) {
					t.Fatalf("WroteHeaderField never got %s: %q", f, names)
				}
			}
		})
	}
}

// TestBodyCloseResetsStream: closing a response body before its end
// resets its stream only; the connection goes on.
func TestBodyCloseResetsStream(t *testing.T) {
	reset := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/long" {
			io.WriteString(w, "short")
			return
		}
		defer close(reset)
		for r.Context().Err() == nil {
			if _, err := w.Write(make([]byte, 16<<10)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	c := mockH2C(t, h, 0, Options{})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h2c.test/long", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, ErrBodyClosed) {
		t.Fatalf("Read after Close: %v, want ErrBodyClosed", err)
	}
	select {
	case <-reset:
	case <-time.After(testTimeout):
		t.Fatal("the server never saw the stream reset")
	}
	if st := c.State(); st.Active != 0 || st.GoingAway {
		t.Fatalf("State = %+v", st)
	}
	if body, _, err := get(testContext(t), c, "http://h2c.test/"); err != nil || body != "short" {
		t.Fatalf("next GET: %q, %v", body, err)
	}
}

// TestConnEndsMidBody: a body being read when the Conn is closed fails
// with ErrClosed; when the peer closes, with io.ErrUnexpectedEOF.
func TestConnEndsMidBody(t *testing.T) {
	for _, byPeer := range []bool{false, true} {
		t.Run(fmt.Sprintf("byPeer=%v", byPeer), func(t *testing.T) {
			sent := make(chan struct{})
			c := rawH2C(t, Options{}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				h := p.readHeaders()
				if h == nil {
					return
				}
				p.write(func() error {
					if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: p.encode(":status", "200"), EndHeaders: true}); err != nil {
						return err
					}
					return p.fr.WriteData(h.StreamID, false, []byte("part"))
				})
				close(sent)
				if !byPeer {
					p.drain()
				}
			})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://raw.test/", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			<-sent
			if !byPeer {
				c.Close()
			}
			b, err := io.ReadAll(resp.Body)
			if byPeer && (!errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "part") {
				t.Fatalf("body %q, %v: want the part and io.ErrUnexpectedEOF", b, err)
			}
			if !byPeer && !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("body %q, %v: want ErrClosed", b, err)
			}
		})
	}
}

// TestRequestBodyStopped: a request body being sent stops, and is
// closed, when the server answers with an error status without reading
// it, or resets the stream.
func TestRequestBodyStopped(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peer  func(p *rawPeer, stream uint32)
		check func(t *testing.T, resp *http.Response, err error)
	}{
		{"ErrorStatus", func(p *rawPeer, s uint32) { p.respondFields(s, "too big", ":status", "413") },
			func(t *testing.T, resp *http.Response, err error) {
				if err != nil || resp.StatusCode != 413 {
					t.Fatalf("%v %v", resp, err)
				}
			}},
		{"Reset", func(p *rawPeer, s uint32) {
			p.write(func() error { return p.fr.WriteRSTStream(s, http2.ErrCodeCancel) })
		},
			func(t *testing.T, resp *http.Response, err error) {
				var se http2.StreamError
				if !errors.As(err, &se) || se.Code != http2.ErrCodeCancel {
					t.Fatalf("%v: want a CANCEL StreamError", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawH2C(t, Options{}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				if h := p.readHeaders(); h != nil {
					tc.peer(p, h.StreamID)
				}
				p.drain()
			})
			pr, pw := io.Pipe()
			req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", pr)
			go pw.Write([]byte("some of the body"))
			resp, err := c.RoundTrip(req)
			if resp != nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			tc.check(t, resp, err)
			// The transport closes the body (the body writer may take one
			// more piece before it does): writes to the pipe fail.
			done := make(chan error, 1)
			go func() {
				for {
					if _, err := pw.Write([]byte("more")); err != nil {
						done <- err
						return
					}
				}
			}()
			select {
			case err := <-done:
				if !errors.Is(err, io.ErrClosedPipe) {
					t.Fatalf("write after the body stopped: %v", err)
				}
			case <-time.After(testTimeout):
				pw.Close()
				t.Fatal("the request body was never closed")
			}
		})
	}
}

// TestWriteByteTimeout: a peer that stops reading makes writes stall;
// the connection closes after WriteByteTimeout instead of hanging.
//
// It runs in a synctest bubble: the mock backend is in memory, so its
// timeouts run on the bubble's clock, however loaded the machine.
func TestWriteByteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		savedGrace := writeFailGrace
		writeFailGrace = 50 * time.Millisecond
		defer func() { writeFailGrace = savedGrace }()
		stop := make(chan struct{})
		defer close(stop)
		c := rawH2C(t, Options{WriteByteTimeout: 50 * time.Millisecond}, func(p *rawPeer) {
			if !p.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}) {
				return
			}
			p.write(func() error { return p.fr.WriteWindowUpdate(0, 1<<30) })
			p.readHeaders()
			<-stop // reads nothing more
		})
		<-c.Ready()
		req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", io.NopCloser(bytes.NewReader(make([]byte, 8<<20))))
		if _, err := c.RoundTrip(req); err == nil {
			t.Fatal("POST succeeded")
		}
		testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
	})
}

// TestCancelInterruptsBlockedWrite: a RoundTrip blocked writing its head
// to a peer that stopped reading returns soon after its context ends
// (the connection, left with part of a frame written, closes).
//
// It runs in a synctest bubble (the mock backend is in memory), so that
// synctest.Wait tells when the write is blocked.
func TestCancelInterruptsBlockedWrite(t *testing.T) {
	savedGrace := writeFailGrace
	writeFailGrace = 50 * time.Millisecond
	defer func() { writeFailGrace = savedGrace }()
	saved := interruptGrace
	interruptGrace = 20 * time.Millisecond
	defer func() { interruptGrace = saved }()
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		c := rawH2C(t, Options{}, func(p *rawPeer) {
			if p.handshake() {
				<-stop // reads nothing more
			}
		})
		<-c.Ready()
		req, _ := http.NewRequest("GET", "http://raw.test/", nil)
		req.Header.Set("X-Huge", strings.Repeat("h", 4<<20)) // more than the pipe holds
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		req = req.WithContext(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := c.RoundTrip(req)
			errc <- err
		}()
		synctest.Wait() // the head is being written, blocked on the full pipe
		c.wmu.Lock()
		flushing := c.flushing
		c.wmu.Unlock()
		if !flushing {
			t.Fatal("RoundTrip blocked elsewhere than writing its head")
		}
		start := time.Now()
		cancel()
		err := <-errc
		if err == nil || time.Since(start) > testTimeout/2 {
			t.Fatalf("RoundTrip: %v after %v", err, time.Since(start))
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RoundTrip: %v, want context.Canceled", err)
		}
		testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
	})
}

// TestIdleConnHoldsNoBuffers: once its requests are over, a connection
// holds no read buffer from the pool and no write buffer.
func TestIdleConnHoldsNoBuffers(t *testing.T) {
	b := newMock(t)
	b.Handle("h2.test:443", mock.TLSHandlerPeer(hello, nil))
	var conns []*Conn
	for range 4 {
		s, err := b.DialTLS(testContext(t), "tcp", "h2.test:443", tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		c := startConn(t, s, Options{})
		for i := range 3 {
			if _, _, err := get(testContext(t), c, fmt.Sprintf("https://h2.test/%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	testenv.Eventually(t, testTimeout, func() bool { return bigReadBufs.Load() == 0 })
	for _, c := range conns {
		c.wmu.Lock()
		held := c.wbuf != nil || c.wspare != nil
		c.wmu.Unlock()
		if held {
			t.Fatal("an idle connection holds a write buffer")
		}
	}
}

// TestBodyGoesOnAfterResponse: a 2xx response that ends before the
// request body does not stop it (as with net/http); the stream closes
// once the body has ended, and no RST_STREAM is sent.
func TestBodyGoesOnAfterResponse(t *testing.T) {
	got := make(chan string, 1)
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil {
			return
		}
		p.respondFields(h.StreamID, "", ":status", "200")
		var body []byte
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.RSTStreamFrame:
				p.t.Errorf("peer: RST_STREAM %v", f.ErrCode)
			case *http2.DataFrame:
				body = append(body, f.Data()...)
				if f.StreamEnded() {
					got <- string(body)
					if h := p.readHeaders(); h != nil {
						p.respond(h.StreamID, "next")
					}
					p.drain()
					return
				}
			}
		}
	})
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", pr)
	resp, err := c.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	pw.Write([]byte("after the response"))
	pw.Close()
	select {
	case b := <-got:
		if b != "after the response" {
			t.Fatalf("peer got %q", b)
		}
	case <-time.After(testTimeout):
		t.Fatal("the body never ended")
	}
	if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "next" {
		t.Fatalf("next GET: %q, %v", body, err)
	}
	testenv.Eventually(t, testTimeout, func() bool { return c.openStreams() == 0 })
}
