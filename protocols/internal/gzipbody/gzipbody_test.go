package gzipbody

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

type closer struct {
	io.Reader
	closed bool
}

func (c *closer) Close() error { c.closed = true; return nil }

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		method string
		header http.Header
		want   bool
	}{
		{"GET", http.Header{}, true},
		{"POST", http.Header{}, true},
		{"HEAD", http.Header{}, false},
		{"GET", http.Header{"Accept-Encoding": {"br"}}, false},
		{"GET", http.Header{"Accept-Encoding": {""}}, true}, // empty: no preference, as net/http reads it
		{"GET", http.Header{"Range": {"bytes=0-1"}}, false},
	} {
		req := &http.Request{Method: tc.method, Header: tc.header}
		if got := Wanted(req); got != tc.want {
			t.Errorf("Wanted(%s %v) = %v, want %v", tc.method, tc.header, got, tc.want)
		}
	}
}

func TestUnwrap(t *testing.T) {
	text := strings.Repeat("transportkit ", 1000)
	body := &closer{Reader: bytes.NewReader(gz(t, text))}
	resp := &http.Response{
		Header:        http.Header{"Content-Encoding": {"GZIP"}, "Content-Length": {"99"}},
		ContentLength: 99,
		Body:          body,
	}
	Unwrap(resp)
	if !resp.Uncompressed || resp.ContentLength != -1 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("response not rewritten: %+v", resp)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != text {
		t.Fatalf("read %d bytes, %v; want the text", len(got), err)
	}
	if err := resp.Body.Close(); err != nil || !body.closed {
		t.Fatalf("Close = %v, underlying closed %v", err, body.closed)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, ErrBodyClosed) {
		t.Errorf("Read after Close = %v, want ErrBodyClosed", err)
	}
}

func TestUnwrapLeavesOthers(t *testing.T) {
	for _, resp := range []*http.Response{
		{Header: http.Header{"Content-Encoding": {"br"}}, Body: io.NopCloser(strings.NewReader("x"))},
		{Header: http.Header{"Content-Encoding": {"gzip"}}, Body: http.NoBody},
		{Header: http.Header{"Content-Encoding": {"gzip"}}},
		{Header: http.Header{}, Body: io.NopCloser(strings.NewReader("x"))},
	} {
		before := resp.Body
		Unwrap(resp)
		if resp.Body != before || resp.Uncompressed {
			t.Errorf("Unwrap changed %+v", resp)
		}
	}
}

// TestEmptyBody: an empty body labelled gzip reads as an empty body with no
// error, as net/http's does.
func TestEmptyBody(t *testing.T) {
	resp := &http.Response{Header: http.Header{"Content-Encoding": {"gzip"}}, Body: io.NopCloser(bytes.NewReader(nil))}
	Unwrap(resp)
	for range 2 {
		if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
			t.Fatalf("read %q, %v; want nothing and no error", b, err)
		}
	}
}

func TestCorruptIsReadError(t *testing.T) {
	good := gz(t, strings.Repeat("a", 5000))
	corrupt := append([]byte{}, good...)
	corrupt[len(corrupt)/2] ^= 0xff
	for name, data := range map[string][]byte{
		"not gzip":  []byte("plain text, not gzip"),
		"truncated": good[:len(good)/2],
		"corrupt":   corrupt,
		"bad crc":   append(good[:len(good)-8:len(good)-8], 1, 2, 3, 4, 5, 6, 7, 8),
	} {
		t.Run(name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{"Content-Encoding": {"gzip"}}, Body: io.NopCloser(bytes.NewReader(data))}
			Unwrap(resp)
			_, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatal("read a corrupt gzip body without error")
			}
			// The error stays.
			if _, err2 := resp.Body.Read(make([]byte, 10)); err2 == nil || err2 == io.EOF {
				t.Errorf("second Read = %v, want the error again", err2)
			}
		})
	}
}
