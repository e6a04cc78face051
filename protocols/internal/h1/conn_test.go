package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGetReusesConnection(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	s := newRawServer(t, respondEach("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nX-Custom-thing: a \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello"))
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	for i := 0; i < 3; i++ {
		req := newReq(t, "GET", s.Addr(), nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != "hello" {
			t.Fatalf("body %q", got)
		}
		if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.Proto != "HTTP/1.1" || resp.ProtoMinor != 1 {
			t.Errorf("status %d %q %q", resp.StatusCode, resp.Status, resp.Proto)
		}
		if resp.ContentLength != 5 || resp.Request != req || resp.Close {
			t.Errorf("ContentLength %d, Request %p, Close %v", resp.ContentLength, resp.Request, resp.Close)
		}
		if resp.Header.Get("X-Custom-Thing") != "a" || !slices.Equal(resp.Header["Set-Cookie"], []string{"a=1", "b=2"}) {
			t.Errorf("header %v", resp.Header)
		}
		if !c.Usable() {
			t.Error("connection not usable after the body's EOF")
		}
	}
	if got := log.get(); !slices.Equal(got, []bool{true, true, true}) {
		t.Errorf("OnDone calls %v", got)
	}
	if s.Served() != 1 {
		t.Errorf("%d connections accepted, want 1", s.Served())
	}
}

// exchange runs one request against a server that answers with resp, and
// returns the response, its body and error, and the OnDone calls.
func exchange(t *testing.T, method string, resp string, opts Options) (*http.Response, string, []bool, error) {
	t.Helper()
	s := newRawServer(t, respondOnce(resp))
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), opts)
	r, err := c.RoundTrip(newReq(t, method, s.Addr(), nil))
	if err != nil {
		return nil, "", log.get(), err
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	return r, string(b), log.get(), err
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name, method, resp string
		body               string
		cl                 int64
		reusable           bool
		chunked            bool
		close              bool
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", "abc", 3, true, false, false},
		{"duplicate equal lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "abc", 3, true, false, false},
		{"zero length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "", 0, true, false, false},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "", 10, true, false, false},
		{"head chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "", -1, true, true, false},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", "", 0, true, false, false},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "", 0, true, true, false},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n1 \r\nd\r\n0\r\n\r\n", "abcd", -1, true, true, false},
		{"chunked wins over length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", "ab", -1, true, true, false},
		{"until close", "GET", "HTTP/1.1 200 OK\r\n\r\nall of it", "all of it", -1, false, false, true},
		{"http/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", 2, false, false, true},
		{"http/1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", "ok", 2, true, false, false},
		{"http/1.0 ignores TE", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", "raw", -1, false, false, true},
		{"connection close", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", "ok", 2, false, false, true},
		{"bare LF head", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "ok", 2, true, false, false},
		{"folded header", "GET", "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 2\r\n\r\nok", "ok", 2, true, false, false},
		{"1xx skipped", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", 2, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, done, err := exchange(t, tt.method, tt.resp, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if body != tt.body || resp.ContentLength != tt.cl || resp.Close != tt.close {
				t.Errorf("body %q ContentLength %d Close %v, want %q %d %v", body, resp.ContentLength, resp.Close, tt.body, tt.cl, tt.close)
			}
			if got := len(resp.TransferEncoding) == 1; got != tt.chunked {
				t.Errorf("TransferEncoding %v, want chunked %v", resp.TransferEncoding, tt.chunked)
			}
			if !slices.Equal(done, []bool{tt.reusable}) {
				t.Errorf("OnDone %v, want [%v]", done, tt.reusable)
			}
			if resp.Header.Get("Transfer-Encoding") != "" {
				t.Error("Transfer-Encoding left in the header")
			}
		})
	}
}

func TestFoldedAndPragma(t *testing.T) {
	resp, _, _, err := exchange(t, "GET", "HTTP/1.1 200 OK\r\nX-Long: a \r\n\t b\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Long"); got != "a b" {
		t.Errorf("folded value %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control %q", got)
	}
}

func TestTrailers(t *testing.T) {
	resp, body, done, err := exchange(t, "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, x-other\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nX-Late: 1\r\n\r\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if body != "hello" || !slices.Equal(done, []bool{true}) {
		t.Fatalf("body %q done %v", body, done)
	}
	if resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "1" {
		t.Errorf("trailer %v", resp.Trailer)
	}
	if _, ok := resp.Trailer["X-Other"]; !ok {
		t.Errorf("announced trailer key missing: %v", resp.Trailer)
	}
	if resp.Header.Get("Trailer") != "" {
		t.Error("Trailer field left in the header")
	}
}

