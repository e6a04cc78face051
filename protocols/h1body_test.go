package protocols

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/protocols/internal/prototest"
)

// The request body over HTTP/1.1, against raw servers that answer as
// net/http's Transport must cope with: the reference is what net/http
// does with the same server.

// onBackends runs f with a Transport on each real backend, configured by
// cfg.
func onBackends(t *testing.T, cfg func(*Transport), f func(t *testing.T, tr *Transport)) {
	for _, tb := range realBackends() {
		t.Run(tb.name, func(t *testing.T) {
			b := tb.open(t)
			tr := &Transport{Backend: b, Proxy: NoProxy}
			if cfg != nil {
				cfg(tr)
			}
			t.Cleanup(func() {
				tr.Close()
				b.Close()
			})
			f(t, tr)
		})
	}
}

// serveRaw starts a loopback server whose handler reads requests with a
// bufio.Reader.
func serveRaw(t *testing.T, h func(c net.Conn, br *bufio.Reader)) string {
	srv := prototest.StartTCP(t, func(c net.Conn) {
		defer c.Close()
		h(c, bufio.NewReader(c))
	})
	return "http://" + srv.Addr()
}

// echoServer answers every request with its body.
func echoServer(c net.Conn, br *bufio.Reader) {
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
	}
}

// TestExpectContinueAfterOther1xx: a server that sends 103 Early Hints
// and then waits for the body without a 100 Continue gets the body when
// ExpectContinueTimeout passes, as from net/http; other 1xx responses do
// not end the wait. Before the fix the body was never sent and RoundTrip
// waited for the context.
func TestExpectContinueAfterOther1xx(t *testing.T) {
	onBackends(t, func(tr *Transport) { tr.ExpectContinueTimeout = 100 * time.Millisecond }, func(t *testing.T, tr *Transport) {
		url := serveRaw(t, func(c net.Conn, br *bufio.Reader) {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"))
			b, _ := io.ReadAll(req.Body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/", strings.NewReader("hello"))
		req.Header.Set("Expect", "100-continue")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != "hello" {
			t.Fatalf("got %d %q, %v; want 200 \"hello\"", resp.StatusCode, b, err)
		}
	})
}

// TestExpectContinueFinalKeepsConn: a final answer without 100 Continue
// on a connection that stays open is followed by the body, as net/http
// sends it, so that the next request reuses the connection.
func TestExpectContinueFinalKeepsConn(t *testing.T) {
	onBackends(t, func(tr *Transport) { tr.ExpectContinueTimeout = 2 * time.Second }, func(t *testing.T, tr *Transport) {
		var mu sync.Mutex
		var conns int
		url := serveRaw(t, func(c net.Conn, br *bufio.Reader) {
			mu.Lock()
			conns++
			mu.Unlock()
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				expect := req.Header.Get("Expect") != ""
				if expect {
					c.Write([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
				}
				b, _ := io.ReadAll(req.Body)
				if !expect {
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
				}
			}
		})
		var reused []bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
		for i, want := range []int{401, 200} {
			ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 5*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "POST", url+"/", strings.NewReader("hello"))
			if i == 0 {
				req.Header.Set("Expect", "100-continue")
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cancel()
			if resp.StatusCode != want {
				t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if conns != 1 || len(reused) != 2 || !reused[1] {
			t.Fatalf("%d connections, GotConn reused %v; want 1 connection, [false true]", conns, reused)
		}
	})
}

// TestRequestBodyLongerThanContentLength: a body with more bytes than its
// ContentLength fails the request, as with net/http ("ContentLength=5
// with Body length 10"), instead of being cut silently.
func TestRequestBodyLongerThanContentLength(t *testing.T) {
	onBackends(t, nil, func(t *testing.T, tr *Transport) {
		url := serveRaw(t, echoServer)
		for _, small := range []bool{true, false} {
			body := "helloworld"
			if !small {
				body = strings.Repeat("x", 64<<10)
			}
			req, _ := http.NewRequest("POST", url+"/", io.NopCloser(strings.NewReader(body)))
			req.ContentLength = 5
			resp, err := tr.RoundTrip(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("RoundTrip succeeded (%d %q), want an error", resp.StatusCode, b)
			}
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), "ContentLength=5") {
				t.Fatalf("error %T %v, want an *Error naming ContentLength=5", err, err)
			}
		}
	})
}

// TestEarlyAnswerWhileBodyUnread: a server that answers a large upload at
// once and reads no more gets its answer returned while the body is still
// being sent, as from net/http, instead of a RoundTrip blocked in the
// body's write.
func TestEarlyAnswerWhileBodyUnread(t *testing.T) {
	onBackends(t, nil, func(t *testing.T, tr *Transport) {
		done := make(chan struct{})
		url := serveRaw(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig"))
			<-done // keep the connection open, read nothing more
		})
		t.Cleanup(func() { close(done) })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/", strings.NewReader(strings.Repeat("x", 32<<20)))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 413 || string(b) != "big" {
			t.Fatalf("got %d %q, %v; want 413 \"big\"", resp.StatusCode, b, err)
		}
		if tr.Stats().Idle != 0 {
			t.Fatalf("the connection with an unsent body went back to the pool")
		}
	})
}

// TestResponseBeforeRequestBodyEnds: the response head is returned while
// a streamed request body is still being written, as by net/http, so
// that a caller can write the body in answer to the response.
func TestResponseBeforeRequestBodyEnds(t *testing.T) {
	onBackends(t, nil, func(t *testing.T, tr *Transport) {
		url := serveRaw(t, func(c net.Conn, br *bufio.Reader) {
			buf := make([]byte, 100)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
				for err == nil {
					var k int
					k, err = req.Body.Read(buf)
					if k > 0 {
						fmt.Fprintf(c, "%x\r\n%s\r\n", k, buf[:k])
					}
				}
				if err != io.EOF {
					return
				}
				c.Write([]byte("0\r\n\r\n"))
			}
		})
		for _, length := range []int64{-1, 0} {
			pr, pw := io.Pipe()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "POST", url+"/", pr)
			req.ContentLength = length
			resp, err := tr.RoundTrip(req)
			if err != nil {
				cancel()
				t.Fatalf("ContentLength %d: RoundTrip: %v", length, err)
			}
			pw.Write([]byte("ping"))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("ContentLength %d: echo %q, %v", length, buf, err)
			}
			pw.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("ContentLength %d: %v", length, err)
			}
			resp.Body.Close()
			cancel()
		}
	})
}

