package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is what a server read of a request.
type seen struct {
	method, uri, host string
	header            http.Header
	body              string
	cl                int64
	te                []string
	trailer           http.Header
	close             bool
}

// recorder is a server that records each request and answers 200.
type recorder struct {
	*rawServer
	mu   sync.Mutex
	reqs []seen
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.rawServer = newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.reqs = append(r.reqs, seen{req.Method, req.RequestURI, req.Host, req.Header, string(b), req.ContentLength, req.TransferEncoding, req.Trailer, req.Close})
			r.mu.Unlock()
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil || req.Close {
				return
			}
		}
	})
	return r
}

func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request recorded")
	}
	return r.reqs[len(r.reqs)-1]
}

// onlyReader hides every method but Read, so the body's length is unknown.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestRequestWriting(t *testing.T) {
	srv := newRecorder(t)
	d := newDialer(t)
	c, log := d.conn(t, srv.Addr(), Options{UserAgent: "tk-test"})
	big := strings.Repeat("x", 1<<20+7)

	do := func(req *http.Request) seen {
		t.Helper()
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return srv.last(t)
	}

	t.Run("get", func(t *testing.T) {
		req := newReq(t, "GET", srv.Addr(), nil)
		req.Header.Set("X-Pad", "  padded\t")
		s := do(req)
		if s.method != "GET" || s.uri != "/path?q=1" || s.host != srv.Addr() || s.header.Get("User-Agent") != "tk-test" {
			t.Errorf("%+v", s)
		}
		if s.header.Get("X-Pad") != "padded" || s.cl != 0 || s.te != nil {
			t.Errorf("%+v", s)
		}
	})
	t.Run("no user agent", func(t *testing.T) {
		req := newReq(t, "GET", srv.Addr(), nil)
		req.Header["User-Agent"] = []string{""}
		if s := do(req); s.header["User-Agent"] != nil {
			t.Errorf("User-Agent %q", s.header["User-Agent"])
		}
		req = newReq(t, "GET", srv.Addr(), nil)
		req.Header.Set("User-Agent", "mine")
		if s := do(req); s.header.Get("User-Agent") != "mine" {
			t.Errorf("User-Agent %q", s.header["User-Agent"])
		}
	})
	t.Run("host and target", func(t *testing.T) {
		req := newReq(t, "GET", srv.Addr(), nil)
		req.Host = "example.com"
		req.URL = &url.URL{Scheme: "http", Host: srv.Addr(), Path: "/a b", RawQuery: "x=1"}
		if s := do(req); s.host != "example.com" || s.uri != "/a%20b?x=1" {
			t.Errorf("%+v", s)
		}
		req.URL = &url.URL{Scheme: "http", Host: srv.Addr(), Path: ""}
		if s := do(req); s.uri != "/" {
			t.Errorf("%+v", s)
		}
		req.URL = &url.URL{Scheme: "http", Host: srv.Addr(), Path: "/q", ForceQuery: true}
		if s := do(req); s.uri != "/q?" {
			t.Errorf("%+v", s)
		}
		req.Method = ""
		req.Host = "[fe80::1%25en0]:80"
		if s := do(req); s.method != "GET" || s.host != "[fe80::1]:80" {
			t.Errorf("%+v", s)
		}
	})
	t.Run("post with length", func(t *testing.T) {
		s := do(newReq(t, "POST", srv.Addr(), strings.NewReader("payload")))
		if s.body != "payload" || s.cl != 7 || s.te != nil {
			t.Errorf("%+v", s)
		}
		s = do(newReq(t, "PUT", srv.Addr(), strings.NewReader(big)))
		if s.body != big || s.cl != int64(len(big)) {
			t.Errorf("big body: %d bytes", len(s.body))
		}
	})
	t.Run("post without body", func(t *testing.T) {
		s := do(newReq(t, "POST", srv.Addr(), nil))
		if s.cl != 0 || s.header.Get("Content-Length") != "0" {
			t.Errorf("%+v", s)
		}
	})
	t.Run("chunked with trailer", func(t *testing.T) {
		req := newReq(t, "POST", srv.Addr(), onlyReader{strings.NewReader(big)})
		req.Trailer = http.Header{"X-Sum": {"99"}}
		s := do(req)
		if s.body != big || !slices.Equal(s.te, []string{"chunked"}) || s.trailer.Get("X-Sum") != "99" {
			t.Errorf("te %v trailer %v body %d bytes", s.te, s.trailer, len(s.body))
		}
		req = newReq(t, "POST", srv.Addr(), strings.NewReader("abc"))
		req.TransferEncoding = []string{"chunked"}
		if s := do(req); s.body != "abc" || s.te == nil {
			t.Errorf("%+v", s)
		}
	})
	t.Run("unknown length probed", func(t *testing.T) {
		req := newReq(t, "GET", srv.Addr(), nil)
		req.Body = io.NopCloser(onlyReader{strings.NewReader("")})
		if s := do(req); s.te != nil || s.cl != 0 {
			t.Errorf("empty body sent as %+v", s)
		}
		req = newReq(t, "PUT", srv.Addr(), nil)
		req.Body = io.NopCloser(onlyReader{strings.NewReader("late")})
		if s := do(req); s.body != "late" || s.te == nil {
			t.Errorf("%+v", s)
		}
	})
	t.Run("close", func(t *testing.T) {
		req := newReq(t, "GET", srv.Addr(), nil)
		req.Close = true
		if s := do(req); !s.close {
			t.Errorf("%+v", s)
		}
		got := log.get()
		if got[len(got)-1] {
			t.Error("connection reused after Connection: close")
		}
	})
}