// TestMalformed checks each rule: a typed error naming the rule, the
// connection closed and not reused, nothing hanging.
func TestMalformed(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\n"
	chunked := ok + "Transfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name string
		resp string
		rule error
	}{
		{"status line without space", "HTTP/1.1200OK\r\n\r\n", ErrBadStatusLine},
		{"status code short", "HTTP/1.1 20 OK\r\n\r\n", ErrBadStatusLine},
		{"status code signed", "HTTP/1.1 +99 OK\r\n\r\n", ErrBadStatusLine},
		{"bad version", "HTTP/1.10 200 OK\r\n\r\n", ErrBadStatusLine},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", ErrBadStatusLine},
		{"empty status line", "\r\n\r\n", ErrBadStatusLine},
		{"header without colon", ok + "Bad header\r\n\r\n", ErrInvalidHeader},
		{"space before colon", ok + "Content-Length : 3\r\n\r\nabc", ErrInvalidHeader},
		{"control byte in value", ok + "X-A: a\x00b\r\nContent-Length: 0\r\n\r\n", ErrInvalidHeader},
		{"CR in value", ok + "X-A: a\rb\r\nContent-Length: 0\r\n\r\n", ErrInvalidHeader},
		{"control byte in name", ok + "X\x01A: b\r\nContent-Length: 0\r\n\r\n", ErrInvalidHeader},
		{"empty name", ok + ": b\r\nContent-Length: 0\r\n\r\n", ErrInvalidHeader},
		{"leading continuation", ok + " X-A: b\r\nContent-Length: 0\r\n\r\n", ErrInvalidHeader},
		{"conflicting lengths", ok + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", ErrConflictingLength},
		{"length not a number", ok + "Content-Length: 3x\r\n\r\nabc", ErrBadContentLength},
		{"negative length", ok + "Content-Length: -1\r\n\r\n", ErrBadContentLength},
		{"empty length", ok + "Content-Length: \r\n\r\n", ErrBadContentLength},
		{"length too large", ok + "Content-Length: 9223372036854775808\r\n\r\n", ErrBadContentLength},
		{"gzip coding", ok + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", ErrUnsupportedTransferEncoding},
		{"two TE fields", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrUnsupportedTransferEncoding},
		{"identity coding", ok + "Transfer-Encoding: identity\r\n\r\nabc", ErrUnsupportedTransferEncoding},
		{"bare LF in chunk line", chunked + "3\nabc\r\n0\r\n\r\n", ErrBadChunk},
		{"CR inside chunk line", chunked + "3\r;x\r\nabc\r\n0\r\n\r\n", ErrBadChunk},
		{"bad chunk size", chunked + "xyz\r\nabc\r\n0\r\n\r\n", ErrBadChunk},
		{"empty chunk size", chunked + "\r\nabc\r\n0\r\n\r\n", ErrBadChunk},
		{"chunk size overflow", chunked + "11111111111111111\r\nabc\r\n0\r\n\r\n", ErrBadChunk},
		{"data not followed by CRLF", chunked + "3\r\nabcd\r\n0\r\n\r\n", ErrBadChunk},
		{"chunk line too long", chunked + "3;" + strings.Repeat("e", 5000) + "\r\nabc\r\n0\r\n\r\n", ErrChunkLineTooLong},
		{"chunk extensions flood", chunked + strings.Repeat("1;"+strings.Repeat("e", 100)+"\r\na\r\n", 400) + "0\r\n\r\n", ErrBadChunk},
		{"forbidden trailer key", ok + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", ErrBadTrailer},
		{"trailer bare LF end", chunked + "0\r\nX-T: 1\n\n", ErrBadTrailer},
		{"trailer bad line", chunked + "0\r\nbad trailer\r\n\r\n", ErrBadTrailer},
		{"trailer too long", chunked + "0\r\nX-T: " + strings.Repeat("v", 5000) + "\r\n\r\n", ErrBadTrailer},
		{"head too large", ok + "X-Big: " + strings.Repeat("v", 2000) + "\r\n\r\n", ErrHeaderTooLarge},
		{"1xx heads add up", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: "+strings.Repeat("l", 500)+"\r\n\r\n", 4) + ok + "Content-Length: 0\r\n\r\n", ErrHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			transporttest.VerifyNoLeaks(t)
			_, _, done, err := exchange(t, "GET", tt.resp, Options{MaxHeaderBytes: 1500})
			if !errors.Is(err, tt.rule) {
				t.Fatalf("error %v, want %v", err, tt.rule)
			}
			var pe *ProtocolError
			var e *Error
			if !errors.As(err, &pe) || pe.Rule != tt.rule || !errors.As(err, &e) {
				t.Fatalf("error %#v is not an *Error holding a *ProtocolError", err)
			}
			if pe.Error() == "" || e.Error() == "" || e.NoResponse {
				t.Errorf("error %q / %q, NoResponse %v", pe.Error(), e.Error(), e.NoResponse)
			}
			if !slices.Equal(done, []bool{false}) {
				t.Errorf("OnDone %v, want [false]: the connection must not be reused", done)
			}
		})
	}
}

func TestTruncatedBodies(t *testing.T) {
	for _, resp := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2",
	} {
		_, _, done, err := exchange(t, "GET", resp, Options{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: error %v, want io.ErrUnexpectedEOF", resp, err)
		}
		if !slices.Equal(done, []bool{false}) {
			t.Errorf("%q: OnDone %v", resp, done)
		}
	}
	_, _, _, err := exchange(t, "GET", "HTTP/1.1 200 OK\r\nContent-Le", Options{})
	var e *Error
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &e) || e.NoResponse || e.Op != "read" {
		t.Errorf("truncated head: %v", err)
	}
	_, _, _, err = exchange(t, "GET", "", Options{})
	if !errors.Is(err, ErrServerClosed) || !errors.As(err, &e) || !e.NoResponse {
		t.Errorf("no response: %v", err)
	}
}

