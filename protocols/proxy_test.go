package protocols

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// ---- In-process peers.

// goProxy is an HTTP proxy written with net/http's server, over TLS when
// started so: CONNECT requests are tunnelled to their target (or
// answered with status when it is set), other requests are answered by
// the proxy itself with the request target and Proxy-Authorization it
// got, to show what a forwarding client sent.
type goProxy struct {
	url    *url.URL
	roots  *x509.CertPool // trusts the proxy and httptest's TLS servers
	status int

	mu       sync.Mutex
	connects []*http.Request
	conns    map[net.Conn]bool
	closed   bool // set by the cleanup: no handler starts after it
	// wg counts the handlers and the tunnels' copies. A handler joins it
	// under mu while closed is not set, so every Add happens before the
	// cleanup's Wait: httptest's Close does not wait for a handler whose
	// connection is hijacked.
	wg sync.WaitGroup
}

// startGoProxy starts a goProxy, over TLS when useTLS (offering h2 and
// http/1.1 by ALPN, so that a client offering h2 would get it), and
// stops it at cleanup, tunnels included.
func startGoProxy(t testing.TB, useTLS bool, status int) *goProxy {
	t.Helper()
	p := &goProxy{status: status, conns: map[net.Conn]bool{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	srv.Config.ErrorLog = quietServerLog // clients that reject the certificate are expected
	scheme := "http"
	if useTLS {
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{NextProtos: []string{"h2", ProtoHTTP11}}
		srv.StartTLS()
		scheme = "https"
		p.roots = x509.NewCertPool()
		p.roots.AddCert(srv.Certificate())
	} else {
		srv.Start()
	}
	p.url = &url.URL{Scheme: scheme, Host: srv.Listener.Addr().String()}
	t.Cleanup(func() {
		srv.Close()
		p.mu.Lock()
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *goProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	if r.Method != http.MethodConnect {
		fmt.Fprintf(w, "forwarded %s %s auth=%q", r.Proto, r.RequestURI, r.Header.Get("Proxy-Authorization"))
		return
	}
	p.mu.Lock()
	p.connects = append(p.connects, r)
	p.mu.Unlock()
	if p.status != 0 {
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		w.WriteHeader(p.status)
		return
	}
	dst, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	c, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		dst.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		// The cleanup has closed the tunnels it knew of; this one is
		// too late to be one.
		p.mu.Unlock()
		c.Close()
		dst.Close()
		return
	}
	p.conns[c], p.conns[dst] = true, true
	p.mu.Unlock()
	c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	// The copies hide ReadFrom and WriteTo: splice(2) would take pipes
	// from a pool that outlives the test.
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		io.Copy(struct{ io.Writer }{dst}, struct{ io.Reader }{brw})
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	go func() {
		defer p.wg.Done()
		io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{dst})
		c.Close()
		dst.Close()
	}()
}

// lastConnect returns the last CONNECT request the proxy got.
func (p *goProxy) lastConnect(t *testing.T) *http.Request {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.connects) == 0 {
		t.Fatal("the proxy got no CONNECT request")
	}
	return p.connects[len(p.connects)-1]
}

// silentListener accepts TCP connections on loopback and never answers.
// It closes them at cleanup.
func silentListener(t testing.TB) string {
	t.Helper()
	return testenv.Serve(t, nil, func(net.Conn) {})
}

// quietServerLog discards the logs of the tests' HTTP servers.
var quietServerLog = log.New(io.Discard, "", 0)

// proxyOrigins are the servers tunnels reach: net/http over TLS and over
// clear text, both answering with the request's path, query and Host.
type proxyOrigins struct {
	tls, plain *httptest.Server
	roots      *x509.CertPool
}

func startProxyOrigins(t testing.TB) *proxyOrigins {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s %s host=%s auth=%q", r.Proto, r.URL.RequestURI(), r.Host, r.Header.Get("Proxy-Authorization"))
	})
	o := &proxyOrigins{tls: httptest.NewUnstartedServer(h), plain: httptest.NewServer(h)}
	o.tls.Config.ErrorLog = quietServerLog // tunnels closed before the handshake are expected
	o.tls.StartTLS()
	t.Cleanup(o.tls.Close)
	t.Cleanup(o.plain.Close)
	o.roots = x509.NewCertPool()
	o.roots.AddCert(o.tls.Certificate())
	return o
}

// serverAddr returns the host:port s listens on.
func serverAddr(s *httptest.Server) string { return s.Listener.Addr().String() }

// proxyGet sends GET url over s with HTTP/1.1 (through forwardRequest when
// forward is a proxy) and returns the status and body; it closes s.
func proxyGet(t *testing.T, s transport.Stream, rawURL string, forward *url.URL) (int, string) {
	t.Helper()
	c := h1.NewConn(s, h1.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if forward != nil {
		req = forwardRequest(req, forward)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", rawURL, err)
	}
	return resp.StatusCode, string(body)
}

// tunnelGet dials target through proxy with b, runs TLS over the tunnel
// for https and GETs path; it returns the status and body.
func tunnelGet(t *testing.T, b transport.Backend, proxy *url.URL, o *proxyOrigins, scheme, target, path string, opts proxyOptions) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := dialProxy(ctx, b, proxy, scheme, target, opts)
	if err != nil {
		t.Fatalf("dialProxy %s via %s: %v", target, proxyName(proxy), err)
	}
	if scheme == "https" {
		host, _, _ := net.SplitHostPort(target)
		s, err = transport.StartTLS(ctx, s, &tls.Config{RootCAs: o.roots, ServerName: host, NextProtos: []string{ProtoHTTP11}})
		if err != nil {
			t.Fatalf("TLS over the tunnel: %v", err)
		}
	}
	return proxyGet(t, s, scheme+"://"+target+path, nil)
}

// proxyDialErr dials through proxy and returns the *ProxyError it must fail
// with.
func proxyDialErr(t *testing.T, b transport.Backend, proxy *url.URL, scheme, target string, opts proxyOptions) *ProxyError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := dialProxy(ctx, b, proxy, scheme, target, opts)
	if err == nil {
		s.Close()
		t.Fatalf("dialProxy %s via %s: no error", target, proxyName(proxy))
	}
	var pe *ProxyError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ProxyError", err, err)
	}
	if pw, ok := proxy.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		t.Fatalf("error message shows the password: %v", err)
	}
	return pe
}

