// Package gzipbody is transparent response compression as net/http does
// it, shared by protocols/internal/h1 and protocols/internal/h2: a request that states no
// preference is sent with "Accept-Encoding: gzip", and a gzip response to
// it is decompressed as it is read.
package gzipbody

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Wanted reports whether the transport should ask for gzip on req's
// behalf, as net/http does: the caller set no Accept-Encoding and no
// Range (a byte range of the compressed form is of no use to it), and the
// method is not HEAD (some servers answer HEAD with the length of the
// compressed form, which the caller cannot use).
func Wanted(req *http.Request) bool {
	// Get, not a presence test: an empty value states no preference, as
	// net/http reads it.
	return req.Method != http.MethodHead &&
		req.Header.Get("Accept-Encoding") == "" &&
		req.Header.Get("Range") == ""
}

// HeaderValue is the Accept-Encoding value sent when Wanted.
const HeaderValue = "gzip"

// Unwrap decompresses resp's body in place when the response is gzip:
// its Content-Encoding is "gzip" (in any case) and it has a body. The
// Content-Encoding and Content-Length fields are removed, ContentLength
// becomes -1 and Uncompressed true, as with net/http. Call it only for
// responses to requests the transport asked gzip for.
func Unwrap(resp *http.Response) {
	if resp.Body == nil || resp.Body == http.NoBody || !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		return
	}
	resp.Body = &Reader{body: resp.Body}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
}

// ErrBodyClosed is returned by a Read after Close.
var ErrBodyClosed = errors.New("gzipbody: read on closed response body")

// Reader decompresses a gzip body lazily: the gzip header is read on the
// first Read, so a caller that only closes the body reads nothing. A
// corrupt stream is a Read error (and stays one), never a panic.
type Reader struct {
	body io.ReadCloser

	mu     sync.Mutex // guards zr, err and closed against a concurrent Close
	zr     *gzip.Reader
	err    error // sticky error of the decompressor
	closed bool
}

// Read reads decompressed bytes.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, ErrBodyClosed
	}
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return 0, err
	}
	zr := r.zr
	r.mu.Unlock()
	if zr == nil {
		var err error
		zr, err = gzip.NewReader(r.body)
		if err != nil {
			// An empty body gives io.EOF: an empty body, as net/http
			// reads it, and that is sticky too.
			return 0, r.fail(err)
		}
		r.mu.Lock()
		r.zr = zr
		r.mu.Unlock()
	}
	n, err := zr.Read(p)
	if err != nil && err != io.EOF {
		return n, r.fail(err)
	}
	return n, err
}

// fail records err as the sticky error and returns it.
func (r *Reader) fail(err error) error {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	err = r.err
	r.mu.Unlock()
	return err
}

// Close closes the underlying body.
func (r *Reader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return r.body.Close()
}