func TestLargeHeadGrowsBuffer(t *testing.T) {
	big := strings.Repeat("v", 3*bufSize)
	resp, body, done, err := exchange(t, "GET", "HTTP/1.1 200 OK\r\nX-Big: "+big+"\r\nContent-Length: 2\r\n\r\nok", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Big") != big || body != "ok" || !slices.Equal(done, []bool{true}) {
		t.Errorf("big header lost: body %q done %v", body, done)
	}
}

func TestBigBodies(t *testing.T) {
	data := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	var chunks strings.Builder
	for i := 0; i < len(data); i += 10000 {
		part := data[i:min(i+10000, len(data))]
		chunks.WriteString(strings.ToUpper(strconvHex(len(part))) + "\r\n" + part + "\r\n")
	}
	for name, resp := range map[string]string{
		"length":  "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + data,
		"chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks.String() + "0\r\n\r\n",
		"close":   "HTTP/1.1 200 OK\r\n\r\n" + data,
	} {
		t.Run(name, func(t *testing.T) {
			_, body, _, err := exchange(t, "GET", resp, Options{})
			if err != nil || body != data {
				t.Fatalf("err %v, body of %d bytes equal %v", err, len(body), body == data)
			}
		})
	}
}

func strconvHex(n int) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; n > 0; n /= 16 {
		s = string(digits[n%16]) + s
	}
	return s
}

func TestSwitchingProtocols(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(br, buf); err == nil {
			c.Write(buf)
		}
	})
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	req := newReq(t, "GET", s.Addr(), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if !ok || resp.StatusCode != 101 {
		t.Fatalf("status %d, body %T", resp.StatusCode, resp.Body)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "first" {
		t.Fatalf("%q %v", buf, err)
	}
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rw, buf[:4]); err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("%q %v", buf[:4], err)
	}
	rw.Close()
	if !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("OnDone %v", log.get())
	}
	if _, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil)); !errors.Is(err, ErrConnClosed) {
		t.Errorf("RoundTrip after 101: %v", err)
	}
}

func TestConnBusyAndClosed(t *testing.T) {
	s := newRawServer(t, respondEach("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	d := newDialer(t)
	c, _ := d.conn(t, s.Addr(), Options{})
	resp, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	body := &closeCounter{r: strings.NewReader("x")}
	req := newReq(t, "POST", s.Addr(), body)
	if _, err := c.RoundTrip(req); !errors.Is(err, ErrConnBusy) {
		t.Errorf("second RoundTrip: %v, want ErrConnBusy", err)
	}
	if body.closed != 1 {
		t.Errorf("request body closed %d times", body.closed)
	}
	readAll(t, resp)
	c.Close()
	if c.Usable() {
		t.Error("closed connection usable")
	}
	if _, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil)); !errors.Is(err, ErrConnClosed) {
		t.Errorf("RoundTrip after Close: %v", err)
	}
	if c.Close() != nil {
		t.Error("second Close failed")
	}
}