// eachRealBackend runs f with every real backend (stdnet, and epoll where it
// runs), closing each after.
func eachRealBackend(t *testing.T, f func(t *testing.T, b transport.Backend)) {
	for _, tb := range realBackends() {
		t.Run(tb.name, func(t *testing.T) {
			b := tb.open(t)
			defer b.Close()
			f(t, b)
		})
	}
}

// ---- Tests with real proxies.

// tinyproxyURL starts tinyproxy with opts, without a Via header, and
// returns its URL.
func tinyproxyURL(t testing.TB, opts testenv.TinyproxyOptions) *url.URL {
	t.Helper()
	opts.DisableVia = true
	return testenv.StartTinyproxy(t, opts).URL()
}

func TestProxyTinyproxyConnect(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	proxy := tinyproxyURL(t, testenv.TinyproxyOptions{})
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		status, body := tunnelGet(t, b, proxy, o, "https", serverAddr(o.tls), "/tunnel?q=1", proxyOptions{})
		if want := "origin HTTP/1.1 /tunnel?q=1 host=" + serverAddr(o.tls) + ` auth=""`; status != 200 || body != want {
			t.Fatalf("got %d %q, want 200 %q", status, body, want)
		}
		// Tunnel an http origin too, as h2c needs.
		status, body = tunnelGet(t, b, proxy, o, "http", serverAddr(o.plain), "/h2c-like", proxyOptions{Tunnel: true})
		if status != 200 || !strings.HasPrefix(body, "origin HTTP/1.1 /h2c-like ") {
			t.Fatalf("tunnelled http: got %d %q", status, body)
		}
	})
}

func TestProxyTinyproxyAuth(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	proxy := tinyproxyURL(t, testenv.TinyproxyOptions{User: "alice", Password: "s3cret-pw"})
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		status, body := tunnelGet(t, b, proxy, o, "https", serverAddr(o.tls), "/auth", proxyOptions{})
		if status != 200 || !strings.HasPrefix(body, "origin HTTP/1.1 /auth ") {
			t.Fatalf("right credentials: got %d %q", status, body)
		}
		// No credentials: 407 with a challenge.
		none := *proxy
		none.User = nil
		pe := proxyDialErr(t, b, &none, "https", serverAddr(o.tls), proxyOptions{})
		if pe.StatusCode != http.StatusProxyAuthRequired || !errors.Is(pe, ErrProxyAuth) || pe.Op != "connect" {
			t.Fatalf("no credentials: got %v (status %d, op %q), want a 407 matching ErrProxyAuth", pe, pe.StatusCode, pe.Op)
		}
		if pe.Header.Get("Proxy-Authenticate") == "" {
			t.Errorf("no credentials: the 407's Proxy-Authenticate is not in the error's Header")
		}
		// A wrong password: tinyproxy 1.11.1 answers 401, later versions
		// 407; both come from the proxy itself.
		bad := *proxy
		bad.User = url.UserPassword("alice", "not-the-pw")
		pe = proxyDialErr(t, b, &bad, "https", serverAddr(o.tls), proxyOptions{})
		if (pe.StatusCode != http.StatusProxyAuthRequired && pe.StatusCode != http.StatusUnauthorized) || !errors.Is(pe, ErrProxyAuth) {
			t.Fatalf("wrong password: got %v (status %d), want a 401 or 407 matching ErrProxyAuth", pe, pe.StatusCode)
		}
	})
}

func TestProxyTinyproxyForward(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	proxy := tinyproxyURL(t, testenv.TinyproxyOptions{User: "bob", Password: "pa55"})
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !proxyForwards(proxy, "http", false) {
			t.Fatal("an http proxy does not forward http requests")
		}
		s, err := dialProxy(ctx, b, proxy, "http", "ignored", proxyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		status, body := proxyGet(t, s, o.plain.URL+"/fwd?x=1&y=2", proxy)
		// tinyproxy takes the credentials for itself, and sends the
		// origin an origin-form request.
		if want := "origin HTTP/1.1 /fwd?x=1&y=2 host=" + serverAddr(o.plain) + ` auth=""`; status != 200 || body != want {
			t.Fatalf("got %d %q, want 200 %q", status, body, want)
		}
		bad := *proxy
		bad.User = url.UserPassword("bob", "wrong")
		s, err = dialProxy(ctx, b, &bad, "http", "", proxyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := proxyGet(t, s, o.plain.URL+"/fwd", &bad); status != http.StatusProxyAuthRequired && status != http.StatusUnauthorized {
			t.Fatalf("wrong credentials: status %d, want 401 or 407", status)
		}
	})
}

func TestProxyTinyproxyRefusals(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	// Only port 1 may be reached by CONNECT: the origin's port is not.
	proxy := tinyproxyURL(t, testenv.TinyproxyOptions{ConnectPorts: []int{1}})
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		pe := proxyDialErr(t, b, proxy, "https", serverAddr(o.tls), proxyOptions{})
		if pe.StatusCode != http.StatusForbidden || !errors.Is(pe, ErrProxyConnect) || errors.Is(pe, ErrProxyAuth) {
			t.Fatalf("port not allowed: got %v (status %d), want 403 matching ErrProxyConnect", pe, pe.StatusCode)
		}
		if !strings.HasPrefix(pe.Status, "403") {
			t.Errorf("Status %q does not start with 403", pe.Status)
		}
		// Port 1 is allowed and refused: tinyproxy answers with a 5xx.
		pe = proxyDialErr(t, b, proxy, "https", "127.0.0.1:1", proxyOptions{})
		if pe.StatusCode < 500 || !errors.Is(pe, ErrProxyConnect) {
			t.Fatalf("refused target: got %v (status %d), want a 5xx matching ErrProxyConnect", pe, pe.StatusCode)
		}
	})
}

