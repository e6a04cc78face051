package h1

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

// gzipServer is a Go server that gzips its answer when the request asks
// for gzip, and records the Accept-Encoding values it received.
type gzipServer struct {
	*httptest.Server
	mu       sync.Mutex
	accepted []string
}

const gzipText = "the same words, over and over: the same words, over and over"

func newGzipServer(t *testing.T) *gzipServer {
	s := &gzipServer{}
	zipped := gzipped(t, gzipText)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ae := r.Header.Get("Accept-Encoding")
		s.mu.Lock()
		s.accepted = append(s.accepted, ae)
		s.mu.Unlock()
		body := []byte(gzipText)
		if strings.Contains(ae, "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			body = zipped
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body) // HEAD: net/http writes no body
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *gzipServer) lastAccepted() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[len(s.accepted)-1]
}

func TestCompression(t *testing.T) {
	srv := newGzipServer(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	raw := string(gzipped(t, gzipText))
	for _, tc := range []struct {
		name        string
		opts        Options
		method      string
		header      http.Header
		sent        string // Accept-Encoding the server saw
		body        string
		encoding    string // Content-Encoding left in the response
		uncompresed bool
	}{
		{"on", Options{}, "GET", nil, "gzip", gzipText, "", true},
		{"off", Options{DisableCompression: true}, "GET", nil, "", gzipText, "", false},
		{"caller's Accept-Encoding", Options{}, "GET", http.Header{"Accept-Encoding": {"gzip"}}, "gzip", raw, "gzip", false},
		{"caller's other encoding", Options{}, "GET", http.Header{"Accept-Encoding": {"identity"}}, "identity", gzipText, "", false},
		{"range", Options{}, "GET", http.Header{"Range": {"bytes=0-"}}, "", gzipText, "", false},
		{"head", Options{}, "HEAD", nil, "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, log := newDialer(t).conn(t, addr, tc.opts)
			req := newReq(t, tc.method, addr, nil)
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
			if a := srv.lastAccepted(); a != tc.sent {
				t.Errorf("server saw Accept-Encoding %q, want %q", a, tc.sent)
			}
			if e := resp.Header.Get("Content-Encoding"); e != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", e, tc.encoding)
			}
			if resp.Uncompressed != tc.uncompresed {
				t.Errorf("Uncompressed %v, want %v", resp.Uncompressed, tc.uncompresed)
			}
			if tc.uncompresed {
				if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
					t.Errorf("ContentLength %d, Content-Length %q: want -1 and none", resp.ContentLength, resp.Header.Get("Content-Length"))
				}
			} else if resp.ContentLength < 0 || resp.Header.Get("Content-Length") == "" {
				t.Errorf("ContentLength %d, Content-Length %q: want both kept", resp.ContentLength, resp.Header.Get("Content-Length"))
			}
			if len(req.Header) != len(before) || req.Header.Get("Accept-Encoding") != before.Get("Accept-Encoding") {
				t.Errorf("req.Header changed: %v, was %v", req.Header, before)
			}
			if d := log.get(); len(d) != 1 || !d[0] {
				t.Errorf("OnDone %v, want [true]: the connection is reusable", d)
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
		{"empty chunked", nil, io.ErrUnexpectedEOF},
		{"bad checksum", append(append([]byte{}, zipped[:len(zipped)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), gzip.ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(tc.body)) + "\r\n\r\n"
			if tc.body == nil {
				head = "HTTP/1.1 200 OK\r\nContent-Encoding: GZIP\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
			}
			srv := newRawServer(t, respondEach(head+string(tc.body)))
			c, _ := newDialer(t).conn(t, srv.addr(), Options{})
			resp, err := c.RoundTrip(newReq(t, "GET", srv.addr(), nil))
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
