package protocols

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// newH2Engine reports whether package h2 classifies its errors with the
// shared sentinels itself (h2.ErrRetryable is ErrNotProcessed), as its
// rewrite does.
func newH2Engine() bool { return h2.ErrRetryable == ErrNotProcessed }

// rawH2 is a raw h2c peer: it reads the preface, sends an empty SETTINGS
// (acknowledging the client's), and calls onHeaders for each request's
// HEADERS frame; it returns when onHeaders returns false or the
// connection ends.
func rawH2(onHeaders func(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32) bool) func(net.Conn) {
	return rawH2Peer(false, onHeaders)
}

// rawH2Peer is rawH2, calling onRequest at each request's HEADERS frame,
// or, if whole, once the request has ended (its END_STREAM, on HEADERS or
// DATA).
func rawH2Peer(whole bool, onRequest func(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32) bool) func(net.Conn) {
	return func(nc net.Conn) {
		defer nc.Close()
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(nc, preface); err != nil {
			return
		}
		fr := http2.NewFramer(nc, nc)
		if fr.WriteSettings() != nil {
			return
		}
		var hbuf bytes.Buffer
		enc := hpack.NewEncoder(&hbuf)
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
			case *http2.HeadersFrame:
				if (!whole || f.StreamEnded()) && !onRequest(fr, enc, &hbuf, f.StreamID) {
					return
				}
			case *http2.DataFrame:
				if whole && f.StreamEnded() && !onRequest(fr, enc, &hbuf, f.StreamID) {
					return
				}
			}
		}
	}
}

// writeHead sends a response head with status 200 and the given fields.
func writeHead(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32, end bool, fields ...string) {
	hbuf.Reset()
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true, EndStream: end})
}

// holdHandler holds each request until its client goes away.
var holdHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
})

// errorCase is one failure provoked over HTTP/1.1 and over HTTP/2 (h2c).
type errorCase struct {
	name    string
	h1, h2  mock.Peer
	faults1 []mock.Fault // over HTTP/1.1
	faults2 []mock.Fault // over HTTP/2
	// req builds the request; nil: a GET without deadline.
	req func(ctx context.Context) *http.Request
	// ctx wraps the request's context; nil: none.
	ctx      func() (context.Context, context.CancelFunc)
	op1, op2 string  // Error.Op over HTTP/1.1 and HTTP/2
	is       []error // errors.Is must hold for each
	timeout  bool    // Error.Timeout
	body     bool    // the failure comes from reading the body
}

func errorCases() []errorCase {
	postOnce := func(ctx context.Context) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://a.test/", onlyReader{strings.NewReader("body")})
		req.Body = io.NopCloser(req.Body) // no GetBody: never replayed
		return req
	}
	return []errorCase{
		{
			name: "deadline",
			h1:   mock.HandlerPeer(holdHandler, mock.HTTP1),
			h2:   mock.HandlerPeer(holdHandler, mock.H2C),
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			op1: "read", op2: "roundtrip",
			is:      []error{os.ErrDeadlineExceeded, context.DeadlineExceeded},
			timeout: true,
		},
		{
			name: "canceled",
			h1:   mock.HandlerPeer(holdHandler, mock.HTTP1),
			h2:   mock.HandlerPeer(holdHandler, mock.H2C),
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			op1: "read", op2: "roundtrip",
			is: []error{context.Canceled},
		},
		{
			name: "server closed before responding",
			h1: mock.FuncPeer(func(nc net.Conn) {
				http.ReadRequest(bufio.NewReader(nc))
				nc.Close()
			}),
			h2: mock.FuncPeer(rawH2(func(*http2.Framer, *hpack.Encoder, *bytes.Buffer, uint32) bool {
				return false
			})),
			op1: "read", op2: "roundtrip",
			is: []error{ErrServerClosed, io.EOF},
		},
		{
			name: "not processed",
			// Over HTTP/1.1 the server closed before a byte of the
			// request was written; over HTTP/2 it refused the stream.
			h1:      mock.HandlerPeer(holdHandler, mock.HTTP1),
			faults1: []mock.Fault{mock.CloseAfter(0)},
			h2: mock.FuncPeer(rawH2(func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, id uint32) bool {
				fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
				return true
			})),
			req: postOnce,
			op1: "write", op2: "roundtrip",
			is: []error{ErrNotProcessed},
		},
		{
			name:    "dial refused",
			h1:      mock.HandlerPeer(holdHandler, mock.HTTP1),
			h2:      mock.HandlerPeer(holdHandler, mock.H2C),
			faults1: []mock.Fault{mock.Refuse()},
			faults2: []mock.Fault{mock.Refuse()},
			op1:     "dial", op2: "dial",
			is: []error{syscall.ECONNREFUSED},
		},
		{
			name: "body cut short",
			h1: mock.FuncPeer(func(nc net.Conn) {
				http.ReadRequest(bufio.NewReader(nc))
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
				nc.Close()
			}),
			h2: mock.FuncPeer(rawH2(func(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32) bool {
				writeHead(fr, enc, hbuf, id, false, "content-length", "10")
				fr.WriteData(id, false, []byte("abc"))
				return false
			})),
			body: true,
			op1:  "body", op2: "body",
			is: []error{io.ErrUnexpectedEOF},
		},
	}
}

