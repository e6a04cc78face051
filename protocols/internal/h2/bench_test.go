package h2

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
)

// Workload W5 in miniature (the bench module's W5, bench/w5_h2.go, runs it
// against nginx; BENCHMARKS.md has its figures): GETs of a small body by
// 16 or 32 goroutines over one HTTP/2 connection to a loopback net/http server,
// with this package's Conn and with net/http's own HTTP/2 client, over
// TLS and over h2c. Client and server share the machine's cores.

var small = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello world\n")
})

// BenchmarkRoundTrip measures each client on its own, for benchstat:
//
//	go test -run '^$' -bench 'RoundTrip$' -count 10 ./protocols/h2/ | benchstat -col /client -
func BenchmarkRoundTrip(b *testing.B) {
	for _, callers := range []int{16, 32} {
		for _, proto := range []string{"tls", "h2c"} {
			for _, client := range []string{"h2.Conn", "net-http"} {
				b.Run(fmt.Sprintf("callers=%d/proto=%s/client=%s", callers, proto, client), func(b *testing.B) {
					addr := loopbackAddr(b, small, proto == "tls")
					rt, url := benchClient(b, client, proto, addr)
					req, _ := http.NewRequest("GET", url, nil)
					roundTrip(b, rt, req) // connect outside the timing
					b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
					b.ReportAllocs()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							roundTrip(b, rt, req)
						}
					})
				})
			}
		}
	}
}

// BenchmarkRoundTripRatio runs both clients in turns in one process
// (A B B A ... over 10 rounds, against one server) and reports the
// req/s of each over all rounds, the median of the per-round ratios
// h2.Conn / net/http, and the process's CPU time per request with each
// (client and server together, where the OS reports it):
//
//	go test -run '^$' -bench RoundTripRatio -benchtime 20000x ./protocols/h2/
func BenchmarkRoundTripRatio(b *testing.B) {
	for _, callers := range []int{16, 32} {
		for _, proto := range []string{"tls", "h2c"} {
			b.Run(fmt.Sprintf("callers=%d/proto=%s", callers, proto), func(b *testing.B) {
				addr := loopbackAddr(b, small, proto == "tls")
				ours, url := benchClient(b, "h2.Conn", proto, addr)
				theirs, _ := benchClient(b, "net-http", proto, addr)
				req, _ := http.NewRequest("GET", url, nil)
				roundTrip(b, ours, req)
				roundTrip(b, theirs, req)
				const rounds = 10
				per := max(callers, b.N/rounds)
				var tOurs, tTheirs, cpuOurs, cpuTheirs time.Duration
				var ratios []float64
				var writes int64
				timed := func(rt http.RoundTripper, cpu *time.Duration) time.Duration {
					c0, w0 := processCPU(), writeCalls.Load()
					d := burst(b, rt, req, callers, per)
					*cpu += processCPU() - c0
					if rt == ours {
						writes += writeCalls.Load() - w0
					}
					return d
				}
				b.ResetTimer()
				for r := range rounds {
					var a, t time.Duration
					if r%2 == 0 {
						a = timed(ours, &cpuOurs)
						t = timed(theirs, &cpuTheirs)
					} else {
						t = timed(theirs, &cpuTheirs)
						a = timed(ours, &cpuOurs)
					}
					tOurs += a
					tTheirs += t
					ratios = append(ratios, t.Seconds()/a.Seconds())
				}
				b.StopTimer()
				sort.Float64s(ratios)
				n := float64(per * rounds)
				b.ReportMetric(n/tOurs.Seconds(), "h2.Conn-req/s")
				b.ReportMetric(n/tTheirs.Seconds(), "net/http-req/s")
				b.ReportMetric((ratios[rounds/2-1]+ratios[rounds/2])/2, "median-ratio")
				b.ReportMetric(ratios[0], "min-ratio")
				b.ReportMetric(ratios[rounds-1], "max-ratio")
				// CPU time of the process (client and server) per request:
				// steadier than wall time on a shared machine.
				b.ReportMetric(float64(cpuOurs.Nanoseconds())/n/1e3, "h2.Conn-cpu-µs/req")
				b.ReportMetric(float64(cpuTheirs.Nanoseconds())/n/1e3, "net/http-cpu-µs/req")
				b.ReportMetric(float64(writes)/n, "h2.Conn-writes/req")
			})
		}
	}
}