func TestProxyMicrosocks(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	open := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{}).URL("socks5")
	authed := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{User: "carol", Password: "s0cks-pw"}).URL("socks5")
	refused := testenv.FreePort(t)
	_, plainPort, _ := net.SplitHostPort(serverAddr(o.plain))
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		for _, proxy := range []*url.URL{open, authed} {
			for _, scheme := range []string{"socks5", "socks5h"} {
				p := *proxy
				p.Scheme = scheme
				name := scheme
				if p.User != nil {
					name += "+auth"
				}
				t.Run(name, func(t *testing.T) {
					status, body := tunnelGet(t, b, &p, o, "https", serverAddr(o.tls), "/s", proxyOptions{})
					if status != 200 || !strings.HasPrefix(body, "origin HTTP/1.1 /s ") {
						t.Fatalf("https through %s: got %d %q", scheme, status, body)
					}
					// A name: looked up here for socks5, by microsocks for socks5h.
					status, body = tunnelGet(t, b, &p, o, "http", net.JoinHostPort("localhost", plainPort), "/name", proxyOptions{})
					if status != 200 || !strings.HasPrefix(body, "origin HTTP/1.1 /name ") {
						t.Fatalf("http by name through %s: got %d %q", scheme, status, body)
					}
					pe := proxyDialErr(t, b, &p, "http", refused, proxyOptions{})
					var re *SOCKSReplyError
					if !errors.Is(pe, syscall.ECONNREFUSED) || !errors.Is(pe, ErrProxyConnect) || !errors.As(pe, &re) || pe.Op != "socks" {
						t.Fatalf("refused target: got %v, want a SOCKS reply matching ECONNREFUSED and ErrProxyConnect", pe)
					}
				})
			}
		}
		t.Run("auth", func(t *testing.T) {
			bad := *authed
			bad.User = url.UserPassword("carol", "wrong")
			if pe := proxyDialErr(t, b, &bad, "https", serverAddr(o.tls), proxyOptions{}); !errors.Is(pe, ErrProxyAuth) {
				t.Fatalf("wrong password: got %v, want ErrProxyAuth", pe)
			}
			none := *authed
			none.User = nil
			if pe := proxyDialErr(t, b, &none, "https", serverAddr(o.tls), proxyOptions{}); !errors.Is(pe, ErrProxyAuth) {
				t.Fatalf("no credentials: got %v, want ErrProxyAuth", pe)
			}
		})
	})
}

func TestProxyDanted(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	blocked := startProxyOrigins(t)
	_, port, _ := net.SplitHostPort(serverAddr(blocked.plain))
	bp, _ := strconv.Atoi(port)
	proxy := &url.URL{Scheme: "socks5", Host: testenv.StartDanted(t, testenv.DantedOptions{Blocked: []int{bp}}).Addr}
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		status, body := tunnelGet(t, b, proxy, o, "https", serverAddr(o.tls), "/dante", proxyOptions{})
		if status != 200 || !strings.HasPrefix(body, "origin HTTP/1.1 /dante ") {
			t.Fatalf("got %d %q", status, body)
		}
		pe := proxyDialErr(t, b, proxy, "http", serverAddr(blocked.plain), proxyOptions{})
		var re *SOCKSReplyError
		if !errors.As(pe, &re) || re.Code != 2 || !errors.Is(pe, os.ErrPermission) || !errors.Is(pe, ErrProxyConnect) {
			t.Fatalf("blocked target: got %v, want SOCKS reply 2 matching os.ErrPermission", pe)
		}
	})
}

// ---- Tests with in-process proxies.

func TestProxyHTTPSProxy(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	gp := startGoProxy(t, true, 0)
	proxy := *gp.url
	proxy.User = url.UserPassword("dave", "tls-pw")
	opts := proxyOptions{TLSConfig: &tls.Config{RootCAs: gp.roots}}
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		status, body := tunnelGet(t, b, &proxy, o, "https", serverAddr(o.tls), "/tls-in-tls", opts)
		if status != 200 || !strings.HasPrefix(body, "origin HTTP/1.1 /tls-in-tls ") {
			t.Fatalf("got %d %q", status, body)
		}
		if got := gp.lastConnect(t).Header.Get("Proxy-Authorization"); got != proxyAuth(&proxy) {
			t.Fatalf("CONNECT Proxy-Authorization %q, want %q", got, proxyAuth(&proxy))
		}

		// Forwarding over TLS: the proxy gets the absolute form.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := dialProxy(ctx, b, &proxy, "http", "", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if p := transport.NegotiatedProtocol(s); p != ProtoHTTP11 {
			t.Fatalf("ALPN with the proxy %q, want %q although it offers h2", p, ProtoHTTP11)
		}
		status, body = proxyGet(t, s, "http://origin.test:8080/abs?k=v", &proxy)
		if want := fmt.Sprintf("forwarded HTTP/1.1 http://origin.test:8080/abs?k=v auth=%q", proxyAuth(&proxy)); status != 200 || body != want {
			t.Fatalf("forwarded: got %d %q, want %q", status, body, want)
		}

		// The proxy's certificate is checked.
		pe := proxyDialErr(t, b, &proxy, "https", serverAddr(o.tls), proxyOptions{})
		var uerr x509.UnknownAuthorityError
		if pe.Op != "dial" || !errors.As(pe, &uerr) {
			t.Fatalf("untrusted proxy: got %v, want a dial error with x509.UnknownAuthorityError", pe)
		}
	})
}

func TestProxyConnectStatus(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := loopbackBackend(t)
	for _, tc := range []struct {
		status int
		is     error
	}{
		{http.StatusForbidden, ErrProxyConnect},
		{http.StatusBadGateway, ErrProxyConnect},
		{http.StatusProxyAuthRequired, ErrProxyAuth},
		{http.StatusUnauthorized, ErrProxyAuth},
		{http.StatusSwitchingProtocols, ErrProxyConnect},
		{http.StatusMultipleChoices, ErrProxyConnect},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			gp := startGoProxy(t, false, tc.status)
			pe := proxyDialErr(t, b, gp.url, "https", "origin.test:443", proxyOptions{})
			if pe.StatusCode != tc.status || !errors.Is(pe, tc.is) || pe.Op != "connect" || pe.Target != "origin.test:443" {
				t.Fatalf("got %v (status %d, op %q), want status %d matching %v", pe, pe.StatusCode, pe.Op, tc.status, tc.is)
			}
			if want := strconv.Itoa(tc.status) + " " + http.StatusText(tc.status); pe.Status != want {
				t.Fatalf("Status %q, want %q", pe.Status, want)
			}
		})
	}
	// A 2xx other than 200 opens the tunnel too (RFC 9110, 9.3.6).
	pending, err := connectAnswer(t, "HTTP/1.1 204 No Content\r\n\r\n", false, proxyOptions{})
	if err != nil || len(pending) != 0 {
		t.Fatalf("204: got %q, %v", pending, err)
	}
}

