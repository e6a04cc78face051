package parity

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// onlyReader hides everything but Read, so that a request body's length
// is unknown.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// want checks that ref's value at key contains every one of subs.
func want(ref *observation, key string, subs ...string) error {
	v, ok := ref.get(key)
	if !ok {
		return fmt.Errorf("no %s", key)
	}
	for _, s := range subs {
		if !strings.Contains(v, s) {
			return fmt.Errorf("%s = %s, want it to contain %q", key, v, s)
		}
	}
	return nil
}

// wants joins checks: the first error.
func wants(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// proxyURL returns a knobs.proxy that sends every request to u(e).
func proxyURL(u func(e *env) *url.URL) func(e *env) func(*http.Request) (*url.URL, error) {
	return func(e *env) func(*http.Request) (*url.URL, error) { return http.ProxyURL(u(e)) }
}

// getHello is the run of the simplest scenarios.
func getHello(r *run) { r.get("/hello") }

// twoGets gets /hello twice, one after the other.
func twoGets(r *run) {
	r.get("/hello")
	r.get("/hello")
}

// scenarios is the table the suite runs. Paths are served by the Go
// handler (handler_test.go); /hello, /big and /gzip by nginx too.
var scenarios = []*scenario{
	{name: "get", variants: allServed, run: getHello,
		check: func(o *observation) error { return want(o, "1.body", `"hello"`) }},
	{name: "get-localhost", variants: []string{"h1-localhost"}, run: getHello,
		check: func(o *observation) error { return want(o, "1.trace", "DNSStart localhost", "DNSDone err=false") }},
	{name: "head", variants: allServed,
		run: func(r *run) { r.do(r.client, r.request(context.Background(), "HEAD", "/hello", nil), nil, nil) },
		check: func(o *observation) error {
			return wants(want(o, "1.content-length", "5"), want(o, "1.body", `""`))
		}},
	{name: "get-big", variants: allServed, run: func(r *run) { r.get("/big") },
		check: func(o *observation) error { return want(o, "1.body", "1048576 bytes") }},
	{name: "get-unknown-length", variants: goAll, run: func(r *run) { r.get("/chunked") },
		check: func(o *observation) error { return want(o, "1.content-length", "-1") }},
	{name: "post-known-length", variants: goAll,
		run: func(r *run) {
			r.do(r.client, r.request(context.Background(), "POST", "/echo", strings.NewReader("payload")), nil, nil)
		},
		check: func(o *observation) error { return want(o, "server", "len=7", "body=7") }},
	{name: "post-unknown-length", variants: goAll,
		run: func(r *run) {
			body := onlyReader{strings.NewReader(strings.Repeat("chunk", 1000))}
			r.do(r.client, r.request(context.Background(), "POST", "/echo", body), nil, nil)
		},
		check: func(o *observation) error { return want(o, "server", "len=unknown", "body=5000") }},
	{name: "redirect-302", variants: goAll,
		run: func(r *run) { r.get("/redirect?code=302&to=hello") },
		check: func(o *observation) error {
			return wants(want(o, "1.final-url", "/hello"), want(o, "server", "GET /redirect", "GET /hello"))
		}},
	{name: "redirect-307-post", variants: goAll,
		run: func(r *run) {
			r.do(r.client, r.request(context.Background(), "POST", "/redirect?code=307&to=echo", bytes.NewReader([]byte("again"))), nil, nil)
		},
		check: func(o *observation) error {
			return wants(want(o, "1.body", `"again"`), want(o, "server", "POST /redirect", "POST /echo"))
		}},
	{name: "cookies", variants: goAll, jar: true,
		run: func(r *run) {
			r.get("/setcookie")
			r.get("/getcookie")
		},
		check: func(o *observation) error { return want(o, "2.body", "flavour=oat") }},
	{name: "gzip-transparent", variants: []string{"h1", "h1-tls", "h2", "h2c", "nginx-h1", "nginx-h2"},
		run: func(r *run) { r.get("/gzip") },
		check: func(o *observation) error {
			return wants(want(o, "1.uncompressed", "true"), want(o, "server", "gzip"))
		}},
	{name: "gzip-disabled", variants: []string{"h1", "h2", "nginx-h1", "nginx-h2"},
		knobs: knobs{disableCompression: true},
		run:   func(r *run) { r.get("/gzip") },
		check: func(o *observation) error { return want(o, "1.uncompressed", "false") }},
	{name: "gzip-asked-by-caller", variants: []string{"h1", "h2", "nginx-h1"},
		run: func(r *run) {
			req := r.request(context.Background(), "GET", "/gzip", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			r.do(r.client, req, nil, nil)
		},
		check: func(o *observation) error {
			return wants(want(o, "1.header", "Content-Encoding: gzip"), want(o, "1.uncompressed", "false"))
		}},
	{name: "expect-100-accepted", variants: goAll, knobs: knobs{expectContinueTimeout: 5 * time.Second},
		run: func(r *run) {
			req := r.request(context.Background(), "POST", "/continue", bytes.NewReader(bytes.Repeat([]byte("x"), 1024)))
			req.Header.Set("Expect", "100-continue")
			r.do(r.client, req, nil, nil)
		},
		check: func(o *observation) error {
			return wants(want(o, "1.trace", "Wait100Continue", "Got100Continue"), want(o, "server", "body=1024"))
		}},
	{name: "expect-100-refused", variants: goAll, knobs: knobs{expectContinueTimeout: 5 * time.Second},
		run: func(r *run) {
			req := r.request(context.Background(), "POST", "/refuse", bytes.NewReader(bytes.Repeat([]byte("x"), 1024)))
			req.Header.Set("Expect", "100-continue")
			r.do(r.client, req, nil, nil)
		},
		check: func(o *observation) error {
			return wants(want(o, "1.status", "417"), want(o, "server", "body=0"))
		}},
	{name: "early-hints-103", variants: goAll, run: func(r *run) { r.get("/hints") },
		check: func(o *observation) error { return want(o, "1.trace", "Got1xxResponse 103") }},
	{name: "response-trailers", variants: goAll, run: func(r *run) { r.get("/trailers") },
		check: func(o *observation) error { return want(o, "1.trailer", "X-Checksum: abc123") }},
	{name: "request-trailers", variants: goAll,
		run: func(r *run) {
			req := r.request(context.Background(), "POST", "/echo", onlyReader{strings.NewReader("body")})
			req.Trailer = http.Header{"X-Sum": {"42"}}
			r.do(r.client, req, nil, nil)
		},
		check: func(o *observation) error { return want(o, "server", "trailer=X-Sum:42") }},
	{name: "status-204", variants: goAll, run: func(r *run) { r.get("/status?code=204") },
		check: func(o *observation) error { return want(o, "1.status", "204") }},

	// Proxies, through the Proxy field. The mock backend cannot reach them.
	{name: "proxy-http", variants: proxied, proxied: true,
		knobs: knobs{proxy: proxyURL(func(e *env) *url.URL { return e.tinyproxy.URL() })},
		run:   getHello,
		check: func(o *observation) error {
			return wants(want(o, "1.body", `"hello"`), want(o, "proxy", "tinyproxy: "))
		}},
	{name: "proxy-https", variants: proxied, proxied: true,
		knobs: knobs{proxy: proxyURL(func(e *env) *url.URL { return &url.URL{Scheme: "https", Host: e.httpsProxy.Addr} })},
		run:   getHello,
		check: func(o *observation) error {
			return wants(want(o, "1.body", `"hello"`), want(o, "proxy", "tinyproxy: "))
		}},
	{name: "proxy-socks5", variants: []string{"h1", "h1-localhost", "h1-tls", "h2"}, proxied: true,
		knobs: knobs{proxy: proxyURL(func(e *env) *url.URL { return e.socks.URL("socks5") })},
		run:   getHello,
		check: func(o *observation) error { return want(o, "1.trace", "ConnectStart tcp microsocks") }},
	{name: "proxy-socks5h", variants: []string{"h1", "h1-localhost", "h1-tls", "h2"}, proxied: true,
		knobs: knobs{proxy: proxyURL(func(e *env) *url.URL { return e.socks.URL("socks5h") })},
		run:   getHello,
		check: func(o *observation) error { return want(o, "1.trace", "ConnectStart tcp microsocks") }},
	{name: "proxy-auth", variants: proxied, proxied: true,
		knobs: knobs{proxy: proxyURL(func(e *env) *url.URL { return e.authProxy.URL() })},
		run:   getHello,
		check: func(o *observation) error { return want(o, "1.body", `"hello"`) }},
	{name: "proxy-auth-missing", variants: proxied, proxied: true,
		knobs: knobs{proxy: proxyURL(func(e *env) *url.URL { return &url.URL{Scheme: "http", Host: e.authProxy.Addr} })},
		run:   getHello,
		check: func(o *observation) error { return want(o, "proxy", "tinyproxy-auth: ") }},
	{name: "proxy-connect-header", variants: proxied, proxied: true,
		knobs: knobs{
			proxy: proxyURL(func(e *env) *url.URL { return &url.URL{Scheme: "http", Host: e.authProxy.Addr} }),
			proxyConnectHeader: http.Header{"Proxy-Authorization": {
				"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))}},
		},
		run:   getHello,
		check: func(o *observation) error { return want(o, "proxy", "tinyproxy-auth: ") }},
	{name: "proxy-per-request", variants: []string{"h1"}, proxied: true,
		knobs: knobs{proxy: func(e *env) func(*http.Request) (*url.URL, error) {
			return func(req *http.Request) (*url.URL, error) {
				if req.URL.Query().Get("proxy") == "1" {
					return e.tinyproxy.URL(), nil
				}
				return nil, nil
			}
		}},
		run: func(r *run) {
			r.get("/hello?proxy=1")
			r.get("/hello")
		},
		check: func(o *observation) error {
			return want(o, "server", "GET /hello?proxy=1", `via="1.1 `, "c2: GET /hello HTTP/1.1")
		}},
	{name: "no-proxy", variants: proxied,
		knobs: knobs{proxy: func(e *env) func(*http.Request) (*url.URL, error) {
			// ProxyFromEnvironment's rules: loopback addresses and
			// NO_PROXY hosts go direct.
			f := (&httpproxy.Config{
				HTTPProxy:  e.tinyproxy.URL().String(),
				HTTPSProxy: e.tinyproxy.URL().String(),
				NoProxy:    "example.com",
			}).ProxyFunc()
			return func(req *http.Request) (*url.URL, error) { return f(req.URL) }
		}},
		run:   getHello,
		check: func(o *observation) error { return want(o, "proxy", "[]") }},

	// Cancellation and timeouts.
	{name: "cancel-before-headers", variants: goAll,
		run: func(r *run) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			r.do(r.client, r.request(ctx, "GET", "/slowheaders?d=5s", nil), cancel, nil)
		},
		check: func(o *observation) error { return want(o, "1.error", "context.Canceled") }},
	{name: "cancel-mid-body", variants: goAll,
		run: func(r *run) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r.do(r.client, r.request(ctx, "GET", "/slowbody?d=5s", nil), cancel, func(cancel context.CancelFunc, resp *http.Response) ([]byte, error) {
				first := make([]byte, 5)
				if _, err := io.ReadFull(resp.Body, first); err != nil {
					return first, err
				}
				cancel()
				rest, err := io.ReadAll(resp.Body)
				return append(first, rest...), err
			})
		},
		check: func(o *observation) error { return want(o, "1.body-error", "context.Canceled") }},
	{name: "client-timeout-headers", variants: goAll, timeout: 200 * time.Millisecond,
		run:   func(r *run) { r.get("/slowheaders?d=5s") },
		check: func(o *observation) error { return want(o, "1.error", "timeout") }},
	{name: "client-timeout-body", variants: goAll, timeout: 600 * time.Millisecond,
		run:   func(r *run) { r.get("/slowbody?d=5s") },
		check: func(o *observation) error { return want(o, "1.body-error", "timeout") }},
	{name: "response-header-timeout", variants: goAll, knobs: knobs{responseHeaderTimeout: 150 * time.Millisecond},
		run:   func(r *run) { r.get("/slowheaders?d=2s") },
		check: func(o *observation) error { return want(o, "1.error", "error[") }},

	// Connection management.
	{name: "keep-alive-reuse", variants: allServed, run: twoGets,
		check: func(o *observation) error {
			return wants(want(o, "2.trace", "GotConn reused=true wasIdle=true"), want(o, "server-connections", "1"))
		}},
	{name: "idle-conn-timeout", variants: goAll, knobs: knobs{idleConnTimeout: 100 * time.Millisecond},
		run: func(r *run) {
			r.get("/hello")
			time.Sleep(400 * time.Millisecond)
			r.get("/hello")
		},
		check: func(o *observation) error {
			return wants(want(o, "2.trace", "GotConn reused=false"), want(o, "server-connections", "2"))
		}},
	{name: "max-conns-per-host", variants: goAll, knobs: knobs{maxConnsPerHost: 1},
		run: func(r *run) {
			r.concurrently(func() { r.get("/slowheaders?d=150ms") }, func() { r.get("/slowheaders?d=150ms") })
		},
		check: func(o *observation) error { return want(o, "server-connections", "1") }},
	{name: "max-idle-conns", variants: goH1, knobs: knobs{maxIdleConns: 1},
		run: func(r *run) {
			// The first request dials first and ends first, so that
			// which connection is the oldest idle one (closed by the
			// limit) does not depend on how two equal requests race.
			r.concurrently(func() { r.get("/slowheaders?d=100ms") }, func() {
				time.Sleep(50 * time.Millisecond)
				r.get("/slowheaders?d=400ms")
			})
			r.get("/hello")
			r.get("/hello")
		},
		check: func(o *observation) error {
			return wants(want(o, "server-connections", "2"), want(o, "4.trace", "reused=true"))
		}},
	{name: "idle-pool-size", variants: goH1,
		run: func(r *run) {
			// Slow enough that each round's requests overlap.
			slow := func() { r.get("/slowheaders?d=300ms") }
			r.concurrently(slow, slow, slow)
			r.concurrently(slow, slow, slow)
		},
		check: func(o *observation) error {
			// net/http keeps DefaultMaxIdleConnsPerHost (2) idle
			// connections: the second round dials one again.
			return wants(want(o, "server-connections", "4"), want(o, "3.trace", "PutIdleConn err=true"))
		}},
	{name: "disable-keep-alives", variants: []string{"h1", "h1-tls", "h2", "nginx-h1", "nginx-h2"},
		knobs: knobs{disableKeepAlives: true}, run: twoGets,
		check: func(o *observation) error { return want(o, "server-connections", "2") }},
	{name: "close-idle-connections", variants: goAll,
		run: func(r *run) {
			r.get("/hello")
			r.rt.CloseIdleConnections()
			r.get("/hello")
		},
		check: func(o *observation) error { return want(o, "server-connections", "2") }},
	{name: "clone", variants: []string{"h1", "h2"},
		run: func(r *run) {
			r.get("/hello")
			clone := &http.Client{Transport: r.clone()}
			r.do(clone, r.request(context.Background(), "GET", "/hello", nil), nil, nil)
			if c, ok := clone.Transport.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
		},
		check: func(o *observation) error { return want(o, "server-connections", "2") }},

	// Retries: the server drops a reused connection after reading the
	// request.
	{name: "retry-stale-get", variants: goH1,
		run: func(r *run) {
			r.get("/stale")
			r.get("/stale")
		},
		check: func(o *observation) error {
			return wants(want(o, "2.body", `"fresh"`), want(o, "server-connections", "2"))
		}},
	{name: "no-retry-stale-post", variants: goH1,
		run: func(r *run) {
			r.get("/stale")
			r.do(r.client, r.request(context.Background(), "POST", "/stale", strings.NewReader("once")), nil, nil)
		},
		check: func(o *observation) error { return want(o, "2.error", "error[") }},
}