// burst runs n GETs through rt from callers goroutines and returns the
// time they took.
func burst(b *testing.B, rt http.RoundTripper, req *http.Request, callers, n int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for i := range callers {
		k := n / callers
		if i < n%callers {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range k {
				roundTrip(b, rt, req)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// roundTrip runs req through rt and reads the body.
func roundTrip(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// benchClient returns the client called name, speaking proto to addr,
// and the URL to use.
func benchClient(b *testing.B, name, proto, addr string) (http.RoundTripper, string) {
	scheme := "https"
	if proto == "h2c" {
		scheme = "http"
	}
	url := scheme + "://" + addr + "/"
	if name == "h2.Conn" {
		be := openBackend(b, stdnet.Name)
		cfg := tlsConfig()
		if proto == "h2c" {
			cfg = nil
		}
		return startConn(b, dialWith(b, be, addr, cfg), Options{}), url
	}
	tr := &http.Transport{MaxConnsPerHost: 1, TLSClientConfig: tlsConfig(), ForceAttemptHTTP2: true}
	if proto == "h2c" {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	b.Cleanup(tr.CloseIdleConnections)
	return tr, url
}

// loopbackAddr starts a net/http server with HTTP/2 on 127.0.0.1, over
// TLS or h2c, and returns its address.
func loopbackAddr(b *testing.B, h http.Handler, useTLS bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if useTLS {
		srv.TLSConfig = mock.ServerTLSConfig()
		srv.TLSConfig.NextProtos = []string{NextProtoTLS}
	} else {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if useTLS {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	b.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// BenchmarkIdleConn is workload W3 for HTTP/2: it opens idleConns
// connections to nghttpd (another process), makes one GET on each, lets
// them idle, and reports the Go memory (live heap + stacks, after GC) and
// goroutines each holds, for this package's Conn and net/http's HTTP/2
// client (Transport.NewClientConn). Each measurement runs in a fresh
// child process (this test binary, TestIdleConnChild), the two clients in
// turns:
//
//	go test -run '^$' -bench IdleConn -benchtime 3x ./protocols/h2/
func BenchmarkIdleConn(b *testing.B) {
	dir := b.TempDir()
	must(b, os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello world\n"), 0o644))
	// The children trust the mock backend's certificate (tlsConfig).
	cert := mock.ServerTLSConfig().Certificates[0]
	for _, proto := range []string{"tls", "h2c"} {
		b.Run("proto="+proto, func(b *testing.B) {
			addr := testenv.StartNghttpd(b, testenv.NghttpdOptions{Root: dir, TLS: proto == "tls", Cert: cert}).Addr
			var mem, gor [2]float64
			for it := range b.N {
				for k := range 2 {
					i := k ^ it%2 // ours first, then theirs first
					client := []string{"h2.Conn", "net-http"}[i]
					cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnChild$", "-test.count=1")
					cmd.Env = append(os.Environ(), "H2_IDLE_CHILD="+client+" "+proto+" "+addr)
					out, err := cmd.CombinedOutput()
					var m, g float64
					if _, serr := fmt.Sscanf(lastLine(out, "idle:"), "idle: %g %g", &m, &g); err != nil || serr != nil {
						b.Fatalf("child: %v %v\n%s", err, serr, out)
					}
					mem[i] += m
					gor[i] += g
				}
			}
			n := float64(b.N)
			b.ReportMetric(mem[0]/n, "h2.Conn-B/conn")
			b.ReportMetric(mem[1]/n, "net/http-B/conn")
			b.ReportMetric(gor[0]/n, "h2.Conn-goroutines/conn")
			b.ReportMetric(gor[1]/n, "net/http-goroutines/conn")
		})
	}
}

// idleConns is how many connections BenchmarkIdleConn opens.
const idleConns = 500

// TestIdleConnChild is BenchmarkIdleConn's child process; otherwise it
// skips.
func TestIdleConnChild(t *testing.T) {
	spec := strings.Fields(os.Getenv("H2_IDLE_CHILD"))
	if len(spec) != 3 {
		t.Skip("run by BenchmarkIdleConn")
	}
	client, proto, addr := spec[0], spec[1], spec[2]
	scheme, cfg := "https", tlsConfig()
	if proto == "h2c" {
		scheme, cfg = "http", nil
	}
	url := scheme + "://" + addr + "/index.html"
	be := openBackend(t, stdnet.Name)
	var p http.Protocols
	if proto == "h2c" {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
	}
	tr := &http.Transport{Protocols: &p, TLSClientConfig: tlsConfig()}
	defer tr.CloseIdleConnections()

	before, gBefore := goMemory()
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range idleConns {
		var rt http.RoundTripper
		if client == "h2.Conn" {
			c, err := NewConn(dialWith(t, be, addr, cfg), Options{})
			must(t, err)
			rt, closers = c, append(closers, c.Close)
		} else {
			c, err := tr.NewClientConn(testContext(t), scheme, addr)
			must(t, err)
			rt, closers = c, append(closers, c.Close)
		}
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := rt.RoundTrip(req)
		must(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(200 * time.Millisecond) // idle: buffers go back to their pools
	after, gAfter := goMemory()
	fmt.Printf("idle: %g %g\n", float64(after-before)/idleConns, float64(gAfter-gBefore)/idleConns)
}

// lastLine returns the last line of out that starts with prefix.
func lastLine(out []byte, prefix string) string {
	line := ""
	for l := range strings.Lines(string(out)) {
		if strings.HasPrefix(l, prefix) {
			line = l
		}
	}
	return line
}

// goMemory returns the live heap plus stacks after a collection, and the
// number of goroutines.
func goMemory() (int64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse), runtime.NumGoroutine()
}
