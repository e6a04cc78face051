package h2

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
)

// BenchmarkRoundTrip32 is workload W5 (docs: shared BENCH.md): GETs of a
// small body by 32 goroutines over one HTTP/2 connection to a loopback
// net/http server, with this package's Conn and with net/http's own
// HTTP/2 client, over TLS and over h2c. Compare the pairs with
//
//	go test -run '^$' -bench RoundTrip32 -count 10 ./protocols/h2/ | benchstat -col /client -
func BenchmarkRoundTrip32(b *testing.B) {
	small := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello world\n")
	})
	for _, proto := range []string{"tls", "h2c"} {
		b.Run("proto="+proto+"/client=h2.Conn", func(b *testing.B) {
			be := openBackend(b, stdnet.Name)
			var c *Conn
			if proto == "tls" {
				c = startConn(b, loopbackTLS(b, be, small, 0), Options{})
			} else {
				c = startConn(b, loopbackH2C(b, be, small), Options{})
			}
			runParallel32(b, "http://127.0.0.1/", c)
		})
		b.Run("proto="+proto+"/client=net-http", func(b *testing.B) {
			addr := loopbackAddr(b, small, proto == "tls")
			tr := &http.Transport{MaxConnsPerHost: 1, TLSClientConfig: tlsConfig(), ForceAttemptHTTP2: true}
			url := "https://" + addr + "/"
			if proto == "h2c" {
				tr.Protocols = new(http.Protocols)
				tr.Protocols.SetUnencryptedHTTP2(true)
				url = "http://" + addr + "/"
			}
			b.Cleanup(tr.CloseIdleConnections)
			runParallel32(b, url, tr)
		})
	}
}

// runParallel32 runs GETs of url through rt from 32 goroutines.
func runParallel32(b *testing.B, url string, rt http.RoundTripper) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if resp, err := rt.RoundTrip(req); err != nil { // connect outside the timing
		b.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
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
