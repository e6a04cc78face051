package protocols

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

// BenchmarkGetNginx is W4 in small: parallel keep-alive GETs of a small
// body from nginx, through this transport on each backend and through
// net/http. Compare the ns/op of the sub-benchmarks of one run.
func BenchmarkGetNginx(b *testing.B) {
	n := startNginx(b)
	url := "http://" + n.http + "/hello"
	run := func(b *testing.B, rt http.RoundTripper) {
		client := &http.Client{Transport: rt}
		b.SetParallelism(32) // 64 callers on 2 cores
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
			for pb.Next() {
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	b.Run("nethttp", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 128}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("stdnet", func(b *testing.B) {
		be, _ := stdnet.New(transport.Options{})
		defer be.Close()
		tr := &Transport{Backend: be, MaxIdleConnsPerHost: 128}
		defer tr.Close()
		run(b, tr)
	})
	b.Run("epoll", func(b *testing.B) {
		be, err := epoll.Open(transport.Options{})
		if err != nil {
			b.Skip(err)
		}
		defer be.Close()
		tr := &Transport{Backend: be, MaxIdleConnsPerHost: 128}
		defer tr.Close()
		run(b, tr)
	})
}
