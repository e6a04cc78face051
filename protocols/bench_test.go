package protocols

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"sync"
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
		be, _ := stdnet.Open(transport.Options{})
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

// BenchmarkIdleMemory is W3 in small: it opens idleConns keep-alive
// connections to nginx through the pool, lets them idle, and reports the
// Go memory (heap and stacks in use, after GC) and goroutines each one
// costs. Run with -benchtime 1x.
func BenchmarkIdleMemory(b *testing.B) {
	n := startNginx(b)
	url := "http://" + n.http + "/hello"
	const idleConns = 2000
	measure := func() (mem uint64, goroutines int) {
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
	}
	run := func(b *testing.B, rt http.RoundTripper, closeIdle func()) {
		for i := 0; i < b.N; i++ {
			mem0, g0 := measure()
			var ready, done sync.WaitGroup
			ready.Add(idleConns)
			release := make(chan struct{})
			for j := 0; j < idleConns; j++ {
				done.Add(1)
				go func() {
					defer done.Done()
					req, _ := http.NewRequest("GET", url, nil)
					resp, err := rt.RoundTrip(req)
					ready.Done()
					if err != nil {
						b.Error(err)
						return
					}
					<-release
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}()
			}
			ready.Wait()
			close(release)
			done.Wait()
			mem1, g1 := measure()
			b.ReportMetric(float64(int64(mem1)-int64(mem0))/idleConns, "B/idleconn")
			b.ReportMetric(float64(g1-g0)/idleConns, "goroutines/idleconn")
			closeIdle()
		}
	}
	b.Run("nethttp", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: idleConns, MaxIdleConns: idleConns}
		run(b, tr, tr.CloseIdleConnections)
	})
	b.Run("epoll", func(b *testing.B) {
		be, err := epoll.Open(transport.Options{})
		if err != nil {
			b.Skip(err)
		}
		defer be.Close()
		tr := &Transport{Backend: be, MaxIdleConnsPerHost: idleConns}
		defer tr.Close()
		run(b, tr, tr.CloseIdleConnections)
	})
	b.Run("stdnet", func(b *testing.B) {
		be, _ := stdnet.Open(transport.Options{})
		defer be.Close()
		tr := &Transport{Backend: be, MaxIdleConnsPerHost: idleConns}
		defer tr.Close()
		run(b, tr, tr.CloseIdleConnections)
	})
}
