package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/protocols/internal/prototest"
)

// TestTraceLikeNetHTTP runs the same requests through a Conn and through
// net/http's Transport against the same Go server, each with an
// httptrace.ClientTrace, and compares the hooks called: the same fields
// with the same values, the hooks of the writing side in net/http's
// order, those of the reading side in net/http's order, and ours in the
// one order causality allows (net/http writes and reads on two
// goroutines, which may interleave the sides either way).
func TestTraceLikeNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "done")
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	theirs := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	t.Cleanup(theirs.CloseIdleConnections)
	d := newDialer(t)

	fields, headers, wrote := "WroteHeaderField", "WroteHeaders", "WroteRequest(<nil>)"
	first := "GotFirstResponseByte"
	for _, tc := range []struct {
		name, method, path string
		body               io.Reader
		header             http.Header
		trailer            http.Header
		close              bool
		order              []string // ours, in full
	}{
		{"GET", "GET", "/", nil, nil, nil, false, []string{fields, headers, wrote, first}},
		{"GET own fields", "GET", "/", nil, http.Header{"Accept-Encoding": {"identity"}, "X-Multi": {" a ", "b"}, "X-Empty": {}}, nil, false, []string{fields, headers, wrote, first}},
		{"POST sized", "POST", "/", strings.NewReader("payload"), nil, nil, false, []string{fields, headers, wrote, first}},
		{"POST streamed", "POST", "/", io.NopCloser(strings.NewReader("payload")), nil, nil, false, []string{fields, headers, wrote, first}},
		{"POST trailer", "POST", "/", io.NopCloser(strings.NewReader("payload")), nil, http.Header{"X-Sum": nil}, false, []string{fields, headers, wrote, first}},
		{"Close", "GET", "/", nil, nil, nil, true, []string{fields, headers, wrote, first}},
		{"Continue", "POST", "/", strings.NewReader("payload"), http.Header{"Expect": {"100-continue"}}, nil, false,
			[]string{fields, headers, "Wait100Continue", first, "Got100Continue", "Got1xxResponse(100 )", wrote}},
		{"EarlyHints", "GET", "/hints", nil, nil, nil, false, []string{fields, headers, wrote, first, "Got1xxResponse(103 </style.css>; rel=preload)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body string
			if tc.body != nil {
				b, _ := io.ReadAll(tc.body)
				body = string(b)
			}
			run := func(rt http.RoundTripper) ([]string, []string) {
				var l prototest.TraceLog
				ctx := httptrace.WithClientTrace(context.Background(), l.Trace())
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				var rb io.Reader
				if tc.body != nil {
					rb = strings.NewReader(body)
					if _, ok := tc.body.(*strings.Reader); !ok {
						rb = io.NopCloser(rb)
					}
				}
				req, _ := http.NewRequestWithContext(ctx, tc.method, srv.URL+tc.path, rb)
				req.Header.Set("User-Agent", "tk-trace")
				for k, vv := range tc.header {
					req.Header[k] = vv
				}
				req.Trailer = tc.trailer
				req.Close = tc.close
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != "done" {
					t.Fatalf("body %q", got)
				}
				return l.Events(), l.Fields()
			}
			ours, _ := d.conn(t, addr, Options{ExpectContinueTimeout: 10 * time.Second})
			want, wantFields := run(theirs)
			got, gotFields := run(ours)
			if !slices.Equal(gotFields, wantFields) {
				t.Errorf("fields\n got %q\nwant %q", gotFields, wantFields)
			}
			prototest.SameSides(t, got, want)
			if !slices.Equal(got, tc.order) {
				t.Errorf("order\n got %q\nwant %q", got, tc.order)
			}
		})
	}
}

// TestTraceGot1xxError: an error from Got1xxResponse ends the exchange
// with that error, as with net/http.
func TestTraceGot1xxError(t *testing.T) {
	srv := newRawServer(t, respondEach("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	c, log := newDialer(t).conn(t, srv.Addr(), Options{})
	stop := errors.New("enough hints")
	req := newReq(t, "GET", srv.Addr(), nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error { return stop },
	}))
	_, err := c.RoundTrip(req)
	if !errors.Is(err, stop) {
		t.Fatalf("err %v, want %v", err, stop)
	}
	if d := log.get(); !slices.Equal(d, []bool{false}) {
		t.Errorf("OnDone %v, want [false]", d)
	}
}

// TestTraceGot1xxResetsLimit: with Got1xxResponse set, each head has the
// whole MaxHeaderBytes, as with net/http (the caller sees the 1xx heads
// and bounds them); without it, all heads share it.
func TestTraceGot1xxResetsLimit(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: </" + strings.Repeat("a", 600) + ">\r\n\r\n"
	srv := newRawServer(t, respondEach(hint+hint+hint+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	for _, hooked := range []bool{false, true} {
		c, _ := newDialer(t).conn(t, srv.Addr(), Options{MaxHeaderBytes: 1000})
		req := newReq(t, "GET", srv.Addr(), nil)
		n := 0
		if hooked {
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				Got1xxResponse: func(int, textproto.MIMEHeader) error { n++; return nil },
			}))
		}
		resp, err := c.RoundTrip(req)
		if hooked {
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n != 3 {
				t.Errorf("Got1xxResponse called %d times, want 3", n)
			}
		} else if !errors.Is(err, ErrHeaderTooLarge) {
			t.Errorf("without the hook: err %v, want ErrHeaderTooLarge", err)
		}
	}
}

// failingReader fails after its first bytes.
type failingReader struct {
	sent bool
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.sent {
		return 0, f.err
	}
	f.sent = true
	return copy(p, "some"), nil
}

// TestTraceWroteRequestError: a request body that fails is reported to
// WroteRequest with its error.
func TestTraceWroteRequestError(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	c, _ := newDialer(t).conn(t, srv.Addr(), Options{})
	bodyErr := errors.New("body broke")
	req := newReq(t, "POST", srv.Addr(), &failingReader{err: bodyErr})
	var got []error
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { got = append(got, i.Err) },
	}))
	if _, err := c.RoundTrip(req); !errors.Is(err, bodyErr) {
		t.Fatalf("err %v, want %v", err, bodyErr)
	}
	if len(got) != 1 || !errors.Is(got[0], bodyErr) {
		t.Errorf("WroteRequest errors %v, want one: %v", got, bodyErr)
	}
}