// TestErrorShape provokes each failure over HTTP/1.1 and HTTP/2 and
// checks that the caller gets one shape: an *Error with the step, the
// protocol and the address, matching the same sentinels whatever the
// protocol. Nothing may be written to the standard logger meanwhile.
func TestErrorShape(t *testing.T) {
	logs := captureLog(t)
	for _, tc := range errorCases() {
		for _, proto := range []string{protoNameHTTP11, protoNameHTTP2} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				tr, b := newMockTransport(t)
				peer, op, faults := tc.h1, tc.op1, tc.faults1
				if proto == protoNameHTTP2 {
					tr.H2C = true
					peer, op, faults = tc.h2, tc.op2, tc.faults2
				}
				b.Handle("a.test:80", peer, faults...)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
				if tc.req != nil {
					req = tc.req(ctx)
				}
				resp, err := tr.RoundTrip(req)
				if tc.body {
					if err != nil {
						t.Fatalf("RoundTrip: %v", err)
					}
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T %v, want an *Error", err, err)
				}
				if e.Op != op || e.Proto != proto || e.Addr != "a.test:80" || e.Err == nil || e.Error() == "" {
					t.Errorf("error %+v, want Op %q Proto %q Addr a.test:80", e, op, proto)
				}
				for _, target := range tc.is {
					if !errors.Is(err, target) {
						t.Errorf("%v does not match %v", err, target)
					}
				}
				if e.Timeout() != tc.timeout {
					t.Errorf("Timeout() = %v", e.Timeout())
				}
			})
		}
	}
	if got := logs.String(); got != "" {
		t.Errorf("written to the standard logger:\n%s", got)
	}
}

