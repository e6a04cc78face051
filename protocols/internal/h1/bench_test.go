package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
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

// BenchmarkRoundTrip measures one keep-alive GET of a small body over a
// loopback Conn, without and with an httptrace.ClientTrace attached, to
// show what the hooks cost. allocs/op is the figure that matters (the
// server shares the cores); the server reads heads without allocating,
// so that it counts the client's allocations only.
func BenchmarkRoundTrip(b *testing.B) {
	srv := newRawServer(b, func(c net.Conn, br *bufio.Reader) {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 { // the end of a head (requests have no body)
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"); err != nil {
					return
				}
			}
		}
	})
	for _, tc := range []struct {
		name  string
		trace *httptrace.ClientTrace
	}{
		{"plain", nil},
		{"trace", &httptrace.ClientTrace{
			WroteHeaders:         func() {},
			WroteRequest:         func(httptrace.WroteRequestInfo) {},
			GotFirstResponseByte: func() {},
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, _ := newDialer(b).conn(b, srv.Addr(), Options{})
			ctx := context.Background()
			if tc.trace != nil {
				ctx = httptrace.WithClientTrace(ctx, tc.trace)
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr()+"/", nil)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
		})
	}
}
