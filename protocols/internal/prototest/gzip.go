package prototest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// GzipText is the body GzipHandler serves: text that compresses.
const GzipText = "the same words, over and over: the same words, over and over"

// Gzipped returns s compressed with gzip.
func Gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// GzipHandler serves GzipText with its Content-Length, gzipped (with
// Content-Encoding: gzip) when the request's Accept-Encoding names gzip,
// and records the Accept-Encoding of every request.
type GzipHandler struct {
	zipped []byte

	mu       sync.Mutex
	accepted []string
}

// NewGzipHandler returns a GzipHandler.
func NewGzipHandler(t testing.TB) *GzipHandler {
	t.Helper()
	return &GzipHandler{zipped: Gzipped(t, GzipText)}
}

// ServeHTTP answers r; a HEAD gets the head alone.
func (h *GzipHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ae := r.Header.Get("Accept-Encoding")
	h.mu.Lock()
	h.accepted = append(h.accepted, ae)
	h.mu.Unlock()
	body := []byte(GzipText)
	if strings.Contains(ae, "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		body = h.zipped
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body) // HEAD: net/http writes no body
}

// LastAccepted returns the Accept-Encoding of the last request ("" if
// none came).
func (h *GzipHandler) LastAccepted() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.accepted) == 0 {
		return ""
	}
	return h.accepted[len(h.accepted)-1]
}

// CompressionCase is a request to a GzipHandler and what the client must
// make of its answer.
type CompressionCase struct {
	Name string
	// DisableCompression is the client option of that name.
	DisableCompression bool
	Method             string
	Header             http.Header // the caller's own fields
	Sent               string      // the Accept-Encoding the server sees
	Body               string      // the body the caller reads
	Encoding           string      // the Content-Encoding left in the response
	Uncompressed       bool        // the client decompressed the body
}

// CompressionCases are the cases of transparent decompression, as
// net/http's Transport does it: asked for and undone by default, neither
// with DisableCompression, left alone when the caller asked for an
// encoding itself or sent a Range, and never for HEAD.
func CompressionCases(t testing.TB) []CompressionCase {
	raw := string(Gzipped(t, GzipText))
	return []CompressionCase{
		{"on", false, "GET", nil, "gzip", GzipText, "", true},
		{"off", true, "GET", nil, "", GzipText, "", false},
		{"caller's Accept-Encoding", false, "GET", http.Header{"Accept-Encoding": {"gzip"}}, "gzip", raw, "gzip", false},
		{"caller's other encoding", false, "GET", http.Header{"Accept-Encoding": {"identity"}}, "identity", GzipText, "", false},
		{"range", false, "GET", http.Header{"Range": {"bytes=0-"}}, "", GzipText, "", false},
		{"head", false, "HEAD", nil, "", "", "", false},
	}
}

// Request adds the case's fields to req and returns a copy of its header
// before the round trip, for CheckResponse.
func (tc CompressionCase) Request(req *http.Request) (before http.Header) {
	for k, vv := range tc.Header {
		req.Header[k] = vv
	}
	return req.Header.Clone()
}

// CheckResponse reads and closes resp's body and checks the response to
// req against the case: the body, the Accept-Encoding h saw, the
// Content-Encoding and Content-Length left, Uncompressed, and req's header
// unchanged from before.
func (tc CompressionCase) CheckResponse(t testing.TB, h *GzipHandler, req *http.Request, before http.Header, resp *http.Response) {
	t.Helper()
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != tc.Body {
		t.Errorf("body %q, want %q", got, tc.Body)
	}
	if a := h.LastAccepted(); a != tc.Sent {
		t.Errorf("server saw Accept-Encoding %q, want %q", a, tc.Sent)
	}
	if e := resp.Header.Get("Content-Encoding"); e != tc.Encoding {
		t.Errorf("Content-Encoding %q, want %q", e, tc.Encoding)
	}
	if resp.Uncompressed != tc.Uncompressed {
		t.Errorf("Uncompressed %v, want %v", resp.Uncompressed, tc.Uncompressed)
	}
	if tc.Uncompressed {
		if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
			t.Errorf("ContentLength %d, Content-Length %q: want -1 and none", resp.ContentLength, resp.Header.Get("Content-Length"))
		}
	} else if resp.ContentLength < 0 || resp.Header.Get("Content-Length") == "" {
		t.Errorf("ContentLength %d, Content-Length %q: want both kept", resp.ContentLength, resp.Header.Get("Content-Length"))
	}
	if len(req.Header) != len(before) || req.Header.Get("Accept-Encoding") != before.Get("Accept-Encoding") {
		t.Errorf("req.Header changed: %v, was %v", req.Header, before)
	}
}

// CorruptCase is a gzip-encoded body that is not valid gzip, and the error
// reading it must match.
type CorruptCase struct {
	Name string
	Body []byte
	Want error
}

// CorruptCases are bodies labelled gzip that do not decompress: not gzip,
// cut short, and with a bad checksum. Each protocol adds its own empty
// body.
func CorruptCases(t testing.TB) []CorruptCase {
	zipped := Gzipped(t, GzipText)
	return []CorruptCase{
		{"not gzip", []byte("plain text, not gzip"), gzip.ErrHeader},
		{"truncated", zipped[:len(zipped)-10], io.ErrUnexpectedEOF},
		{"bad checksum", append(append([]byte{}, zipped[:len(zipped)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), gzip.ErrChecksum},
	}
}

// CheckCorrupt checks that resp was to be decompressed, that reading its
// body fails with an error matching want, and that a Read after that
// fails too. It closes the body.
//
// A want of nil is an empty body: as net/http, it reads as an empty
// decompressed body, with no error.
func CheckCorrupt(t testing.TB, resp *http.Response, want error) {
	t.Helper()
	defer resp.Body.Close()
	if !resp.Uncompressed {
		t.Fatal("response not decompressed")
	}
	if want == nil {
		if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
			t.Fatalf("empty gzip body read %q, %v; want nothing and no error", b, err)
		}
		return
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, want) {
		t.Fatalf("read error %v, want %v", err, want)
	}
	if _, again := resp.Body.Read(make([]byte, 8)); again == nil {
		t.Error("a second Read after the error succeeded")
	}
}