func TestInvalidRequests(t *testing.T) {
	srv := newRecorder(t)
	d := newDialer(t)
	mk := func(mod func(r *http.Request)) *http.Request {
		r := newReq(t, "POST", srv.Addr(), nil)
		mod(r)
		return r
	}
	tests := []struct {
		name string
		req  *http.Request
		want error
	}{
		{"method", mk(func(r *http.Request) { r.Method = "BAD METHOD" }), ErrInvalidRequest},
		{"nil URL", mk(func(r *http.Request) { r.URL = nil }), ErrInvalidRequest},
		{"no host", mk(func(r *http.Request) { r.URL.Host, r.Host = "", "" }), ErrInvalidRequest},
		{"host with space", mk(func(r *http.Request) { r.Host = "a b" }), ErrInvalidRequest},
		{"field name", mk(func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} }), ErrInvalidRequest},
		{"field value", mk(func(r *http.Request) { r.Header.Set("X", "a\r\nInjected: 1") }), ErrInvalidRequest},
		{"user agent", mk(func(r *http.Request) { r.Header.Set("User-Agent", "a\nb") }), ErrInvalidRequest},
		{"control in target", mk(func(r *http.Request) { r.URL.RawQuery = "a\x7f" }), ErrInvalidRequest},
		{"transfer encoding", mk(func(r *http.Request) { r.TransferEncoding = []string{"gzip"} }), ErrInvalidRequest},
		{"length without body", mk(func(r *http.Request) { r.ContentLength = 5 }), ErrInvalidRequest},
		{"trailer name", mk(func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("x")), -1
			r.Trailer = http.Header{"Bad Name": nil}
		}), ErrInvalidRequest},
		{"short body", mk(func(r *http.Request) { r.Body, r.ContentLength = io.NopCloser(strings.NewReader("abc")), 10 }), ErrBodyLength},
		{"trailer value", mk(func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("x")), -1
			r.Trailer = http.Header{"X-T": {"a\nb"}}
		}), ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, log := d.conn(t, srv.Addr(), Options{})
			body := &closeCounter{r: strings.NewReader(""), closed: 1}
			if tt.req.Body != nil {
				body.r, body.closed = tt.req.Body, 0
				tt.req.Body = body
			}
			_, err := c.RoundTrip(tt.req)
			var e *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) || !e.NoResponse {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if body.closed == 0 {
				t.Error("request body not closed")
			}
			if len(log.get()) != 1 {
				t.Errorf("OnDone %v", log.get())
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestRequestBodyReadError(t *testing.T) {
	srv := newRecorder(t)
	d := newDialer(t)
	boom := errors.New("boom")
	for _, cl := range []int64{-1, 10, 0} {
		c, log := d.conn(t, srv.Addr(), Options{})
		req := newReq(t, "POST", srv.Addr(), nil)
		req.Body, req.ContentLength = io.NopCloser(errReader{boom}), cl
		if _, err := c.RoundTrip(req); !errors.Is(err, boom) {
			t.Errorf("ContentLength %d: %v", cl, err)
		}
		if !slices.Equal(log.get(), []bool{false}) && !(cl == 0 && slices.Equal(log.get(), []bool{true})) {
			t.Errorf("ContentLength %d: OnDone %v", cl, log.get())
		}
	}
}

func TestExpectContinue(t *testing.T) {
	type result struct {
		gotBody string
	}
	serve := func(answer string, readBody bool) (*rawServer, chan result) {
		ch := make(chan result, 1)
		s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if answer != "" {
				io.WriteString(c, answer)
			}
			var b []byte
			if readBody {
				b, _ = io.ReadAll(req.Body)
			}
			ch <- result{string(b)}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			io.Copy(io.Discard, br)
		})
		return s, ch
	}
	d := newDialer(t)

	// The body goes after a 100 Continue, or once ExpectContinueTimeout
	// passes without an answer.
	for _, tc := range []struct {
		name, interim string
		opts          Options
	}{
		{"continue", "HTTP/1.1 100 Continue\r\n\r\n", Options{ExpectContinueTimeout: time.Minute}},
		{"timeout sends body", "", Options{ExpectContinueTimeout: 20 * time.Millisecond, ResponseHeaderTimeout: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ch := serve(tc.interim, true)
			c, log := d.conn(t, s.Addr(), tc.opts)
			req := newReq(t, "PUT", s.Addr(), strings.NewReader("body"))
			req.Header.Set("Expect", "100-continue")
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if readAll(t, resp) != "ok" || (<-ch).gotBody != "body" || !slices.Equal(log.get(), []bool{true}) {
				t.Errorf("OnDone %v", log.get())
			}
		})
	}
	// A final answer without 100 Continue: as net/http, the body is sent
	// when the connection stays open (it may carry the next request),
	// and dropped when it closes.
	for _, tc := range []struct {
		name, close string
		sent        bool
	}{
		{"final answer", "", true},
		{"final answer closing", "Connection: close\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\n"+tc.close+"Content-Length: 0\r\n\r\n")
				b, _ := io.ReadAll(req.Body)
				got <- string(b)
				io.Copy(io.Discard, br)
			})
			c, log := d.conn(t, s.Addr(), Options{ExpectContinueTimeout: time.Minute})
			body := &closeCounter{r: strings.NewReader("body")}
			req := newReq(t, "PUT", s.Addr(), body)
			req.ContentLength = 4
			req.Header.Set("Expect", "100-continue")
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 417 || body.closed == 0 || !slices.Equal(log.get(), []bool{tc.sent}) {
				t.Errorf("status %d closed %d OnDone %v", resp.StatusCode, body.closed, log.get())
			}
			if tc.sent {
				if b := <-got; b != "body" {
					t.Errorf("server got body %q", b)
				}
			}
		})
	}
	t.Run("server closes", func(t *testing.T) {
		s := newRawServer(t, func(c net.Conn, br *bufio.Reader) { http.ReadRequest(br) })
		c, _ := d.conn(t, s.Addr(), Options{ExpectContinueTimeout: time.Minute})
		body := &closeCounter{r: strings.NewReader("body")}
		req := newReq(t, "PUT", s.Addr(), body)
		req.ContentLength = 4
		req.Header.Set("Expect", "100-continue")
		_, err := c.RoundTrip(req)
		if !errors.Is(err, ErrServerClosed) || body.closed == 0 {
			t.Errorf("error %v, body closed %d", err, body.closed)
		}
	})
}

// TestEarlyResponse: the server answers and closes without reading a
// large body; the client returns the answer or a clean error, and never
// hangs.
func TestEarlyResponse(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	})
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	body := &closeCounter{r: bytes.NewReader(make([]byte, 32<<20))}
	req := newReq(t, "POST", s.Addr(), body)
	req.ContentLength = 32 << 20
	resp, err := c.RoundTrip(req)
	if err == nil && resp.StatusCode != 413 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if body.closed == 0 || !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("body closed %d, OnDone %v", body.closed, log.get())
	}
}

func TestDisableKeepAlives(t *testing.T) {
	srv := newRecorder(t)
	d := newDialer(t)
	c, log := d.conn(t, srv.Addr(), Options{DisableKeepAlives: true})
	resp, err := c.RoundTrip(newReq(t, "GET", srv.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if s := srv.last(t); !s.close || !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("server saw close %v, OnDone %v", s.close, log.get())
	}
}
