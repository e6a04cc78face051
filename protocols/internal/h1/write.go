package h1

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"

	"github.com/transportkit/transportkit/protocols/internal/gzipbody"
)

// writeRequest writes req's head and, unless it waits for "100
// Continue", its body. deferred reports that the body is still to be sent
// (by writeBody). On any error req.Body has been closed.
func (c *Conn) writeRequest(req *http.Request) (deferred bool, err error) {
	body, err := c.planBody(req)
	if err != nil {
		closeBody(req)
		c.wroteRequest(err)
		return false, err
	}
	c.wpool = bufPool.Get().(*[bufSize]byte)
	b, err := c.appendHead(c.wpool[:0], req)
	if err != nil {
		c.releaseWbuf()
		closeBody(req)
		c.wroteRequest(err)
		return false, err
	}
	c.wbuf = b
	if c.trace != nil && c.trace.WroteHeaders != nil {
		c.trace.WroteHeaders()
	}
	if body == nil {
		closeBody(req)
		err := c.flush()
		c.wroteRequest(err)
		if err != nil {
			return false, err
		}
		c.releaseWbuf()
		c.sent = true
		return false, nil
	}
	c.wbody = body
	if c.continueFor > 0 && containsToken(req.Header["Expect"], "100-continue") {
		if err := c.flush(); err != nil {
			closeBody(req)
			c.wroteRequest(err)
			return false, err
		}
		c.releaseWbuf()
		if c.trace != nil && c.trace.Wait100Continue != nil {
			c.trace.Wait100Continue()
		}
		return true, nil
	}
	if c.inline(req) {
		return false, c.writeBody(req)
	}
	if err := c.flush(); err != nil {
		closeBody(req)
		c.wroteRequest(err)
		return false, err
	}
	c.startBody(req)
	return false, nil
}

// inline reports whether req's body is written on the caller's goroutine
// with the head: a body known to be in memory (http.NewRequest sets
// GetBody for those) that fits the write buffer beside the head, which no
// server can hold up, and the body of a request asking for a protocol
// switch, whose stream goes to the caller after a 101. Any other body is
// written by a goroutine of its own while the caller reads the response,
// as net/http does: a server may answer before it has read the body (and
// stop reading it), and a caller may write a streamed body in answer to
// the response.
func (c *Conn) inline(req *http.Request) bool {
	if req.Header["Upgrade"] != nil {
		return true
	}
	return req.GetBody != nil && c.wlen >= 0 && c.wlen <= int64(cap(c.wbuf)-len(c.wbuf))
}

// bodyWriter is a request body being written on a goroutine of its own.
type bodyWriter struct {
	done  chan struct{} // closed when the writing is over
	err   error         // its failure, set before done is closed
	final atomic.Bool   // the last bytes are being written
}

// startBody writes req's body on a goroutine of its own (see inline). The
// writer owns the write buffer and the write counters until done is
// closed; the caller's goroutine learns the outcome from joinWriter. A
// body that fails (its Read, or its length) ends the exchange while no
// response head has come, since the server waits for the rest; a write
// that fails leaves the reading to find out why (the server's answer, or
// the connection's end). A request written in full starts the wait for
// the response head (Options.ResponseHeaderTimeout).
func (c *Conn) startBody(req *http.Request) {
	w := &bodyWriter{done: make(chan struct{})}
	c.bw = w
	go func() {
		err := c.writeBody(req)
		switch {
		case err == nil:
			c.armHeadTimer()
		case !c.wfailed:
			c.abortBeforeHead(err)
		}
		w.err = err
		close(w.done)
	}()
}

// sendDeferred sends a body held back for "100 Continue", now due.
func (c *Conn) sendDeferred(req *http.Request) {
	if c.inline(req) {
		// Written on this goroutine: the error, if any, is the
		// writer's, found by joinWriter like a writer goroutine's.
		w := &bodyWriter{done: make(chan struct{})}
		w.err = c.writeBody(req)
		if w.err == nil {
			c.armHeadTimer()
		}
		close(w.done)
		c.bw = w
		if w.err != nil && !c.wfailed {
			c.abortBeforeHead(w.err)
		}
		return
	}
	c.startBody(req)
}

