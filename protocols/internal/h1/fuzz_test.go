package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http/httpguts"
)

// memStream is a Stream that reads a fixed input, then EOF, and discards
// writes: a server that sends the input whatever it is asked.
type memStream struct {
	in     []byte
	closed bool
}

var _ transport.Stream = (*memStream)(nil)

func (m *memStream) Read(p []byte) (int, error) {
	if m.closed {
		return 0, net.ErrClosed
	}
	if len(m.in) == 0 {
		return 0, io.EOF
	}
	// Deliver in small pieces to exercise every buffer boundary.
	n := copy(p[:min(len(p), 37)], m.in)
	m.in = m.in[n:]
	return n, nil
}
func (m *memStream) Write(p []byte) (int, error)        { return len(p), nil }
func (m *memStream) Close() error                       { m.closed = true; return nil }
func (m *memStream) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (m *memStream) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (m *memStream) SetDeadline(t time.Time) error      { return nil }
func (m *memStream) SetReadDeadline(t time.Time) error  { return nil }
func (m *memStream) SetWriteDeadline(t time.Time) error { return nil }
func (m *memStream) CloseWrite() error                  { return nil }
func (m *memStream) IsReadable() bool                   { return len(m.in) > 0 }
func (m *memStream) Info(k transport.InfoKey) (any, bool) {
	if k == transport.InfoClosed {
		return m.closed, true
	}
	return nil, false
}

// seeds are responses of every shape, valid and not.
var seeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-A\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-A: 1\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\nX: a\n  folded\nConnection: close\n\nbody",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nraw",
	"HTTP/1.1 200 OK\r\nX\x00: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
}

// FuzzReadResponse reads arbitrary bytes as a response, head and body:
// it must not panic or hang, memory stays bounded by MaxHeaderBytes and
// the input, errors are typed, and the exchange ends exactly once.
func FuzzReadResponse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		calls := 0
		reused := false
		c := NewConn(&memStream{in: data}, Options{MaxHeaderBytes: 8 << 10, OnDone: func(r bool) { calls++; reused = r }})
		method := "GET"
		if head {
			method = "HEAD"
		}
		req, _ := http.NewRequest(method, "http://example.com/", nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			checkTyped(t, err)
			if calls != 1 || reused {
				t.Fatalf("OnDone calls %d reused %v after %v", calls, reused, err)
			}
			return
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if n > int64(len(data)) {
			t.Fatalf("read %d body bytes from %d bytes of input", n, len(data))
		}
		if err != nil {
			checkTyped(t, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 101 && calls != 1 {
			t.Fatalf("OnDone called %d times", calls)
		}
		if reused && (err != nil || resp.Close) {
			t.Fatalf("reused after error %v or Close %v", err, resp.Close)
		}
	})
}

func checkTyped(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("untyped error %T %v", err, err)
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		switch pe.Rule {
		case ErrHeaderTooLarge, ErrBadStatusLine, ErrInvalidHeader, ErrConflictingLength,
			ErrBadContentLength, ErrUnsupportedTransferEncoding, ErrBadChunk,
			ErrChunkLineTooLong, ErrBadTrailer:
		default:
			t.Fatalf("unknown rule %v", pe.Rule)
		}
		return
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrServerClosed) {
		t.Fatalf("unexpected cause %v", err)
	}
}

// stdResponse reads data as net/http's transport would: ReadResponse,
// skipping 1xx responses other than 101.
func stdResponse(data []byte, req *http.Request) (*http.Response, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
			continue
		}
		return resp, nil
	}
}

// FuzzFramingDifferential checks the codec's decisions against
// http.ReadResponse: where both accept a response, status, header,
// Content-Length, chunking, Close and body bytes agree; the codec never
// accepts what ReadResponse rejects; and it rejects what ReadResponse
// accepts only under one of its documented stricter rules.
func FuzzFramingDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		req, _ := http.NewRequest(method, "http://example.com/", nil)
		std, stdErr := stdResponse(data, req)
		c := NewConn(&memStream{in: data}, Options{MaxHeaderBytes: 1 << 20})
		got, err := c.RoundTrip(req)

		switch {
		case stdErr != nil && err == nil:
			t.Fatalf("accepted a head net/http rejects (%v): %q", stdErr, data)
		case stdErr == nil && err != nil:
			if !stricterHead(err, std) {
				t.Fatalf("rejected a head net/http accepts: %v: %q", err, data)
			}
			return
		case err != nil:
			return
		}
		if got.StatusCode != std.StatusCode || got.Status != std.Status || got.Proto != std.Proto ||
			got.ContentLength != std.ContentLength || got.Close != std.Close ||
			!reflect.DeepEqual(got.TransferEncoding, std.TransferEncoding) ||
			!reflect.DeepEqual(got.Header, std.Header) {
			t.Fatalf("heads differ for %q:\n got %d %q %d close=%v te=%v %v\nwant %d %q %d close=%v te=%v %v", data,
				got.StatusCode, got.Status, got.ContentLength, got.Close, got.TransferEncoding, got.Header,
				std.StatusCode, std.Status, std.ContentLength, std.Close, std.TransferEncoding, std.Header)
		}
		if got.StatusCode == 101 {
			// net/http's transport hands the connection over only for a
			// protocol switch: Upgrade and "Connection: Upgrade".
			_, gotSwitch := got.Body.(io.ReadWriteCloser)
			stdSwitch := std.Header.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(std.Header["Connection"], "Upgrade")
			if gotSwitch != stdSwitch {
				t.Fatalf("101 for %q: switch %v, net/http %v", data, gotSwitch, stdSwitch)
			}
			if gotSwitch {
				return
			}
		}
		gotBody, gotErr := io.ReadAll(got.Body)
		stdBody, stdBodyErr := io.ReadAll(std.Body)
		switch {
		case gotErr == nil && stdBodyErr != nil:
			t.Fatalf("accepted a body net/http rejects (%v): %q", stdBodyErr, data)
		case gotErr != nil && stdBodyErr == nil:
			if !errors.Is(gotErr, ErrBadTrailer) {
				t.Fatalf("rejected a body net/http accepts: %v: %q", gotErr, data)
			}
		case gotErr == nil:
			if !bytes.Equal(gotBody, stdBody) {
				t.Fatalf("bodies differ for %q: %q vs %q", data, gotBody, stdBody)
			}
			if !reflect.DeepEqual(got.Trailer, std.Trailer) {
				t.Fatalf("trailers differ for %q: %v vs %v", data, got.Trailer, std.Trailer)
			}
		}
	})
}

// stricterHead reports whether err is one of the codec's rules that are
// stricter than net/http on purpose, applied to a head net/http took.
func stricterHead(err error, std *http.Response) bool {
	switch {
	case errors.Is(err, ErrBadStatusLine):
		// Status codes below 100 or with a sign.
		code, _, _ := strings.Cut(std.Status, " ")
		return std.StatusCode < 100 || code[0] == '+'
	case errors.Is(err, ErrInvalidHeader):
		// Whitespace between a field name and its colon.
		for k := range std.Header {
			if strings.ContainsAny(k, " \t") {
				return true
			}
		}
		for k := range std.Trailer {
			if strings.ContainsAny(k, " \t") {
				return true
			}
		}
	}
	return false
}
