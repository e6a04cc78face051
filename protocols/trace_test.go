package protocols

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// traceLog records the pool's and the dial's httptrace events, in order.
type traceLog struct {
	mu     sync.Mutex
	events []string
	conns  []net.Conn
}

func (l *traceLog) add(format string, args ...any) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *traceLog) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn:      func(hostPort string) { l.add("GetConn %s", hostPort) },
		DNSStart:     func(i httptrace.DNSStartInfo) { l.add("DNSStart %s", i.Host) },
		DNSDone:      func(i httptrace.DNSDoneInfo) { l.add("DNSDone %v", i.Err) },
		ConnectStart: func(network, addr string) { l.add("ConnectStart %s %s", network, addr) },
		ConnectDone:  func(network, addr string, err error) { l.add("ConnectDone %s %s %v", network, addr, err) },
		TLSHandshakeStart: func() {
			l.add("TLSHandshakeStart")
		},
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			l.add("TLSHandshakeDone %q %v", st.NegotiatedProtocol, err)
		},
		GotConn: func(i httptrace.GotConnInfo) {
			l.add("GotConn reused=%v wasIdle=%v idleTime>0=%v", i.Reused, i.WasIdle, i.IdleTime > 0)
			l.mu.Lock()
			l.conns = append(l.conns, i.Conn)
			l.mu.Unlock()
		},
		PutIdleConn: func(err error) { l.add("PutIdleConn %v", err) },
	}
}

