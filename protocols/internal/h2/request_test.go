package h2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// TestRequestHead checks the fields of a request head as net/http's
// HTTP/2 client writes them: the four pseudo-headers first, names in
// lower case, connection-specific fields dropped, TE only as "trailers",
// Host from req.Host, cookies split, content-length, the default
// User-Agent and the announced trailers; then the trailers.
func TestRequestHead(t *testing.T) {
	type seen struct {
		head    *http2.MetaHeadersFrame
		trailer *http2.MetaHeadersFrame
		body    []byte
	}
	got := make(chan seen, 2)
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		for range 2 {
			var sn seen
			for sn.trailer == nil {
				f, err := p.fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.MetaHeadersFrame:
					if sn.head == nil {
						sn.head = f
					} else {
						sn.trailer = f
					}
				case *http2.DataFrame:
					sn.body = append(sn.body, f.Data()...)
				}
				if se, ok := f.(interface{ StreamEnded() bool }); ok && se.StreamEnded() {
					break
				}
			}
			got <- sn
			p.respond(sn.head.StreamID, "ok")
		}
		p.drain()
	})
	for _, withTrailer := range []bool{false, true} {
		req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/path?q=1", strings.NewReader("hello"))
		req.Host = "other.test:8080"
		req.Header = http.Header{
			"X-Custom":          {"a"},
			"X-Multi":           {"1", "2"},
			"Connection":        {"keep-alive"},
			"Keep-Alive":        {"timeout=5"},
			"Proxy-Connection":  {"x"},
			"Transfer-Encoding": {"chunked"},
			"Upgrade":           {""},
			"Te":                {"trailers"},
			"Cookie":            {"a=1; b=2"},
			"Content-Length":    {"99"}, // ignored: ContentLength rules
		}
		if withTrailer {
			req.Trailer = http.Header{"X-Trailer": nil}
			req.Body = io.NopCloser(&trailerSetter{r: strings.NewReader("hello"), t: req.Trailer})
		}
		if _, _, err := doRequest(c, req); err != nil {
			t.Fatal(err)
		}
		sn := <-got
		h := sn.head
		var pseudo []string
		for _, f := range h.Fields[:4] {
			pseudo = append(pseudo, f.Name+"="+f.Value)
		}
		if want := []string{":authority=other.test:8080", ":method=POST", ":path=/path?q=1", ":scheme=http"}; !slices.Equal(pseudo, want) {
			t.Fatalf("pseudo-headers %q, want %q", pseudo, want)
		}
		for _, f := range h.Fields {
			if f.Name != strings.ToLower(f.Name) {
				t.Errorf("field name %q not in lower case", f.Name)
			}
		}
		for _, name := range []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"} {
			if vv := field(h, name); vv != nil {
				t.Errorf("%s sent: %q", name, vv)
			}
		}
		checks := map[string][]string{
			"te":             {"trailers"},
			"cookie":         {"a=1", "b=2"},
			"x-custom":       {"a"},
			"x-multi":        {"1", "2"},
			"content-length": {"5"},
			"user-agent":     {DefaultUserAgent},
		}
		if withTrailer {
			checks["trailer"] = []string{"X-Trailer"}
		}
		for name, want := range checks {
			if vv := field(h, name); !slices.Equal(vv, want) {
				t.Errorf("%s = %q, want %q", name, vv, want)
			}
		}
		if string(sn.body) != "hello" {
			t.Errorf("body %q", sn.body)
		}
		if withTrailer {
			if sn.trailer == nil || !slices.Equal(field(sn.trailer, "x-trailer"), []string{"set after the body"}) {
				t.Errorf("trailers %v", sn.trailer)
			}
		}
	}
}

// trailerSetter sets the trailer's value once its reader is drained, as
// a caller streaming a body does.
type trailerSetter struct {
	r io.Reader
	t http.Header
}

func (s *trailerSetter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.t.Set("X-Trailer", "set after the body")
	}
	return n, err
}

// doRequest runs req on c and returns the body.
func doRequest(c *Conn, req *http.Request) (string, *http.Response, error) {
	resp, err := c.RoundTrip(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp, err
}

// TestUserAgent: the request's own User-Agent, Options.UserAgent, the
// default, and none when the request's field is present but empty.
func TestUserAgent(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q", r.Header["User-Agent"])
	})
	cases := []struct {
		opt    string
		header []string // nil: no field
		want   string
	}{
		{"", nil, `["transportkit"]`},
		{"custom/1", nil, `["custom/1"]`},
		{"custom/1", []string{"mine/2"}, `["mine/2"]`},
		{"custom/1", []string{""}, `[]`},
		{"", []string{}, `[]`},
	}
	for _, tc := range cases {
		c := mockH2C(t, h, 0, Options{UserAgent: tc.opt})
		req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h2c.test/", nil)
		if tc.header != nil {
			req.Header["User-Agent"] = tc.header
		}
		body, _, err := doRequest(c, req)
		if err != nil || body != tc.want {
			t.Errorf("Options.UserAgent %q, field %q: server saw %s (%v), want %s", tc.opt, tc.header, body, err, tc.want)
		}
	}
}