type closeCounter struct {
	r      io.Reader
	closed int
}

func (c *closeCounter) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *closeCounter) Close() error               { c.closed++; return nil }

func TestContextCanceledBeforeStart(t *testing.T) {
	s := newRawServer(t, respondEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/", nil)
	_, err := c.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if !slices.Equal(log.get(), []bool{true}) || !c.Usable() {
		t.Errorf("OnDone %v; a request never sent must leave the connection usable", log.get())
	}
}

// stallServer reads a request and answers with head (maybe empty), then
// never writes again until the client goes away.
func stallServer(t *testing.T, head string) *rawServer {
	return newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, head)
		io.Copy(io.Discard, br)
	})
}

func TestCancelWhileWaitingForHead(t *testing.T) {
	s := stallServer(t, "")
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/", nil)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := c.RoundTrip(req)
	var e *Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || !e.NoResponse {
		t.Fatalf("error %v", err)
	}
	if !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("OnDone %v", log.get())
	}
}

func TestDeadlineDuringBody(t *testing.T) {
	s := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("body error %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || !e.Timeout() || e.Op != "body" {
		t.Errorf("error %#v", err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Read: %v", err)
	}
	resp.Body.Close()
	if !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("OnDone %v", log.get())
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	s := stallServer(t, "HTTP/1.1 200 OK\r\n")
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{ResponseHeaderTimeout: 30 * time.Millisecond})
	_, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if !errors.Is(err, ErrResponseHeaderTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || !e.Timeout() || e.NoResponse {
		t.Errorf("error %#v", err)
	}
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Errorf("error %#v is not a net.Error with Timeout() true", err)
	}
	if !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("OnDone %v", log.get())
	}
}

func TestResponseHeaderTimeoutClearedForReuse(t *testing.T) {
	s := newRawServer(t, respondEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{ResponseHeaderTimeout: 20 * time.Millisecond})
	for i := 0; i < 2; i++ {
		resp, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		time.Sleep(30 * time.Millisecond) // past the header timeout, idle
		if !c.Usable() {
			t.Fatal("connection unusable")
		}
	}
	if !slices.Equal(log.get(), []bool{true, true}) {
		t.Errorf("OnDone %v", log.get())
	}
}

func TestBodyCloseDrainsSmallRest(t *testing.T) {
	s := newRawServer(t, respondEach("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"))
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	resp, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !slices.Equal(log.get(), []bool{true}) {
		t.Errorf("OnDone %v: a small rest must be drained", log.get())
	}
	if _, err := resp.Body.Read(buf); !errors.Is(err, ErrBodyClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if resp.Body.Close() != nil {
		t.Error("second Close")
	}
}

func TestBodyCloseGivesUpOnLargeRest(t *testing.T) {
	for name, resp := range map[string]string{
		"length":  "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc",
		"chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\nabc",
		"close":   "HTTP/1.1 200 OK\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			s := stallServer(t, resp)
			d := newDialer(t)
			c, log := d.conn(t, s.Addr(), Options{})
			r, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if !slices.Equal(log.get(), []bool{false}) {
				t.Errorf("OnDone %v", log.get())
			}
		})
	}
}

func TestBodyCloseInterruptsRead(t *testing.T) {
	s := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	resp, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	resp.Body.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrBodyClosed) {
			t.Errorf("interrupted Read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt Read")
	}
	if !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("OnDone %v", log.get())
	}
}

func TestUnsolicitedBytesSpoilReuse(t *testing.T) {
	_, _, done, err := exchange(t, "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []bool{false}) {
		t.Errorf("OnDone %v", done)
	}
}