func TestProxyConnectRequest(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyOrigins(t)
	gp := startGoProxy(t, false, 0)
	b := loopbackBackend(t)
	proxy := *gp.url
	proxy.User = url.User("only-user")
	target := serverAddr(o.tls)

	opts := proxyOptions{ConnectHeader: http.Header{"X-Static": {"1"}, "Proxy-Authorization": {"overridden"}}, UserAgent: "kit/1"}
	if status, _ := tunnelGet(t, b, &proxy, o, "https", target, "/", opts); status != 200 {
		t.Fatalf("status %d", status)
	}
	r := gp.lastConnect(t)
	if r.Host != target || r.RequestURI != target || r.Header.Get("X-Static") != "1" || r.Header.Get("User-Agent") != "kit/1" {
		t.Fatalf("CONNECT %q Host %q header %v", r.RequestURI, r.Host, r.Header)
	}
	if got, want := r.Header.Get("Proxy-Authorization"), proxyAuth(&proxy); got != want || len(r.Header["Proxy-Authorization"]) != 1 {
		t.Fatalf("Proxy-Authorization %q, want %q alone", r.Header["Proxy-Authorization"], want)
	}
	if opts.ConnectHeader.Get("Proxy-Authorization") != "overridden" {
		t.Fatal("ConnectHeader was modified")
	}

	// GetConnectHeader replaces ConnectHeader; an empty User-Agent sends none.
	var gotURL *url.URL
	var gotTarget string
	var sawResp bool
	opts.GetConnectHeader = func(_ context.Context, u *url.URL, target string) (http.Header, error) {
		gotURL, gotTarget = u, target
		return http.Header{"X-Dynamic": {"2"}, "User-Agent": {""}}, nil
	}
	opts.OnConnectResponse = func(_ context.Context, u *url.URL, req *http.Request, resp *http.Response) error {
		sawResp = req.Method == http.MethodConnect && resp.StatusCode == 200
		return nil
	}
	if status, _ := tunnelGet(t, b, &proxy, o, "https", target, "/", opts); status != 200 {
		t.Fatalf("status %d", status)
	}
	r = gp.lastConnect(t)
	if r.Header.Get("X-Dynamic") != "2" || r.Header.Get("X-Static") != "" || r.Header["User-Agent"] != nil {
		t.Fatalf("header %v, want X-Dynamic and no User-Agent", r.Header)
	}
	if gotURL != &proxy || gotTarget != target || !sawResp {
		t.Fatalf("hooks got %v %q %v", gotURL, gotTarget, sawResp)
	}

	// Errors of the hooks fail the dial.
	hookErr := errors.New("hook says no")
	bad := opts
	bad.GetConnectHeader = func(context.Context, *url.URL, string) (http.Header, error) { return nil, hookErr }
	if pe := proxyDialErr(t, b, &proxy, "https", target, bad); !errors.Is(pe, hookErr) {
		t.Fatalf("GetConnectHeader error: got %v", pe)
	}
	bad = opts
	bad.OnConnectResponse = func(context.Context, *url.URL, *http.Request, *http.Response) error { return hookErr }
	if pe := proxyDialErr(t, b, &proxy, "https", target, bad); !errors.Is(pe, hookErr) {
		t.Fatalf("OnConnectResponse error: got %v", pe)
	}

	// Header fields that cannot be sent are refused before sending.
	for _, h := range []http.Header{{"Bad Name": {"x"}}, {"X-Bad": {"a\r\nInjected: 1"}}} {
		if pe := proxyDialErr(t, b, &proxy, "https", target, proxyOptions{ConnectHeader: h}); !errors.Is(pe, h1.ErrInvalidRequest) {
			t.Fatalf("header %q: got %v, want h1.ErrInvalidRequest", h, pe)
		}
	}
	if pe := proxyDialErr(t, b, &proxy, "https", "bad target:443", proxyOptions{}); !errors.Is(pe, h1.ErrInvalidRequest) {
		t.Fatalf("bad target: got %v, want h1.ErrInvalidRequest", pe)
	}
}