// TestInvalidRequest: requests that cannot be sent fail with
// ErrInvalidRequest, close their bodies, and send nothing: the first
// valid request afterwards opens stream 1.
func TestInvalidRequest(t *testing.T) {
	first := make(chan uint32, 1)
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		if h := p.readHeaders(); h != nil {
			first <- h.StreamID
			p.respond(h.StreamID, "ok")
		}
		p.drain()
	})
	newReq := func(mod func(r *http.Request)) *http.Request {
		req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", strings.NewReader("body"))
		mod(req)
		return req
	}
	cases := map[string]*http.Request{
		"HeaderName":       newReq(func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} }),
		"HeaderValue":      newReq(func(r *http.Request) { r.Header.Set("X-Bad", "a\r\nb") }),
		"TrailerKey":       newReq(func(r *http.Request) { r.Trailer = http.Header{"Content-Length": nil} }),
		"TrailerValue":     newReq(func(r *http.Request) { r.Trailer = http.Header{"X-T": {"a\nb"}} }),
		"Method":           newReq(func(r *http.Request) { r.Method = "BAD METHOD" }),
		"NoURL":            newReq(func(r *http.Request) { r.URL = nil }),
		"NoHost":           newReq(func(r *http.Request) { r.URL.Host, r.Host = "", "" }),
		"BadHost":          newReq(func(r *http.Request) { r.Host = "bad host" }),
		"Connection":       newReq(func(r *http.Request) { r.Header.Set("Connection", "upgrade") }),
		"TransferEncoding": newReq(func(r *http.Request) { r.Header.Set("Transfer-Encoding", "gzip") }),
		"Upgrade":          newReq(func(r *http.Request) { r.Header.Set("Upgrade", "websocket") }),
		"Path":             newReq(func(r *http.Request) { r.URL = &url.URL{Scheme: "http", Host: "raw.test", Opaque: "no-slash"} }),
	}
	for name, req := range cases {
		body := newCloseTracker(req.Body)
		req.Body = body
		_, err := c.RoundTrip(req)
		var oe *transport.OpError
		if !errors.Is(err, ErrInvalidRequest) || IsRetryable(err) || !errors.As(err, &oe) || oe.Op != "roundtrip" {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
		if !body.wasClosed() {
			t.Errorf("%s: request body not closed", name)
		}
	}
	if st := c.State(); st.Active != 0 || st.GoingAway {
		t.Fatalf("State = %+v", st)
	}
	if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "ok" {
		t.Fatalf("GET: %q, %v", body, err)
	}
	if id := <-first; id != 1 {
		t.Fatalf("first stream the peer saw: %d, want 1 (something was sent before)", id)
	}
}

// TestRequestBodies sends bodies of known length (in memory: with the
// head; or streamed) and unknown length, and bodies that are not as long
// as they say or fail: those reset their stream only.
func TestRequestBodies(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %d %v", r.ContentLength, len(b), err)
	})
	c := mockH2C(t, h, 0, Options{})
	big := bytes.Repeat([]byte("x"), 1<<20)
	boom := errors.New("boom")
	cases := []struct {
		name    string
		body    io.Reader
		length  int64
		getBody bool
		want    string // the server's view, or "" for an error
		wantErr error
	}{
		{"InMemory", strings.NewReader("hello"), 5, true, "5 5 <nil>", nil},
		{"InMemoryBig", bytes.NewReader(big), 1 << 20, true, "1048576 1048576 <nil>", nil},
		{"Streamed", strings.NewReader("hello"), 5, false, "5 5 <nil>", nil},
		{"UnknownLength", strings.NewReader("hello"), 0, false, "-1 5 <nil>", nil},
		{"Empty", strings.NewReader(""), 0, false, "-1 0 <nil>", nil},
		{"InMemoryShort", strings.NewReader("abc"), 10, true, "", ErrBodyLength},
		{"InMemoryLong", strings.NewReader("abcdef"), 3, true, "", ErrBodyLength},
		{"StreamedShort", strings.NewReader("abc"), 10, false, "", ErrBodyLength},
		{"StreamedLong", strings.NewReader("abcdef"), 3, false, "", ErrBodyLength},
		{"ReadError", io.MultiReader(strings.NewReader("abc"), &errReader{boom}), 0, false, "", boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := newCloseTracker(tc.body)
			req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://h2c.test/", body)
			req.ContentLength = tc.length
			if tc.getBody {
				req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("not used") }
			}
			got, _, err := doRequest(c, req)
			switch {
			case tc.wantErr == nil && (err != nil || got != tc.want):
				t.Fatalf("server saw %q (%v), want %q", got, err, tc.want)
			case tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || IsRetryable(err)):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !body.wasClosed() {
				t.Fatal("request body not closed")
			}
			if st := c.State(); st.GoingAway || st.Active != 0 {
				t.Fatalf("State = %+v", st)
			}
		})
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// TestTrailers: request trailers reach the server; response trailers,
// announced and not, are in resp.Trailer once the body is read.
func TestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Resp")
		w.WriteHeader(200)
		fmt.Fprintf(w, "got %q", r.Trailer.Get("X-Req"))
		w.Header().Set("X-Resp", "v1")
		w.Header().Set(http.TrailerPrefix+"X-Late", "v2")
	})
	c := mockH2C(t, h, 0, Options{})
	trailer := http.Header{"X-Req": nil}
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://h2c.test/", io.NopCloser(&reqTrailerSetter{r: strings.NewReader("data"), t: trailer}))
	req.Trailer = trailer
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, ok := resp.Trailer["X-Resp"]; !ok {
		t.Fatalf("announced trailer missing before the body: %v", resp.Trailer)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != `got "rv"` {
		t.Fatalf("body %q (%v)", b, err)
	}
	if resp.Trailer.Get("X-Resp") != "v1" || resp.Trailer.Get("X-Late") != "v2" {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}

type reqTrailerSetter struct {
	r io.Reader
	t http.Header
}

func (s *reqTrailerSetter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.t.Set("X-Req", "rv")
	}
	return n, err
}

