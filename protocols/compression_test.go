package protocols

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

// TestCompression: over HTTP/1.1 and HTTP/2, the Transport asks a Go
// server for gzip and decompresses its answer, as net/http does, unless
// DisableCompression is set.
func TestCompression(t *testing.T) {
	const text = "compressible text, compressible text, compressible text"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accept-Encoding", r.Header.Get("Accept-Encoding"))
		w.Header().Set("X-Proto", r.Proto)
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, text)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		io.WriteString(zw, text)
		zw.Close()
		w.Write(buf.Bytes())
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(h)
	secure.EnableHTTP2 = true
	secure.Config.ErrorLog = log.New(io.Discard, "", 0)
	secure.StartTLS()
	defer secure.Close()
	roots := secure.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	b, err := stdnet.Open(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tc := range []struct {
		url, proto string
	}{
		{plain.URL, "HTTP/1.1"},
		{secure.URL, "HTTP/2.0"},
	} {
		for _, disable := range []bool{false, true} {
			tr := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: roots}, DisableCompression: disable}
			resp, body, err := do(t, tr, mustRequest(t, "GET", tc.url, nil))
			tr.Close()
			if err != nil {
				t.Fatalf("%s disable=%v: %v", tc.proto, disable, err)
			}
			if got := resp.Header.Get("X-Proto"); got != tc.proto {
				t.Fatalf("served over %s, want %s", got, tc.proto)
			}
			wantAE := "gzip"
			if disable {
				wantAE = ""
			}
			if body != text || resp.Header.Get("X-Accept-Encoding") != wantAE || resp.Uncompressed == disable ||
				resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("%s disable=%v: body %q, server saw Accept-Encoding %q, Uncompressed %v, Content-Encoding %q",
					tc.proto, disable, body, resp.Header.Get("X-Accept-Encoding"), resp.Uncompressed, resp.Header.Get("Content-Encoding"))
			}
		}
	}
}