func TestTinyHeaderLimit(t *testing.T) {
	for _, limit := range []int{1, 10, 30, 59} {
		_, _, done, err := exchange(t, "GET", "HTTP/1.1 103 Early\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Options{MaxHeaderBytes: limit})
		if !errors.Is(err, ErrHeaderTooLarge) || !slices.Equal(done, []bool{false}) {
			t.Errorf("limit %d: %v, OnDone %v", limit, err, done)
		}
	}
}

// TestCancelDuringBody cancels the context with most of a large body
// still on the stream: the next reads fail with the context's error,
// without waiting for the cancellation's AfterFunc to have run.
func TestCancelDuringBody(t *testing.T) {
	const size = 1 << 20
	s := stallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"+strings.Repeat("x", size))
	d := newDialer(t)
	c, log := d.conn(t, s.Addr(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read %d more bytes after cancel, error %v", n, err)
	}
	resp.Body.Close()
	if !slices.Equal(log.get(), []bool{false}) {
		t.Errorf("OnDone %v", log.get())
	}
}

// holdOpen answers the first request with resp and keeps the connection
// open until the client closes it.
func holdOpen(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, resp)
		io.Copy(io.Discard, br)
	}
}

// TestStatusLineCheckedEarly shows that a response that is not HTTP fails
// as soon as its first line (or enough bytes to tell it does not start
// with "HTTP/") has arrived, while the server keeps the connection open:
// it does not wait for the rest of a head that will never come.
func TestStatusLineCheckedEarly(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"ssh banner", "SSH-2.0-OpenSSH_9.6\r\n"},
		{"ssh banner, no line end yet", "SSH-2.0"},
		{"one byte", "X"},
		{"bad code", "HTTP/1.1 2x0 OK\r\n"},
		{"bad version", "HTTP/9 200 OK\r\n"},
		{"bad 1xx", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 1x OK\r\n"},
		{"empty line", "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, holdOpen(tc.resp))
			c, log := newDialer(t).conn(t, s.Addr(), Options{})
			// No deadline: only the check can end the wait. The guard
			// closes the connection if it does not.
			req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/", nil)
			guard := time.AfterFunc(5*time.Second, func() { c.Close() })
			defer guard.Stop()
			_, err := c.RoundTrip(req)
			if !guard.Stop() {
				t.Fatalf("RoundTrip waited for the rest of the head: %v", err)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Rule != ErrBadStatusLine {
				t.Fatalf("error %v, want %v", err, ErrBadStatusLine)
			}
			if !slices.Equal(log.get(), []bool{false}) {
				t.Errorf("OnDone %v", log.get())
			}
		})
	}
	// A valid start of a head is waited for.
	s := newRawServer(t, holdOpen("HTTP/1.1 200 OK\r\nContent-Le"))
	c, _ := newDialer(t).conn(t, s.Addr(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/", nil)
	if _, err := c.RoundTrip(req); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("incomplete valid head: %v, want the request's deadline", err)
	}
}

// TestSwitchingProtocolsWithoutUpgrade shows that a 101 response without
// "Upgrade" and "Connection: Upgrade" is not a protocol switch, as for
// net/http: the response has an empty body, the bytes after it are not
// handed to the caller, and the connection is closed.
func TestSwitchingProtocolsWithoutUpgrade(t *testing.T) {
	for _, resp := range []string{
		"HTTP/1.1 101 Switching Protocols\r\n\r\nraw bytes",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw bytes",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\nraw bytes",
	} {
		// net/http's transport, for reference.
		s := newRawServer(t, holdOpen(resp))
		std := &http.Transport{}
		req := newReq(t, "GET", s.Addr(), nil)
		sresp, err := std.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		stdBody, stdErr := io.ReadAll(sresp.Body)
		sresp.Body.Close()
		std.CloseIdleConnections()
		_, stdWritable := sresp.Body.(io.Writer)

		c, log := newDialer(t).conn(t, s.Addr(), Options{})
		got, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
		if err != nil {
			t.Fatal(err)
		}
		_, writable := got.Body.(io.Writer)
		guard := time.AfterFunc(5*time.Second, func() { got.Body.Close() })
		body, err := io.ReadAll(got.Body)
		if !guard.Stop() {
			t.Errorf("%q: the body was read until the server closed", resp)
		}
		got.Body.Close()
		if got.StatusCode != 101 || string(body) != string(stdBody) || (err == nil) != (stdErr == nil) ||
			writable != stdWritable || got.ContentLength != sresp.ContentLength {
			t.Errorf("%q: got %d %q %v writable=%v length %d; net/http %d %q %v writable=%v length %d", resp,
				got.StatusCode, body, err, writable, got.ContentLength,
				sresp.StatusCode, stdBody, stdErr, stdWritable, sresp.ContentLength)
		}
		if !slices.Equal(log.get(), []bool{false}) {
			t.Errorf("%q: OnDone %v, want the connection dropped", resp, log.get())
		}
	}
}