// tracedGets sends two GETs to url, one after the other, reading each
// body to its end, and returns the events of each and the connections
// GotConn gave.
func tracedGets(t *testing.T, rt http.RoundTripper, url string) ([]string, []net.Conn) {
	t.Helper()
	l := &traceLog{}
	for i := range 2 {
		if i > 0 {
			time.Sleep(5 * time.Millisecond) // an IdleTime to measure
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ctx = httptrace.WithClientTrace(ctx, l.trace())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			cancel()
			t.Fatalf("GET %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		l.add("--- %s", resp.Proto)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events), slices.Clone(l.conns)
}

// traceTarget is an origin both transports reach through one backend.
type traceTarget struct {
	name  string
	url   string
	roots *x509.CertPool
	h2    bool
}

// TestTraceLikeNetHTTP compares the pool's and dial's httptrace events
// of two requests in a row (the second on the idle connection) with
// net/http's Transport dialing through the same backend, over HTTP/1.1
// in clear text and over TLS, and HTTP/2 over TLS, on stdnet, epoll and
// mock.
func TestTraceLikeNetHTTP(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(h)
	secure.EnableHTTP2 = true
	secure.StartTLS()
	defer secure.Close()
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	real := []traceTarget{
		{"h1-plain", plain.URL, nil, false},
		{"h1-tls", secure.URL, roots, false},
		{"h2-tls", secure.URL, roots, true},
	}
	backends := append(realBackends(), testBackend{"mock", func(t *testing.T) transport.Backend {
		b := mock.New()
		b.Handle("origin.test:80", mock.HandlerPeer(h, mock.HTTP1))
		b.Handle("origin.test:443", mock.TLSHandlerPeer(h, nil))
		return b
	}})
	for _, tb := range backends {
		t.Run(tb.name, func(t *testing.T) {
			b := tb.open(t)
			defer b.Close()
			targets := real
			if tb.name == "mock" {
				targets = []traceTarget{
					{"h1-plain", "http://origin.test", nil, false},
					{"h1-tls", "https://origin.test", mock.RootCAs(), false},
					{"h2-tls", "https://origin.test", mock.RootCAs(), true},
				}
			}
			for _, tg := range targets {
				t.Run(tg.name, func(t *testing.T) {
					protos := []string{ProtoHTTP11}
					if tg.h2 {
						protos = defaultNextProtos()
					}
					ours := &Transport{Backend: b, Proxy: NoProxy, NextProtos: protos,
						TLSClientConfig: &tls.Config{RootCAs: tg.roots}}
					defer ours.Close()
					std := &http.Transport{
						DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
							return b.Dial(ctx, network, addr)
						},
						TLSClientConfig:   &tls.Config{RootCAs: tg.roots, NextProtos: protos},
						ForceAttemptHTTP2: tg.h2,
					}
					defer std.CloseIdleConnections()
					got, conns := tracedGets(t, ours, tg.url)
					want, _ := tracedGets(t, std, tg.url)
					if !slices.Equal(got, want) {
						t.Fatalf("events differ from net/http's:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
					}
					if len(conns) != 2 || conns[0] == nil || conns[0] != conns[1] {
						t.Fatalf("GotConn gave %v, want the same connection twice", conns)
					}
				})
			}
		})
	}
}

// TestTracePutIdleConnRefused: with keep-alives off (MaxIdleConnsPerHost
// negative) there is no PutIdleConn, as in net/http; a reusable
// connection the pool cannot keep (MaxIdleConnsPerHost reached) is
// reported to PutIdleConn with an error.
func TestTracePutIdleConnRefused(t *testing.T) {
	b := mock.New()
	defer b.Close()
	b.Handle("origin.test:80", mock.HandlerPeer(helloHandler(), mock.HTTP1))
	ours := &Transport{Backend: b, Proxy: NoProxy, MaxIdleConnsPerHost: -1}
	defer ours.Close()
	std := &http.Transport{MaxIdleConnsPerHost: -1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return b.Dial(ctx, network, addr)
	}}
	defer std.CloseIdleConnections()
	got, conns := tracedGets(t, ours, "http://origin.test/")
	want, _ := tracedGets(t, std, "http://origin.test/")
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got: %q\nwant: %q", got, want)
	}
	if conns[0] == conns[1] {
		t.Fatal("the connection not kept was used again")
	}

	// Two connections at once, one idle place: the second is refused.
	full := &Transport{Backend: b, Proxy: NoProxy, MaxIdleConnsPerHost: 1}
	defer full.Close()
	l := &traceLog{}
	ctx := httptrace.WithClientTrace(context.Background(), l.trace())
	var bodies []io.ReadCloser
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://origin.test/", nil)
		resp, err := full.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	for _, body := range bodies {
		io.Copy(io.Discard, body)
		body.Close()
	}
	var puts []string
	for _, e := range l.events {
		if strings.HasPrefix(e, "PutIdleConn") {
			puts = append(puts, e)
		}
	}
	if len(puts) != 2 || puts[0] != "PutIdleConn <nil>" || puts[1] != "PutIdleConn "+errIdleTooMany.Error() {
		t.Fatalf("PutIdleConn events %q, want nil then %v", puts, errIdleTooMany)
	}
}

// TestTraceSharedH2Dial: callers that wait for another caller's HTTP/2
// dial see no dial events, only GetConn and GotConn with Reused, as in
// net/http where the dial belongs to the request that started it.
func TestTraceSharedH2Dial(t *testing.T) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	tr.Proxy = NoProxy
	// The dial waits for the test, and the first request's answer waits
	// until the second caller has its connection, so the second finds the
	// dial pending and then a connection with a stream in flight, whatever
	// the scheduler does.
	gate, answer := make(chan struct{}), make(chan struct{})
	tr.Backend = gatedBackend{b, gate}
	var served atomic.Int32
	first, second := &traceLog{}, &traceLog{}
	b.Handle("slow.test:80", mock.HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			select {
			case <-answer:
			case <-r.Context().Done():
			}
		}
		helloHandler().ServeHTTP(w, r)
	}), mock.H2C))
	get := func(l *traceLog, wg *sync.WaitGroup) {
		defer wg.Done()
		ctx := httptrace.WithClientTrace(context.Background(), l.trace())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://slow.test/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go get(first, &wg)
	k := key{scheme: "http", host: "slow.test"}
	testenv.Eventually(t, 10*time.Second, func() bool { return dialPending(tr, k) })
	go get(second, &wg)
	testenv.Eventually(t, 10*time.Second, func() bool { return dialWaited(tr, k) })
	close(gate)
	testenv.Eventually(t, 10*time.Second, func() bool { return second.has("GotConn") })
	close(answer)
	wg.Wait()
	want1 := []string{"GetConn slow.test:80", "ConnectStart tcp slow.test:80", "ConnectDone tcp slow.test:80 <nil>", "GotConn reused=false wasIdle=false idleTime>0=false"}
	want2 := []string{"GetConn slow.test:80", "GotConn reused=true wasIdle=false idleTime>0=false"}
	if !slices.Equal(first.events, want1) || !slices.Equal(second.events, want2) {
		t.Fatalf("dialing caller: %q\nwant %q\nwaiting caller: %q\nwant %q", first.events, want1, second.events, want2)
	}
}

// gatedBackend holds every Dial until gate is closed.
type gatedBackend struct {
	transport.Backend
	gate chan struct{}
}

func (g gatedBackend) Dial(ctx context.Context, network, addr string) (transport.Stream, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Backend.Dial(ctx, network, addr)
}

// has reports whether an event starting with prefix was recorded.
func (l *traceLog) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}

// TestTraceProxyGetConn: GetConn names the proxy, as net/http's does.
func TestTraceProxyGetConn(t *testing.T) {
	gp := startGoProxy(t, false, 0)
	b := realBackends()[0].open(t)
	defer b.Close()
	tr := &Transport{Backend: b, Proxy: http.ProxyURL(gp.url)}
	defer tr.Close()
	got, _ := tracedGets(t, tr, "http://origin.test/")
	if got[0] != "GetConn "+gp.url.Host {
		t.Fatalf("first event %q, want GetConn %s", got[0], gp.url.Host)
	}
}