// connectAnswer runs a CONNECT against a mock proxy that answers with
// answer in one write (and then closes the connection when closeAfter)
// and returns what the tunnel read first (up to 64
// bytes, without blocking when nothing is pending), or the dial's error.
func connectAnswer(t *testing.T, answer string, closeAfter bool, opts proxyOptions) ([]byte, error) {
	t.Helper()
	b := mock.New()
	defer b.Close()
	b.Handle("proxy.test:3128", mock.FuncPeer(func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		c.Write([]byte(answer))
		if !closeAfter {
			io.Copy(io.Discard, c)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := dialProxy(ctx, b, &url.URL{Scheme: "http", Host: "proxy.test:3128"}, "https", "origin.test:443", opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if !s.IsReadable() {
		return nil, nil
	}
	p := make([]byte, 64)
	n, err := s.Read(p)
	return p[:n], err
}

func TestProxyConnectReplay(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	// Tunnel bytes sent with the response head are read with it and
	// replayed.
	got, err := connectAnswer(t, "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nserver speaks first", false, proxyOptions{})
	if err != nil || string(got) != "server speaks first" {
		t.Fatalf("got %q, %v", got, err)
	}

	// With a real backend: the first bytes and the rest arrive in order.
	addr := testenv.Serve(t, nil, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\nhello "))
		line, _ := br.ReadString('\n')
		c.Write([]byte("world, you said " + line))
	})
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := dialProxy(ctx, b, &url.URL{Scheme: "http", Host: addr}, "https", "origin.test:443", proxyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !s.IsReadable() {
			t.Fatal("IsReadable false with replayed bytes pending")
		}
		if _, ok := s.Info(transport.InfoFD); ok {
			t.Fatal("InfoFD given while bytes are pending")
		}
		first := make([]byte, 3)
		if _, err := io.ReadFull(s, first); err != nil || string(first) != "hel" {
			t.Fatalf("first read %q, %v", first, err)
		}
		if _, err := s.Write([]byte("hi\n")); err != nil {
			t.Fatal(err)
		}
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(s)
		if err != nil || string(rest) != "lo world, you said hi\n" {
			t.Fatalf("rest %q, %v", rest, err)
		}
		if _, ok := s.Info(transport.InfoFD); !ok {
			t.Fatal("no InfoFD once the pending bytes were read")
		}
		if v, ok := s.Info(transport.InfoBackend); !ok || v != b.Name() {
			t.Fatalf("InfoBackend %v", v)
		}
	})
}

func TestProxyReplayStream(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := loopbackBackend(t)
	// With nothing pending the wrapper keeps the stream's contract.
	mp := transporttest.TCPPipe(b)
	transporttest.TestStream(t, func() (transport.Stream, net.Conn, func(), error) {
		s, peer, stop, err := mp()
		if err != nil {
			return nil, nil, nil, err
		}
		return &replayStream{Stream: s}, peer, stop, nil
	})

	s, peer, stop, err := mp()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	defer peer.Close()
	r := &replayStream{Stream: s, pending: []byte("abc")}
	if n, err := r.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
	r.Close()
	if r.IsReadable() != true {
		t.Fatal("IsReadable false after Close")
	}
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close with bytes pending: %v, want net.ErrClosed", err)
	}
}

func TestProxyConnectMalformed(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	for name, tc := range map[string]struct {
		answer string
		close  bool
		opts   proxyOptions
	}{
		"garbage":       {"SSH-2.0-OpenSSH\r\n\r\n", false, proxyOptions{}},
		"closed":        {"", true, proxyOptions{}},
		"cut head":      {"HTTP/1.1 200 OK\r\nX-A:", true, proxyOptions{}},
		"head too long": {"HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 200) + "\r\n\r\n", false, proxyOptions{MaxHeaderBytes: 100}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := connectAnswer(t, tc.answer, tc.close, tc.opts)
			var pe *ProxyError
			if !errors.As(err, &pe) || !errors.Is(err, ErrProxyProtocol) || pe.Op != "connect" {
				t.Fatalf("got %v, want a connect error matching ErrProxyProtocol", err)
			}
		})
	}
}

// socksPeer is a SOCKS5 server for the mock backend that records the
// CONNECT request's address, answers with reply, and then, when reply
// is 0, echoes the tunnel. Extra bytes follow the reply when after is set.
type socksPeer struct {
	method byte   // method to choose; 0xff: none acceptable
	auth   byte   // user/password status
	reply  []byte // the whole reply to the CONNECT request
	after  string // sent right after the reply

	mu    sync.Mutex
	got   []byte // the CONNECT request's ATYP, address and port
	creds []byte // the user/password request
}

func (sp *socksPeer) serve(c net.Conn) {
	var buf [512]byte
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	c.Write([]byte{5, sp.method})
	switch sp.method {
	case socksUserPass:
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return
		}
		ul := int(buf[1])
		if _, err := io.ReadFull(c, buf[2:2+ul+1]); err != nil {
			return
		}
		pl := int(buf[2+ul])
		if _, err := io.ReadFull(c, buf[3+ul:3+ul+pl]); err != nil {
			return
		}
		sp.mu.Lock()
		sp.creds = bytes.Clone(buf[:3+ul+pl])
		sp.mu.Unlock()
		c.Write([]byte{1, sp.auth})
		if sp.auth != 0 {
			return
		}
	case socksNoMethod:
		return
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		return
	}
	off, n := 4, 0
	switch buf[3] {
	case socksAddrIPv4:
		n = 4
	case socksAddrIPv6:
		n = 16
	case socksAddrName:
		if _, err := io.ReadFull(c, buf[4:5]); err != nil {
			return
		}
		off, n = 5, int(buf[4])
	}
	if _, err := io.ReadFull(c, buf[off:off+n+2]); err != nil {
		return
	}
	sp.mu.Lock()
	sp.got = bytes.Clone(buf[3 : off+n+2])
	sp.mu.Unlock()
	c.Write(append(bytes.Clone(sp.reply), sp.after...))
	io.Copy(c, c)
}

var socksOK = []byte{5, 0, 0, socksAddrIPv4, 127, 0, 0, 1, 0x04, 0x38}

func TestProxySOCKSWire(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	nameReply := append([]byte{5, 0, 0, socksAddrName, 9}, "bound.foo\x00\x50"...)
	for _, tc := range []struct {
		name, scheme, target string
		user                 *url.Userinfo
		reply                []byte
		want                 []byte // the request's address
	}{
		{"ipv4", "socks5", "192.0.2.7:443", nil, socksOK, []byte{1, 192, 0, 2, 7, 1, 187}},
		{"ipv6", "socks5h", "[2001:db8::1]:80", nil, socksOK, []byte{4, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80}},
		{"local name", "socks5", "localhost:8080", nil, socksOK, nil}, // an address of localhost
		{"remote name", "socks5h", "localhost:8080", nil, socksOK, append([]byte{3, 9}, "localhost\x1f\x90"...)},
		{"bound name", "socks5h", "a.test:1", url.UserPassword("u", "pw-secret"), nameReply, append([]byte{3, 6}, "a.test\x00\x01"...)},
		{"ipv6 bound", "socks5h", "a.test:1", nil, []byte{5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}, append([]byte{3, 6}, "a.test\x00\x01"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &socksPeer{reply: tc.reply, after: "first"}
			if tc.user != nil {
				sp.method = socksUserPass
			}
			b := mock.New()
			defer b.Close()
			b.Handle("socks.test:1080", mock.FuncPeer(sp.serve))
			proxy := &url.URL{Scheme: tc.scheme, Host: "socks.test", User: tc.user}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := dialProxy(ctx, b, proxy, "https", tc.target, proxyOptions{Resolver: noDNS})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// The bytes after the reply are the tunnel's, and the tunnel
			// echoes.
			s.Write([]byte(" second"))
			got := make([]byte, len("first second"))
			if _, err := io.ReadFull(s, got); err != nil || string(got) != "first second" {
				t.Fatalf("tunnel read %q, %v", got, err)
			}
			sp.mu.Lock()
			defer sp.mu.Unlock()
			if tc.want == nil {
				var ip net.IP
				switch sp.got[0] {
				case socksAddrIPv4:
					ip = net.IP(sp.got[1:5])
				case socksAddrIPv6:
					ip = net.IP(sp.got[1:17])
				}
				if !ip.IsLoopback() || !bytes.HasSuffix(sp.got, []byte{0x1f, 0x90}) {
					t.Fatalf("request address % x, want a loopback address and port 8080", sp.got)
				}
			} else if !bytes.Equal(sp.got, tc.want) {
				t.Fatalf("request address % x, want % x", sp.got, tc.want)
			}
			if tc.user != nil && !bytes.Equal(sp.creds, []byte("\x01\x01u\x09pw-secret")) {
				t.Fatalf("credentials % x", sp.creds)
			}
		})
	}
	t.Run("no DNS", func(t *testing.T) {
		b := mock.New()
		defer b.Close()
		pe := proxyDialErr(t, b, &url.URL{Scheme: "socks5", Host: "socks.test"}, "https", "nowhere.invalid:443", proxyOptions{Resolver: noDNS})
		var de *net.DNSError
		if !errors.As(pe, &de) || pe.Op != "socks" || len(b.Conns()) != 0 {
			t.Fatalf("got %v after %d dials, want a DNS error before any dial", pe, len(b.Conns()))
		}
	})
}