// captureLog sends the standard logger's output to a buffer until the
// end of the test.
func captureLog(t *testing.T) *syncBuffer {
	buf := &syncBuffer{}
	w, flags := log.Writer(), log.Flags()
	log.SetOutput(buf)
	log.SetFlags(log.Lshortfile)
	t.Cleanup(func() {
		log.SetOutput(w)
		log.SetFlags(flags)
	})
	return buf
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRequestErrors checks the shape of the errors found before any
// dial: a closed Transport, a bad URL, a failed TLS handshake.
func TestRequestErrors(t *testing.T) {
	tr, b := newMockTransport(t)
	b.Handle("a.test:443", mock.TLSHandlerPeer(helloHandler(), nil))
	req, _ := http.NewRequest("GET", "ftp://a.test/", nil)
	_, err := tr.RoundTrip(req)
	var e *Error
	if !errors.As(err, &e) || e.Op != "request" || !errors.Is(err, h1.ErrInvalidRequest) {
		t.Errorf("bad scheme: %v", err)
	}
	// The test certificate is not trusted without mock.RootCAs.
	req, _ = http.NewRequest("GET", "https://a.test/", nil)
	_, err = tr.RoundTrip(req)
	var oe *transport.OpError
	if !errors.As(err, &e) || e.Op != "tls" || e.Proto != "" || !errors.As(err, &oe) {
		t.Errorf("untrusted certificate: %v", err)
	}
	tr2 := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: mock.RootCAs(), ServerName: "localhost"}}
	if _, body, err := do(t, tr2, req); err != nil || body != "hello" {
		t.Fatalf("trusted: %q %v", body, err)
	}
	tr2.Close()
	if _, err = tr2.RoundTrip(req); !errors.As(err, &e) || e.Op != "request" || !errors.Is(err, ErrClosed) {
		t.Errorf("closed transport: %v", err)
	}
}

// TestNothingLoggedMalformedH2 runs requests against an HTTP/2 peer that
// breaks the protocol (DATA before HEADERS, DATA on a stream that ended):
// the requests fail, and nothing is written to the standard logger.
// x/net's ClientConn, the engine under package h2 before its rewrite,
// logs such peers through the log package; the test runs once h2
// classifies with the shared sentinels, which its rewrite brings.
func TestNothingLoggedMalformedH2(t *testing.T) {
	if !newH2Engine() {
		t.Skip("needs the h2 rewrite: x/net's ClientConn logs peer protocol errors through the log package")
	}
	logs := captureLog(t)
	for name, peer := range map[string]func(*http2.Framer, *hpack.Encoder, *bytes.Buffer, uint32) bool{
		"DATA before HEADERS": func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, id uint32) bool {
			fr.WriteData(id, true, []byte("x"))
			return true
		},
		"DATA after END_STREAM": func(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32) bool {
			writeHead(fr, enc, hbuf, id, true)
			fr.WriteData(id, true, []byte("x"))
			return true
		},
	} {
		t.Run(name, func(t *testing.T) {
			tr, b := newMockTransport(t)
			tr.H2C = true
			b.Handle("a.test:80", mock.FuncPeer(rawH2(peer)))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	if got := logs.String(); got != "" {
		t.Errorf("written to the standard logger:\n%s", got)
	}
}

// TestH2Cause checks the classification of HTTP/2 errors before the
// response head: what the h2 package marked is kept, and a bare end of
// file becomes ErrServerClosed.
func TestH2Cause(t *testing.T) {
	notProcessed := fmt.Errorf("%w: GOAWAY", ErrNotProcessed)
	cases := []struct {
		name string
		err  error
		want []error
		not  []error
	}{
		{"not processed", notProcessed, []error{ErrNotProcessed}, []error{ErrServerClosed}},
		{"server closed", fmt.Errorf("%w: %w", ErrServerClosed, io.EOF), []error{ErrServerClosed, io.EOF}, []error{ErrNotProcessed}},
		{"bare EOF", io.EOF, []error{ErrServerClosed, io.EOF}, []error{ErrNotProcessed}},
		{"unexpected EOF", io.ErrUnexpectedEOF, []error{ErrServerClosed, io.ErrUnexpectedEOF}, nil},
		{"other", errors.New("boom"), nil, []error{ErrServerClosed, ErrNotProcessed}},
	}
	for _, c := range cases {
		got := h2Cause(c.err)
		if !errors.Is(got, c.err) {
			t.Errorf("%s: %v does not wrap the cause", c.name, got)
		}
		for _, w := range c.want {
			if !errors.Is(got, w) {
				t.Errorf("%s: %v does not match %v", c.name, got, w)
			}
		}
		for _, n := range c.not {
			if errors.Is(got, n) {
				t.Errorf("%s: %v matches %v", c.name, got, n)
			}
		}
	}
}