// wroteRequest reports the end of the request's writing, with its error,
// to the trace.
func (c *Conn) wroteRequest(err error) {
	if c.trace != nil && c.trace.WroteRequest != nil {
		c.trace.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
}

// planBody decides how the request body is sent: c.wlen bytes, or chunked
// when c.wchunked. It returns nil when there is no body to send.
func (c *Conn) planBody(req *http.Request) (io.Reader, error) {
	var body io.Reader = req.Body
	if req.Body == nil || req.Body == http.NoBody {
		body = nil
	}
	te := req.TransferEncoding
	if len(te) > 1 || len(te) == 1 && te[0] != "chunked" {
		return nil, fmt.Errorf("%w: unsupported TransferEncoding %q", ErrInvalidRequest, te)
	}
	c.wlen, c.wchunked = req.ContentLength, false
	switch {
	case body == nil:
		if c.wlen > 0 {
			return nil, fmt.Errorf("%w: ContentLength=%d with no Body", ErrInvalidRequest, c.wlen)
		}
		c.wlen = 0
	case len(te) == 1 || c.wlen < 0:
		c.wchunked, c.wlen = true, -1
	case c.wlen == 0 && !usuallyBodiless(req.Method):
		// Unknown length: chunked, as net/http sends it. Reading ahead
		// would hold the head back until the caller writes a streamed
		// body, which it may do only once it has the response.
		c.wchunked, c.wlen = true, -1
	case c.wlen == 0:
		// Unknown length on a method that rarely has a body: peek one
		// byte to tell an empty body from one to send chunked.
		n, err := req.Body.Read(c.probe[:])
		if n == 0 && err == io.EOF {
			return nil, nil
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		c.wchunked, c.wlen = true, -1
		body = io.MultiReader(bytes.NewReader(c.probe[:n]), req.Body)
	}
	return body, nil
}

// usuallyBodiless reports a method whose requests rarely carry a body, for
// which net/http, too, looks for a body before it sends one.
func usuallyBodiless(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions, "PROPFIND", "SEARCH":
		return true
	}
	return false
}

// appendHead appends the request line and header fields to b.
func (c *Conn) appendHead(b []byte, req *http.Request) ([]byte, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	} else if !validToken(method) {
		return b, fmt.Errorf("%w: method %q", ErrInvalidRequest, method)
	}
	u := req.URL
	if u == nil {
		return b, fmt.Errorf("%w: nil URL", ErrInvalidRequest)
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	host, err := httpguts.PunycodeHostPort(host)
	if err != nil {
		return b, fmt.Errorf("%w: host %q: %v", ErrInvalidRequest, host, err)
	}
	host = removeZone(host)
	if host == "" || !validValue(host) || strings.ContainsAny(host, " \t") {
		return b, fmt.Errorf("%w: host %q", ErrInvalidRequest, host)
	}

	b = append(b, method...)
	b = append(b, ' ')
	start := len(b)
	b = appendTarget(b, u, method, host)
	for _, ch := range b[start:] {
		if ch < ' ' || ch == 0x7f {
			return b, fmt.Errorf("%w: control byte in target %q", ErrInvalidRequest, b[start:])
		}
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	// wf reports each field written, with the values written, as
	// net/http does; nil (no cost) without a trace.
	var wf func(string, []string)
	if c.trace != nil {
		wf = c.trace.WroteHeaderField
	}
	if wf != nil {
		wf("Host", []string{host})
	}

	if ua, ok := req.Header["User-Agent"]; !ok {
		b = append(b, "User-Agent: "...)
		b = append(b, c.userAgent...)
		b = append(b, "\r\n"...)
		if wf != nil {
			wf("User-Agent", []string{c.userAgent})
		}
	} else if len(ua) > 0 && ua[0] != "" {
		if !validValue(ua[0]) {
			return b, fmt.Errorf("%w: User-Agent %q", ErrInvalidRequest, ua[0])
		}
		b = append(b, "User-Agent: "...)
		b = append(b, trimOWS(ua[0])...)
		b = append(b, "\r\n"...)
		if wf != nil {
			wf("User-Agent", []string{trimOWS(ua[0])})
		}
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !validToken(k) {
			return b, fmt.Errorf("%w: header field name %q", ErrInvalidRequest, k)
		}
		for _, v := range vv {
			if !validValue(v) {
				return b, fmt.Errorf("%w: value of header field %q", ErrInvalidRequest, k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimOWS(v)...)
			b = append(b, "\r\n"...)
		}
		if wf != nil {
			var written []string
			for _, v := range vv {
				written = append(written, trimOWS(v))
			}
			wf(k, written)
		}
	}
	c.gzip = c.compress && gzipbody.Wanted(req)
	if c.gzip {
		b = append(b, "Accept-Encoding: "+gzipbody.HeaderValue+"\r\n"...)
		if wf != nil {
			wf("Accept-Encoding", []string{gzipbody.HeaderValue})
		}
	}
	askedClose := containsToken(req.Header["Connection"], "close")
	if (req.Close || c.oneShot) && !askedClose {
		b = append(b, "Connection: close\r\n"...)
		if wf != nil {
			wf("Connection", []string{"close"})
		}
	}
	c.closed = req.Close || c.oneShot || askedClose

	switch {
	case c.wchunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		if wf != nil {
			wf("Transfer-Encoding", []string{"chunked"})
		}
		if len(req.Trailer) > 0 {
			b = append(b, "Trailer: "...)
			first := true
			var keys []string
			for k := range req.Trailer {
				if !validToken(k) {
					return b, fmt.Errorf("%w: trailer field name %q", ErrInvalidRequest, k)
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = append(b, k...)
				if wf != nil {
					keys = append(keys, k)
				}
			}
			b = append(b, "\r\n"...)
			if wf != nil {
				wf("Trailer", keys)
			}
		}
	case c.wlen > 0 || method == "POST" || method == "PUT" || method == "PATCH":
		b = append(b, "Content-Length: "...)
		start := len(b)
		b = strconv.AppendInt(b, c.wlen, 10)
		if wf != nil {
			wf("Content-Length", []string{string(b[start:])})
		}
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// appendTarget appends the request target: the path and query, or the
// authority for CONNECT.
func appendTarget(b []byte, u *url.URL, method, host string) []byte {
	if method == http.MethodConnect && u.Path == "" {
		if u.Opaque != "" {
			return append(b, u.Opaque...)
		}
		return append(b, host...)
	}
	if u.Opaque != "" || u.ForceQuery {
		return append(b, u.RequestURI()...)
	}
	if p := u.EscapedPath(); p != "" {
		b = append(b, p...)
	} else {
		b = append(b, '/')
	}
	if u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	return b
}

// removeZone removes the zone from an IPv6 literal host, "[fe80::1%en0]:80"
// becoming "[fe80::1]:80", as servers do not expect it.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i, j := strings.IndexByte(host, '%'), strings.LastIndexByte(host, ']')
	if i < 0 || j < i {
		return host
	}
	return host[:i] + host[j:]
}

// writeBody sends the request body as planned and closes req.Body.
func (c *Conn) writeBody(req *http.Request) error {
	c.mu.Lock()
	c.reqBody = req.Body
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.reqBody = nil
		c.mu.Unlock()
		req.Body.Close()
		c.wbody = nil
	}()
	if c.wbuf == nil {
		c.wpool = bufPool.Get().(*[bufSize]byte)
		c.wbuf = c.wpool[:0]
	}
	var err error
	if c.wchunked {
		err = c.copyChunked(c.wbody, req.Trailer)
	} else {
		err = c.copyLength(c.wbody, c.wlen)
	}
	if err == nil {
		if c.bw != nil {
			c.bw.final.Store(true)
		}
		err = c.flush()
	}
	c.wroteRequest(err)
	c.releaseWbuf()
	if err == nil {
		c.sent = true
	}
	return err
}

// copyLength sends exactly n bytes of r, and fails with ErrBodyLength if r
// has fewer, or more (as net/http does: a caller's wrong length must not
// pass unnoticed; the extra bytes are not sent).
func (c *Conn) copyLength(r io.Reader, n int64) error {
	want := n
	for n > 0 {
		b := c.wbuf
		if len(b) == cap(b) {
			if err := c.flush(); err != nil {
				return err
			}
			b = c.wbuf
		}
		room := min(int64(cap(b)-len(b)), n)
		k, err := r.Read(b[len(b) : len(b)+int(room)])
		c.wbuf = b[:len(b)+k]
		n -= int64(k)
		if err == io.EOF {
			if n > 0 {
				return fmt.Errorf("%w: %d bytes missing", ErrBodyLength, n)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	// One more byte tells whether the body ends here; a reader that keeps
	// returning nothing is taken to end. The buffered end of the body
	// waits for it (as with net/http), so that a server never gets a
	// complete request whose body then fails.
	for range 3 {
		k, err := r.Read(c.probe[:])
		if k > 0 {
			return fmt.Errorf("%w: ContentLength=%d with a longer Body", ErrBodyLength, want)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chunkRoom is the space left before a chunk's data for its size line.
const chunkRoom = 6 // up to 4 hex digits (bufSize < 0x10000) and CRLF

// copyChunked sends r in chunks, one per Read, then the last chunk and
// the trailer fields.
func (c *Conn) copyChunked(r io.Reader, trailer http.Header) error {
	for {
		b := c.wbuf
		if cap(b)-len(b) < chunkRoom+2+512 {
			if err := c.flush(); err != nil {
				return err
			}
			b = c.wbuf
		}
		data := len(b) + chunkRoom
		end := min(cap(b)-2, data+0xffff)
		k, err := r.Read(b[data:end])
		if k > 0 {
			var line [chunkRoom]byte
			l := strconv.AppendUint(line[:0], uint64(k), 16)
			l = append(l, '\r', '\n')
			copy(b[len(b)+len(l):len(b)+len(l)+k], b[data:data+k])
			copy(b[len(b):len(b)+len(l)], l)
			b = b[:len(b)+len(l)+k]
			b = append(b, '\r', '\n')
			c.wbuf = b
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
	}
	b := append(c.wbuf, "0\r\n"...)
	for k, vv := range trailer {
		if !validToken(k) {
			return fmt.Errorf("%w: trailer field name %q", ErrInvalidRequest, k)
		}
		for _, v := range vv {
			if !validValue(v) {
				return fmt.Errorf("%w: value of trailer field %q", ErrInvalidRequest, k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimOWS(v)...)
			b = append(b, "\r\n"...)
		}
	}
	c.wbuf = append(b, "\r\n"...)
	return nil
}

// flush writes the buffered bytes.
func (c *Conn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	n, err := c.s.Write(c.wbuf)
	c.nwritten += int64(n)
	c.wfailed = c.wfailed || err != nil
	c.wbuf = c.wbuf[:0]
	return err
}
