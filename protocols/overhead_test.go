package protocols

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// responder is an in-memory connection that answers every request head
// it is written with a canned response, so that a benchmark over it
// measures the client's own work: no kernel, no server.
type responder struct {
	mu     sync.Mutex
	cond   *sync.Cond
	out    []byte
	in     []byte
	closed bool
}

const cannedResponse = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 17:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"

func newResponder() *responder {
	r := &responder{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *responder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in = append(r.in, p...)
	for {
		i := bytes.Index(r.in, []byte("\r\n\r\n"))
		if i < 0 {
			break
		}
		r.in = r.in[i+4:]
		r.out = append(r.out, cannedResponse...)
	}
	r.cond.Broadcast()
	return len(p), nil
}

func (r *responder) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.out) == 0 && !r.closed {
		r.cond.Wait()
	}
	if r.closed {
		return 0, net.ErrClosed
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *responder) Close() error {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	return nil
}

func (r *responder) IsReadable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.out) > 0 || r.closed
}

func (r *responder) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (r *responder) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (r *responder) SetDeadline(time.Time) error        { return nil }
func (r *responder) SetReadDeadline(time.Time) error    { return nil }
func (r *responder) SetWriteDeadline(time.Time) error   { return nil }
func (r *responder) CloseWrite() error                  { return nil }
func (r *responder) Info(transport.InfoKey) (any, bool) { return nil, false }

// responderBackend dials responders.
type responderBackend struct{}

func (responderBackend) Name() string { return "responder" }
func (responderBackend) Close() error { return nil }
func (responderBackend) Dial(context.Context, string, string) (transport.Stream, error) {
	return newResponder(), nil
}

// BenchmarkClientOverhead compares the CPU a request costs the client
// itself, this transport against net/http's, over in-memory connections
// that answer at once: no kernel, no server, so the ratio is stable on a
// noisy machine. Parallel, like W4.
func BenchmarkClientOverhead(b *testing.B) {
	run := func(b *testing.B, rt http.RoundTripper) {
		client := &http.Client{Transport: rt}
		b.SetParallelism(32)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequest("GET", "http://example.com/hello", nil)
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
		tr := &http.Transport{
			MaxIdleConnsPerHost: 128,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return newResponder(), nil
			},
		}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("transportkit", func(b *testing.B) {
		tr := &Transport{Backend: responderBackend{}, MaxIdleConnsPerHost: 128}
		defer tr.Close()
		run(b, tr)
	})
	// The zero Proxy asks the environment on every request (as net/http's
	// DefaultTransport); the http.Transport above has no Proxy at all.
	b.Run("transportkit-NoProxy", func(b *testing.B) {
		tr := &Transport{Backend: responderBackend{}, MaxIdleConnsPerHost: 128, Proxy: NoProxy}
		defer tr.Close()
		run(b, tr)
	})
}