// TestHTTPSProxyHandshakeTimeout: an http URL through an https proxy that
// never answers the TLS handshake fails after TLSHandshakeTimeout, as
// with net/http; it waited for the request's context before.
func TestHTTPSProxyHandshakeTimeout(t *testing.T) {
	srv := prototest.StartTCP(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(io.Discard, c) // reads the ClientHello, never answers
	})
	proxy := &neturl.URL{Scheme: "https", Host: srv.Addr()}
	onBackends(t, func(tr *Transport) {
		tr.Proxy = http.ProxyURL(proxy)
		tr.TLSHandshakeTimeout = 200 * time.Millisecond
	}, func(t *testing.T, tr *Transport) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://origin.test/", nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("RoundTrip through a silent proxy succeeded")
		}
		if d := time.Since(start); d > 5*time.Second || ctx.Err() != nil {
			t.Fatalf("failed after %v (%v), want about TLSHandshakeTimeout", d, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want a timeout", err)
		}
	})
}

// TestDefaultMaxResponseHeaderBytes: with MaxResponseHeaderBytes zero, a
// 2 MiB response head is taken over HTTP/1.1 and HTTP/2, as net/http
// takes up to 10 MiB; the default was 1 MiB.
func TestDefaultMaxResponseHeaderBytes(t *testing.T) {
	big := strings.Repeat("a", 2<<20)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", big)
		io.WriteString(w, "ok")
	})
	h1URL := serveHTTP(t, h)
	h2Addr := startH2Server(t, h, 10)
	onBackends(t, func(tr *Transport) {
		tr.TLSClientConfig = &tls.Config{RootCAs: mock.RootCAs(), ServerName: "localhost"}
	}, func(t *testing.T, tr *Transport) {
		for _, url := range []string{h1URL, "https://" + h2Addr + "/"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				cancel()
				t.Fatalf("%s: %v", url, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if err != nil || string(b) != "ok" || len(resp.Header.Get("X-Big")) != len(big) {
				t.Fatalf("%s: %s %q, %v, X-Big of %d bytes", url, resp.Proto, b, err, len(resp.Header.Get("X-Big")))
			}
		}
	})
}

// serveHTTP serves h with net/http's HTTP/1.1 server on loopback until t
// ends, and returns its URL.
func serveHTTP(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// TestIDNHost: an internationalized host name goes out in its ASCII form,
// as net/http sends it: in the Host field, in the absolute target sent to
// a forwarding proxy, and in a CONNECT; it went out as UTF-8.
func TestIDNHost(t *testing.T) {
	lines := make(chan string, 1)
	url := serveRaw(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		lines <- req.Method + " " + req.RequestURI + " " + req.Host
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	proxy, _ := neturl.Parse(url)
	for _, tc := range []struct {
		name, url, host string
		proxy           bool
		want            string
	}{
		{"Host", url + "/a", "bücher.example", false, "GET /a xn--bcher-kva.example"},
		{"forward", "http://bücher.example/a", "", true, "GET http://xn--bcher-kva.example/a xn--bcher-kva.example"},
		{"connect", "https://bücher.example:8443/a", "", true, "CONNECT xn--bcher-kva.example:8443 xn--bcher-kva.example:8443"},
	} {
		onBackends(t, func(tr *Transport) {
			if tc.proxy {
				tr.Proxy = http.ProxyURL(proxy)
			}
		}, func(t *testing.T, tr *Transport) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", tc.url, nil)
			req.Host = tc.host
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
			select {
			case got := <-lines:
				if got != tc.want {
					t.Errorf("%s: server got %q, want %q", tc.name, got, tc.want)
				}
			case <-ctx.Done():
				t.Fatalf("%s: no request reached the server", tc.name)
			}
		})
	}
}