func TestProxySOCKSErrors(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	replyErr := func(code byte) []byte { return []byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0} }
	for _, tc := range []struct {
		name  string
		sp    *socksPeer
		user  *url.Userinfo
		is    []error
		notIs []error
	}{
		{"general failure", &socksPeer{reply: replyErr(1)}, nil, []error{ErrProxyConnect}, []error{syscall.ECONNREFUSED}},
		{"not allowed", &socksPeer{reply: replyErr(2)}, nil, []error{ErrProxyConnect, os.ErrPermission}, nil},
		{"network unreachable", &socksPeer{reply: replyErr(3)}, nil, []error{ErrProxyConnect, syscall.ENETUNREACH}, nil},
		{"host unreachable", &socksPeer{reply: replyErr(4)}, nil, []error{ErrProxyConnect, syscall.EHOSTUNREACH}, nil},
		{"refused", &socksPeer{reply: replyErr(5)}, nil, []error{ErrProxyConnect, syscall.ECONNREFUSED}, nil},
		{"ttl", &socksPeer{reply: replyErr(6)}, nil, []error{ErrProxyConnect, syscall.ETIMEDOUT}, []error{os.ErrDeadlineExceeded}},
		{"command", &socksPeer{reply: replyErr(7)}, nil, []error{ErrProxyConnect, errors.ErrUnsupported}, nil},
		{"address type", &socksPeer{reply: replyErr(8)}, nil, []error{ErrProxyConnect, errors.ErrUnsupported}, nil},
		{"unknown code", &socksPeer{reply: replyErr(77)}, nil, []error{ErrProxyConnect}, []error{errors.ErrUnsupported}},
		{"no method", &socksPeer{method: socksNoMethod}, url.UserPassword("u", "pw-secret"), []error{ErrProxyAuth}, nil},
		{"auth rejected", &socksPeer{method: socksUserPass, auth: 1}, url.UserPassword("u", "pw-secret"), []error{ErrProxyAuth}, nil},
		{"method not offered", &socksPeer{method: socksUserPass}, nil, []error{ErrProxyProtocol}, nil},
		{"odd method", &socksPeer{method: 0x80}, nil, []error{ErrProxyProtocol}, nil},
		{"bad reply version", &socksPeer{reply: []byte{4, 0, 0, 1, 0, 0, 0, 0, 0, 0}}, nil, []error{ErrProxyProtocol}, nil},
		{"bad address type", &socksPeer{reply: []byte{5, 0, 0, 9, 0, 0, 0, 0, 0, 0}}, nil, []error{ErrProxyProtocol}, nil},
		{"cut reply", &socksPeer{reply: []byte{5, 0, 0, 1, 0}}, nil, []error{ErrProxyProtocol}, nil},
		{"cut name", &socksPeer{reply: []byte{5, 0, 0, 3}}, nil, []error{ErrProxyProtocol}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mock.New()
			defer b.Close()
			peer := tc.sp.serve
			if strings.HasPrefix(tc.name, "cut") {
				peer = func(c net.Conn) {
					// Answer, then close before the reply is whole.
					go func() { time.Sleep(50 * time.Millisecond); c.Close() }()
					tc.sp.serve(c)
				}
			}
			b.Handle("socks.test:1080", mock.FuncPeer(peer))
			pe := proxyDialErr(t, b, &url.URL{Scheme: "socks5h", Host: "socks.test", User: tc.user}, "https", "a.test:443", proxyOptions{})
			if pe.Op != "socks" {
				t.Errorf("Op %q, want socks", pe.Op)
			}
			for _, want := range tc.is {
				if !errors.Is(pe, want) {
					t.Errorf("%v does not match %v", pe, want)
				}
			}
			for _, not := range tc.notIs {
				if errors.Is(pe, not) {
					t.Errorf("%v matches %v", pe, not)
				}
			}
		})
	}
	// A server that is not SOCKS5 at all.
	b := mock.New()
	defer b.Close()
	b.Handle("socks.test:1080", mock.FuncPeer(func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		io.Copy(io.Discard, c)
	}))
	if pe := proxyDialErr(t, b, &url.URL{Scheme: "socks5", Host: "socks.test"}, "https", "192.0.2.1:443", proxyOptions{}); !errors.Is(pe, ErrProxyProtocol) {
		t.Fatalf("HTTP server as SOCKS proxy: %v", pe)
	}
	if (&SOCKSReplyError{Code: 5}).Error() != "SOCKS5 reply 5: connection refused" {
		t.Fatalf("message %q", (&SOCKSReplyError{Code: 5}).Error())
	}
}

