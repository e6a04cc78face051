package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

var nginxHead = []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 17:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n")

// BenchmarkParseHead measures the codec on a typical nginx head, next to
// http.ReadResponse on the same bytes.
func BenchmarkParseHead(b *testing.B) {
	b.Run("h1", func(b *testing.B) {
		b.ReportAllocs()
		var h head
		for i := 0; i < b.N; i++ {
			if err := h.parse(nginxHead, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net/http", func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(nginxHead)
		br := bufio.NewReader(r)
		for i := 0; i < b.N; i++ {
			r.Reset(nginxHead)
			br.Reset(r)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
		}
	})
}