// TestResponseFields checks the response as net/http's HTTP/2 client
// builds it.
func TestResponseFields(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "abc")
		case "/stream":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			io.WriteString(w, "streamed")
		case "/head":
			w.Header().Set("Content-Length", "10")
		case "/none":
			w.WriteHeader(http.StatusNoContent)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		}
	})
	c := mockH2C(t, h, 0, Options{})
	cases := []struct {
		method, path, status, body string
		length                     int64
		noBody                     bool
	}{
		{"GET", "/length", "200 OK", "abc", 3, false},
		{"GET", "/stream", "200 OK", "streamed", -1, false},
		{"HEAD", "/head", "200 OK", "", 10, true},
		{"GET", "/none", "204 No Content", "", 0, true},
		{"GET", "/missing", "404 Not Found", "", 0, false},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(testContext(t), tc.method, "http://h2c.test"+tc.path, nil)
		body, resp, err := doRequest(c, req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if resp.Status != tc.status || resp.Proto != "HTTP/2.0" || resp.ProtoMajor != 2 || resp.ProtoMinor != 0 ||
			resp.ContentLength != tc.length || body != tc.body || resp.Uncompressed || resp.Request != req || resp.TLS != nil {
			t.Errorf("%s %s: %s %s length %d body %q uncompressed %v", tc.method, tc.path, resp.Proto, resp.Status, resp.ContentLength, body, resp.Uncompressed)
		}
		if tc.noBody && resp.Body != http.NoBody {
			t.Errorf("%s %s: body %T, want http.NoBody", tc.method, tc.path, resp.Body)
		}
	}
	if st := c.State(); st.Active != 0 {
		t.Fatalf("State = %+v", st)
	}
}

