package protocols

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/transport"
)

// TestPconnSize pins the pooled HTTP/1.1 connection's record at 48 bytes,
// a size class the TLS handshake's short-lived objects barely use: at 88
// bytes (96-byte class, where the handshake makes about 84 objects per
// connection) an idle TLS connection cost about 1.5 KB more HeapInuse in
// W3 with the same live objects (docs/design/idle-memory.md).
func TestPconnSize(t *testing.T) {
	if got := unsafe.Sizeof(pconn{}); got > 48 {
		t.Fatalf("pconn is %d bytes, want at most 48 (one size class with the handshake's garbage costs idle TLS connections HeapInuse)", got)
	}
}

// idleCost is what each of n idle pooled connections costs the process,
// measured after two collections against a baseline taken before the
// connections were opened.
type idleCost struct {
	inuse   float64 // HeapInuse+StackInuse: what W3 reports
	live    float64 // HeapAlloc: the live objects alone
	allocs  float64 // allocations made to open it and carry its one request
	gorouts float64 // goroutines held
}

func (c idleCost) report(b *testing.B) {
	b.ReportMetric(c.inuse, "inuse-B/idleconn")
	b.ReportMetric(c.live, "live-B/idleconn")
	b.ReportMetric(c.allocs, "allocs/dial")
	b.ReportMetric(c.gorouts, "goroutines/idleconn")
}

func memStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// openIdle makes rt open n connections, as W3 does: n requests in flight
// at once (at most ramp waiting for their response head), every response
// held until all arrived, then read and closed, which leaves the n
// connections idle in the pool. No request carries a trace or a deadline.
func openIdle(b *testing.B, rt http.RoundTripper, url string, n, ramp int) idleCost {
	b.Helper()
	// The goroutines the harness needs exist before the baseline.
	var warm sync.WaitGroup
	gate := make(chan struct{})
	for range n + ramp {
		warm.Go(func() { <-gate })
	}
	close(gate)
	warm.Wait()
	ms0 := memStats()
	g0 := runtime.NumGoroutine()

	var ready, done sync.WaitGroup
	slots := make(chan struct{}, ramp)
	release := make(chan struct{})
	errs := make(chan error, n)
	ready.Add(n)
	for range n {
		slots <- struct{}{}
		done.Go(func() {
			req, err := http.NewRequest("GET", url, nil)
			var resp *http.Response
			if err == nil {
				resp, err = rt.RoundTrip(req)
			}
			<-slots
			ready.Done()
			if err != nil {
				errs <- err
				return
			}
			<-release
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				errs <- err
			}
		})
	}
	ready.Wait()
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	ms1 := memStats()
	g1 := runtime.NumGoroutine()
	per := func(a, z uint64) float64 { return float64(int64(z)-int64(a)) / float64(n) }
	return idleCost{
		inuse:   per(ms0.HeapInuse+ms0.StackInuse, ms1.HeapInuse+ms1.StackInuse),
		live:    per(ms0.HeapAlloc, ms1.HeapAlloc),
		allocs:  per(ms0.Mallocs, ms1.Mallocs),
		gorouts: float64(g1-g0) / float64(n),
	}
}

// BenchmarkIdleConnCost reports what an idle pooled HTTP/1.1 connection
// costs, tracing and compression unused: Go memory (HeapInuse+StackInuse,
// W3's measure, and the live heap alone) and the allocations made to open
// it and carry one request. "memory" runs over in-memory streams (no
// kernel, no server in the process: the figures are deterministic);
// "nginx-tls" is W3 over TLS 1.3 on epoll, nginx in another process. Run
// with -benchtime 1x; compare commits with benchstat over -count runs.
func BenchmarkIdleConnCost(b *testing.B) {
	const n = 2000
	b.Run("memory", func(b *testing.B) {
		for range b.N {
			tr := &Transport{Backend: responderBackend{}, MaxIdleConnsPerHost: n}
			openIdle(b, tr, "http://example.com/hello", n, 256).report(b)
			tr.Close()
		}
	})
	b.Run("nginx-tls", func(b *testing.B) {
		ng := startNginx(b)
		be, err := epoll.Open(transport.Options{})
		if err != nil {
			b.Skip(err)
		}
		defer be.Close()
		for range b.N {
			tr := &Transport{Backend: be, MaxIdleConnsPerHost: n,
				TLSClientConfig: &tls.Config{RootCAs: ng.certs.Roots}}
			openIdle(b, tr, fmt.Sprintf("https://%s/hello", ng.https), n, 256).report(b)
			tr.Close()
		}
	})
}