func TestProxyRefused(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	addr := testenv.FreePort(t)
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		for _, scheme := range []string{"http", "https", "socks5", "socks5h"} {
			proxy := &url.URL{Scheme: scheme, Host: addr, User: url.UserPassword("erin", "hidden-pw")}
			pe := proxyDialErr(t, b, proxy, "https", "192.0.2.1:443", proxyOptions{})
			if !errors.Is(pe, syscall.ECONNREFUSED) || pe.Op != "dial" {
				t.Fatalf("%s: got %v, want a dial error matching ECONNREFUSED", scheme, pe)
			}
			if want := scheme + "://erin@" + addr; pe.Proxy != want {
				t.Fatalf("Proxy %q, want %q", pe.Proxy, want)
			}
			var oe *transport.OpError
			if !errors.As(pe, &oe) || oe.Backend != b.Name() {
				t.Fatalf("the backend's error is lost: %v", pe)
			}
		}
	})
}

// proxyDialWithin dials through proxy under ctx, which ends within 200ms, and
// fails the test if the dial has not returned 3s later.
func proxyDialWithin(t *testing.T, ctx context.Context, b transport.Backend, proxy *url.URL, opts proxyOptions) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		s, err := dialProxy(ctx, b, proxy, "https", "origin.test:443", opts)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		t.Fatal("dialProxy still blocked 3s after its context ended")
		return nil
	}
}

func TestProxyContext(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	silent := silentListener(t)
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		for _, scheme := range []string{"http", "https", "socks5h"} {
			proxy := &url.URL{Scheme: scheme, Host: silent}
			t.Run(scheme+"/deadline", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				err := proxyDialWithin(t, ctx, b, proxy, proxyOptions{})
				var ne net.Error
				if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("got %v, want a timeout matching os.ErrDeadlineExceeded", err)
				}
			})
			t.Run(scheme+"/cancel", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				timer := time.AfterFunc(100*time.Millisecond, cancel)
				defer timer.Stop()
				err := proxyDialWithin(t, ctx, b, proxy, proxyOptions{})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("got %v, want context.Canceled", err)
				}
			})
		}
	})
	// A cancel while the exchange runs (here in GetConnectHeader).
	b := mock.New()
	defer b.Close()
	b.Handle("proxy.test:3128", mock.FuncPeer(func(c net.Conn) { io.Copy(io.Discard, c) }))
	ctx, cancel := context.WithCancel(context.Background())
	opts := proxyOptions{GetConnectHeader: func(context.Context, *url.URL, string) (http.Header, error) {
		cancel()
		return nil, nil
	}}
	err := proxyDialWithin(t, ctx, b, &url.URL{Scheme: "http", Host: "proxy.test:3128"}, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled in GetConnectHeader: %v", err)
	}
	// A context that ended before the exchange starts: nothing runs and
	// the stream is closed.
	s, err := b.Dial(context.Background(), "tcp", "proxy.test:3128")
	if err != nil {
		t.Fatal(err)
	}
	err = exchange(ctx, s, func() error { t.Error("exchange ran with a done context"); return nil })
	if !errors.Is(err, context.Canceled) || !transport.IsClosed(s) {
		t.Fatalf("exchange with a done context: %v, closed %v", err, transport.IsClosed(s))
	}
}

func TestProxyInvalidURL(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := mock.New()
	defer b.Close()
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		url  string
		also error
	}{
		{"ftp://proxy.test", transport.ErrUnsupported},
		{"socks4://proxy.test", errors.ErrUnsupported},
		{"http://:3128", nil},
		{"http://proxy.test:0", nil},
		{"http://proxy.test:99999", nil},
		{"socks5://" + long + ":pw@proxy.test", nil},
		{"socks5://user:" + long + "@proxy.test", nil},
		{"socks5h://:pw@proxy.test", nil},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		pe := proxyDialErr(t, b, u, "https", "a.test:443", proxyOptions{})
		if !errors.Is(pe, ErrInvalidProxy) || (tc.also != nil && !errors.Is(pe, tc.also)) {
			t.Errorf("%.40s: got %v, want ErrInvalidProxy", tc.url, pe)
		}
	}
	if len(b.Conns()) != 0 {
		t.Fatalf("%d dials for invalid URLs", len(b.Conns()))
	}
	for _, target := range []string{"no-port", "a.test:http", "[::1:80", ":443"} {
		pe := proxyDialErr(t, b, &url.URL{Scheme: "socks5h", Host: "proxy.test"}, "https", target, proxyOptions{})
		if !errors.Is(pe, h1.ErrInvalidRequest) {
			t.Errorf("target %q: got %v, want h1.ErrInvalidRequest", target, pe)
		}
	}
}

func TestProxyKey(t *testing.T) {
	key := func(s string) string {
		t.Helper()
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return proxyKey(u)
	}
	if proxyKey(nil) != "" {
		t.Fatal("a nil proxy has a key")
	}
	for _, same := range [][2]string{
		{"http://Proxy.Example", "http://proxy.example:80"},
		{"https://proxy.example", "https://proxy.example:443"},
		{"socks5://proxy.example", "socks5://proxy.example:1080"},
		{"http://u:pw@proxy.example/", "http://u:pw@proxy.example:80"},
		{"http://[::1]:3128", "http://[::1]:3128/"},
	} {
		if a, b := key(same[0]), key(same[1]); a != b {
			t.Errorf("%s and %s: keys %q and %q differ", same[0], same[1], a, b)
		}
	}
	for _, differ := range [][2]string{
		{"http://proxy.example", "https://proxy.example"},
		{"socks5://proxy.example", "socks5h://proxy.example"},
		{"http://proxy.example:3128", "http://proxy.example:3129"},
		{"http://u:pw@proxy.example", "http://v:pw@proxy.example"},
		{"http://u:pw@proxy.example", "http://u:other@proxy.example"},
		{"http://u:pw@proxy.example", "http://u@proxy.example"},
		{"http://proxy.example", "http://u@proxy.example"},
	} {
		if a, b := key(differ[0]), key(differ[1]); a == b {
			t.Errorf("%s and %s share key %q", differ[0], differ[1], a)
		}
	}
	k := key("http://u:pw-secret@proxy.example:3128")
	if strings.Contains(k, "pw-secret") || !strings.HasPrefix(k, "http://u@proxy.example:3128#") {
		t.Fatalf("key %q", k)
	}
	if got := key("socks5h://Host.Example"); got != "socks5h://host.example:1080" {
		t.Fatalf("key %q", got)
	}
}