// TestMalformedResponses: responses a server must not send fail their
// stream only (PROTOCOL_ERROR), or are repaired as net/http repairs them.
func TestMalformedResponses(t *testing.T) {
	type step struct {
		fields []string
		end    bool
		data   string
	}
	cases := []struct {
		name  string
		steps []step
		check func(t *testing.T, resp *http.Response, body string, err error)
	}{
		{"NoStatus", []step{{[]string{"x-a", "1"}, true, ""}}, wantStreamError},
		{"RequestPseudo", []step{{[]string{":status", "200", ":path", "/"}, true, ""}}, wantStreamError},
		{"BadStatus", []step{{[]string{":status", "2x0"}, true, ""}}, wantStreamError},
		{"Switching", []step{{[]string{":status", "101"}, false, ""}}, wantStreamError},
		{"1xxEndStream", []step{{[]string{":status", "103"}, true, ""}}, wantStreamError},
		{"UpperCaseName", []step{{[]string{":status", "200", "X-Up", "1"}, true, ""}}, wantStreamError},
		{"TrailersWithoutEnd", []step{{[]string{":status", "200"}, false, "x"}, {[]string{"x-t", "1"}, false, ""}}, wantBodyStreamError},
		{"PseudoInTrailers", []step{{[]string{":status", "200"}, false, "x"}, {[]string{":status", "200"}, true, ""}},
			func(t *testing.T, resp *http.Response, body string, err error) {
				// The body read so far, then the error, as net/http.
				if wantBodyStreamError(t, resp, body, err); body != "x" {
					t.Fatalf("body %q, want \"x\" before the error", body)
				}
			}},
		// Connection-specific fields pass through, as with net/http's
		// HTTP/2 client; they say nothing of the connection.
		{"ConnectionHeaders", []step{{[]string{":status", "200", "connection", "close", "keep-alive", "5", "x-ok", "1"}, false, "body"}, {nil, true, ""}},
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || body != "body" || resp.Header.Get("Connection") != "close" || resp.Header.Get("Keep-Alive") != "5" || resp.Header.Get("X-Ok") != "1" || resp.Close {
					t.Fatalf("%v %q %v", err, body, resp.Header)
				}
			}},
		{"ConflictingLength", []step{{[]string{":status", "200", "content-length", "4", "content-length", "5"}, false, "body"}, {nil, true, ""}},
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || body != "body" || resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
					t.Fatalf("%v %q %d", err, body, resp.ContentLength)
				}
			}},
		{"LengthMissingBody", []step{{[]string{":status", "200", "content-length", "10"}, true, ""}}, wantUnexpectedEOF},
		{"ShortBody", []step{{[]string{":status", "200", "content-length", "10"}, false, "abc"}, {nil, true, ""}}, wantUnexpectedEOF},
		{"LongBody", []step{{[]string{":status", "200", "content-length", "2"}, false, "abcdef"}, {nil, true, ""}},
			func(t *testing.T, resp *http.Response, body string, err error) {
				// The declared bytes, then the error, as net/http.
				if !errors.Is(err, errBodyTooLong) || body != "ab" {
					t.Fatalf("body %q, %v: want \"ab\", then too long", body, err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rawH2C(t, Options{}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				h := p.readHeaders()
				if h == nil {
					return
				}
				for _, st := range tc.steps {
					p.write(func() error {
						if st.fields != nil {
							block := p.encode(st.fields...)
							if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: block, EndHeaders: true, EndStream: st.end && st.data == ""}); err != nil {
								return err
							}
						}
						if st.data != "" || st.fields == nil {
							return p.fr.WriteData(h.StreamID, st.end, []byte(st.data))
						}
						return nil
					})
				}
				if h := p.readHeaders(); h != nil {
					p.respond(h.StreamID, "next")
				}
				p.drain()
			})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://raw.test/", nil)
			body, resp, err := doRequest(c, req)
			tc.check(t, resp, body, err)
			if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "next" {
				t.Fatalf("next request: %q, %v", body, err)
			}
		})
	}
}

func wantStreamError(t *testing.T, resp *http.Response, body string, err error) {
	t.Helper()
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol || IsRetryable(err) {
		t.Fatalf("error %v: want a PROTOCOL_ERROR StreamError", err)
	}
}

func wantBodyStreamError(t *testing.T, resp *http.Response, body string, err error) {
	t.Helper()
	if resp == nil {
		t.Fatalf("no response: %v", err)
	}
	wantStreamError(t, resp, body, err)
}

func wantUnexpectedEOF(t *testing.T, resp *http.Response, body string, err error) {
	t.Helper()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("body %q, %v: want io.ErrUnexpectedEOF", body, err)
	}
}

// TestInformationalResponsesBoundedBySize: 1xx responses are bounded by
// their header sizes together, against MaxHeaderListSize, as net/http
// (since Go 1.24) does, not by their number; with a Got1xxResponse hook
// the caller bounds them (the size starts again at each).
func TestInformationalResponsesBoundedBySize(t *testing.T) {
	// Each 103 weighs 42 (:status) + 96 (link) = 138 bytes of the 1024.
	for _, tc := range []struct {
		name   string
		n      int
		hook   bool
		wantOK bool
	}{
		{"UnderLimit", 6, false, true},
		{"OverLimit", 8, false, false},
		{"OverLimitSeenByHook", 8, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawH2C(t, Options{MaxHeaderListSize: 1024}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				h := p.readHeaders()
				if h == nil {
					return
				}
				for range tc.n {
					p.write(func() error {
						block := p.encode(":status", "103", "link", "</"+strings.Repeat("a", 40)+".css>; rel=preload")
						return p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: block, EndHeaders: true})
					})
				}
				p.respond(h.StreamID, "ok")
				p.drain()
			})
			ctx := testContext(t)
			seen := 0
			if tc.hook {
				ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
					Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { seen++; return nil },
				})
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://raw.test/", nil)
			body, _, err := doRequest(c, req)
			if !tc.wantOK {
				wantStreamError(t, nil, body, err)
				return
			}
			if err != nil || body != "ok" {
				t.Fatalf("%q %v; want \"ok\"", body, err)
			}
			if tc.hook && seen != tc.n {
				t.Fatalf("Got1xxResponse called %d times, want %d", seen, tc.n)
			}
		})
	}
}