// TestSharedSentinels checks the errors that mean the same over HTTP/1.1
// and HTTP/2: a server that closed before responding (ErrServerClosed,
// also io.EOF), a request of which no byte was written (ErrNotProcessed:
// connection closed or busy, or its first write failing), and a response
// header timeout (both deadline sentinels).
func TestSharedSentinels(t *testing.T) {
	// Closed before responding.
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) { http.ReadRequest(br) })
	c, _ := newDialer(t).conn(t, s.Addr(), Options{})
	_, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if !errors.Is(err, ErrServerClosed) || !errors.Is(err, io.EOF) || errors.Is(err, ErrNotProcessed) {
		t.Errorf("server closed: %v", err)
	}
	// Closed and busy connections.
	if _, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil)); !errors.Is(err, ErrConnClosed) || !errors.Is(err, ErrNotProcessed) {
		t.Errorf("closed connection: %v", err)
	}
	s = newRawServer(t, respondEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	c, _ = newDialer(t).conn(t, s.Addr(), Options{})
	resp, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil)); !errors.Is(err, ErrConnBusy) || !errors.Is(err, ErrNotProcessed) {
		t.Errorf("busy connection: %v", err)
	}
	readAll(t, resp)
	// The first write fails: nothing of the request was written.
	st := &failingWrites{Stream: &memStream{}}
	c = NewConn(st, Options{})
	_, err = c.RoundTrip(newReq(t, "GET", "example.com", nil))
	var e *Error
	if !errors.Is(err, ErrNotProcessed) || !errors.As(err, &e) || e.Op != "write" || !e.NoResponse {
		t.Errorf("first write failed: %v", err)
	}
	// A write that failed after some bytes went out is not that.
	st = &failingWrites{Stream: &memStream{}, after: 10}
	c = NewConn(st, Options{})
	if _, err = c.RoundTrip(newReq(t, "POST", "example.com", strings.NewReader(strings.Repeat("x", 3*bufSize)))); err == nil || errors.Is(err, ErrNotProcessed) {
		t.Errorf("later write failed: %v", err)
	}
	// A response header timeout.
	s = stallServer(t, "")
	c, _ = newDialer(t).conn(t, s.Addr(), Options{ResponseHeaderTimeout: 20 * time.Millisecond})
	_, err = c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("response header timeout: %v", err)
	}
}

// failingWrites is a Stream whose writes fail once after bytes have
// been written.
type failingWrites struct {
	transport.Stream
	after   int
	written int
}

func (f *failingWrites) Write(p []byte) (int, error) {
	if f.written+len(p) <= f.after {
		f.written += len(p)
		return len(p), nil
	}
	n := f.after - f.written
	f.written = f.after
	return n, syscall.EPIPE
}

// wrapped is an error that WrapError returns.
type wrapped struct{ e *Error }

func (w *wrapped) Error() string { return "wrapped: " + w.e.Error() }
func (w *wrapped) Unwrap() error { return w.e }

// TestWrapError checks that Options.WrapError sees every error the Conn
// returns, from RoundTrip and from a body's Read, and not a body's EOF.
func TestWrapError(t *testing.T) {
	wrap := func(e *Error) error { return &wrapped{e} }
	s := newRawServer(t, respondOnce("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
	c, _ := newDialer(t).conn(t, s.Addr(), Options{WrapError: wrap})
	resp, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	var w *wrapped
	if !errors.As(err, &w) || w.e.Op != "body" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body error %v", err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.As(err, &w) || !errors.Is(err, ErrBodyClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := c.RoundTrip(newReq(t, "GET", s.Addr(), nil)); !errors.As(err, &w) || !errors.Is(err, ErrConnClosed) {
		t.Errorf("RoundTrip on a closed connection: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/", nil)
	c, _ = newDialer(t).conn(t, s.Addr(), Options{WrapError: wrap})
	if _, err := c.RoundTrip(req); !errors.As(err, &w) || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	s = newRawServer(t, respondOnce("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	c, _ = newDialer(t).conn(t, s.Addr(), Options{WrapError: wrap})
	resp, err = c.RoundTrip(newReq(t, "GET", s.Addr(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "ok" {
		t.Errorf("%q %v", body, err)
	}
}
