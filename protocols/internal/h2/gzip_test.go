package h2

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

// gzipped is s compressed with gzip.
func gzipped(t testing.TB, s string) []byte {
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

const gzipText = "the same words, over and over: the same words, over and over"

func TestCompression(t *testing.T) {
	zipped := gzipped(t, gzipText)
	var mu sync.Mutex
	var accepted string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ae := r.Header.Get("Accept-Encoding")
		mu.Lock()
		accepted = ae
		mu.Unlock()
		body := []byte(gzipText)
		if strings.Contains(ae, "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			body = zipped
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	for _, tc := range []struct {
		name         string
		opts         Options
		method       string
		header       http.Header
		sent         string // Accept-Encoding the server saw
		body         string
		encoding     string // Content-Encoding left in the response
		uncompressed bool
	}{
		{"on", Options{}, "GET", nil, "gzip", gzipText, "", true},
		{"off", Options{DisableCompression: true}, "GET", nil, "", gzipText, "", false},
		{"caller's Accept-Encoding", Options{}, "GET", http.Header{"Accept-Encoding": {"gzip"}}, "gzip", string(zipped), "gzip", false},
		{"caller's other encoding", Options{}, "GET", http.Header{"Accept-Encoding": {"identity"}}, "identity", gzipText, "", false},
		{"range", Options{}, "GET", http.Header{"Range": {"bytes=0-"}}, "", gzipText, "", false},
		{"head", Options{}, "HEAD", nil, "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mockH2C(t, h, 0, tc.opts)
			req, _ := http.NewRequestWithContext(testContext(t), tc.method, "http://h2c.test/", nil)
			for k, vv := range tc.header {
				req.Header[k] = vv
			}
			before := req.Header.Clone()
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			mu.Lock()
			a := accepted
			mu.Unlock()
			if a != tc.sent {
				t.Errorf("server saw Accept-Encoding %q, want %q", a, tc.sent)
			}
			if e := resp.Header.Get("Content-Encoding"); e != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", e, tc.encoding)
			}
			if resp.Uncompressed != tc.uncompressed {
				t.Errorf("Uncompressed %v, want %v", resp.Uncompressed, tc.uncompressed)
			}
			if tc.uncompressed {
				if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
					t.Errorf("ContentLength %d, Content-Length %q: want -1 and none", resp.ContentLength, resp.Header.Get("Content-Length"))
				}
			} else if resp.ContentLength < 0 || resp.Header.Get("Content-Length") == "" {
				t.Errorf("ContentLength %d, Content-Length %q: want both kept", resp.ContentLength, resp.Header.Get("Content-Length"))
			}
			if len(req.Header) != len(before) || req.Header.Get("Accept-Encoding") != before.Get("Accept-Encoding") {
				t.Errorf("req.Header changed: %v, was %v", req.Header, before)
			}
			if st := c.State(); st.Active != 0 {
				t.Errorf("%d requests still active after the body was closed", st.Active)
			}
		})
	}
}

func TestCompressionCorruptBody(t *testing.T) {
	zipped := gzipped(t, gzipText)
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"not gzip", []byte("plain text, not gzip"), gzip.ErrHeader},
		{"truncated", zipped[:len(zipped)-10], io.ErrUnexpectedEOF},
		{"empty", []byte{}, io.ErrUnexpectedEOF},
		{"bad checksum", append(append([]byte{}, zipped[:len(zipped)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), gzip.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mockH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush() // a body follows, even when empty
				w.Write(tc.body)
			}), 0, Options{})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h2c.test/", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if !resp.Uncompressed {
				t.Fatal("response not decompressed")
			}
			_, err = io.ReadAll(resp.Body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("read error %v, want %v", err, tc.want)
			}
			if _, again := resp.Body.Read(make([]byte, 8)); again == nil {
				t.Error("a second Read after the error succeeded")
			}
		})
	}
}