func TestProxyForwardRequest(t *testing.T) {
	proxy := &url.URL{Scheme: "http", Host: "proxy.test", User: url.UserPassword("u", "pw-secret")}
	req, _ := http.NewRequest(http.MethodGet, "http://origin.test:8080/a%20b/c?x=1&y", nil)
	req.Header.Set("Proxy-Authorization", "caller's")
	r := forwardRequest(req, proxy)
	if got, want := r.URL.RequestURI(), "http://origin.test:8080/a%20b/c?x=1&y"; got != want {
		t.Fatalf("target %q, want %q", got, want)
	}
	if r.Header.Get("Proxy-Authorization") != proxyAuth(proxy) || len(r.Header["Proxy-Authorization"]) != 1 {
		t.Fatalf("Proxy-Authorization %q", r.Header["Proxy-Authorization"])
	}
	if req.Header.Get("Proxy-Authorization") != "caller's" || req.URL.Opaque != "" {
		t.Fatal("the caller's request was modified")
	}
	if proxyAuth(proxy) != "Basic dTpwdy1zZWNyZXQ=" {
		t.Fatalf("proxyAuth %q", proxyAuth(proxy))
	}

	// req.Host names the origin in the target, as net/http does; the
	// path defaults to /, and a zone is dropped.
	req, _ = http.NewRequest(http.MethodGet, "http://origin.test", nil)
	req.Host = "[fe80::1%25eth0]:81"
	r = forwardRequest(req, &url.URL{Scheme: "http", Host: "proxy.test"})
	if got, want := r.URL.RequestURI(), "http://[fe80::1]:81/"; got != want || r.Header.Get("Proxy-Authorization") != "" {
		t.Fatalf("target %q, want %q; header %v", got, want, r.Header)
	}
	// No header at all gets one for the credentials.
	req = &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: "o.test", Path: "/"}}
	if r = forwardRequest(req, proxy); r.Header.Get("Proxy-Authorization") == "" || req.Header != nil {
		t.Fatalf("header %v; caller's %v", r.Header, req.Header)
	}
	// An opaque URL goes as it is.
	req, _ = http.NewRequest(http.MethodGet, "http://o.test/x", nil)
	req.URL.Opaque = "/raw%2Fpath"
	if r = forwardRequest(req, proxy); r.URL.RequestURI() != "/raw%2Fpath" {
		t.Fatalf("opaque target %q", r.URL.RequestURI())
	}

	for scheme, want := range map[string]bool{"http": true, "https": true, "socks5": false, "socks5h": false} {
		if got := proxyForwards(&url.URL{Scheme: scheme, Host: "p"}, "http", false); got != want {
			t.Errorf("proxyForwards(%s, http) = %v", scheme, got)
		}
		if proxyForwards(&url.URL{Scheme: scheme, Host: "p"}, "https", false) || proxyForwards(&url.URL{Scheme: scheme, Host: "p"}, "http", true) {
			t.Errorf("%s forwards https or tunnelled proxyOrigins", scheme)
		}
	}
	if proxyForwards(nil, "http", false) {
		t.Error("no proxy forwards")
	}
}

func TestProxyTLSConfig(t *testing.T) {
	proxy := &url.URL{Scheme: "https", Host: "Proxy.test:8443"}
	base := &tls.Config{NextProtos: []string{ProtoH2, ProtoHTTP11}, ServerName: "origin.test", MinVersion: tls.VersionTLS13}
	cfg := proxyTLSConfig(base, proxy)
	if cfg == base || cfg.ServerName != "Proxy.test" || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != ProtoHTTP11 || cfg.MinVersion != tls.VersionTLS13 {
		t.Fatalf("config %+v", cfg)
	}
	if base.ServerName != "origin.test" || len(base.NextProtos) != 2 {
		t.Fatal("base modified")
	}
	if proxyTLSConfig(cfg, proxy) != cfg {
		t.Fatal("a config that fits is not used as it is")
	}
	if c := proxyTLSConfig(nil, proxy); c.ServerName != "Proxy.test" {
		t.Fatalf("nil base: %+v", c)
	}
}

func TestProxyMockTLSDialer(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	// A backend with its own TLS (mock's DialTLS) carries the https proxy's
	// handshake; the proxy offers h2 and gets http/1.1.
	b := mock.New()
	defer b.Close()
	var proto string
	b.Handle("proxy.test:443", mock.FuncPeer(func(c net.Conn) {
		tc := tls.Server(c, mock.ServerTLSConfig())
		if err := tc.Handshake(); err != nil {
			return
		}
		proto = tc.ConnectionState().NegotiatedProtocol
		br := bufio.NewReader(tc)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		tc.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
		io.Copy(tc, br)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := dialProxy(ctx, b, &url.URL{Scheme: "https", Host: "proxy.test"}, "https", "origin.test:443", proxyOptions{TLSConfig: &tls.Config{RootCAs: mock.RootCAs()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "ping" || proto != ProtoHTTP11 {
		t.Fatalf("echo %q, %v; ALPN %q", got, err, proto)
	}
}

func TestProxyErrorMessage(t *testing.T) {
	e := &ProxyError{Op: "connect", Proxy: "http://u@p.test:80", Target: "o.test:443", StatusCode: 407, Status: "407 Proxy Authentication Required", Err: ErrProxyAuth}
	want := "protocols: proxy http://u@p.test:80: connect o.test:443: 407 Proxy Authentication Required: protocols: proxy authentication failed"
	if e.Error() != want {
		t.Fatalf("%q\nwant %q", e.Error(), want)
	}
	if _, ok := errors.AsType[net.Error](e); e.Timeout() || ok {
		t.Fatal("not a timeout")
	}
	e = &ProxyError{Op: "dial", Proxy: "socks5://p.test:1080", Err: transport.ErrTimeout}
	if ne, ok := errors.AsType[net.Error](e); !e.Timeout() || !ok || !ne.Timeout() || e.Error() != "protocols: proxy socks5://p.test:1080: dial: i/o timeout" {
		t.Fatalf("timeout %v: %q", e.Timeout(), e.Error())
	}
}
