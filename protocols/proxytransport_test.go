package protocols

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// proxyTestOrigins are an http origin, an https origin speaking HTTP/1.1
// only and an https origin offering h2, all answering with the protocol,
// request target and Host they saw.
type proxyTestOrigins struct {
	plain, tls1, tls2 *httptest.Server
	roots             *x509.CertPool
}

func startProxyTestOrigins(t *testing.T) *proxyTestOrigins {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s %s host=%s", r.Proto, r.URL.RequestURI(), r.Host)
	})
	o := &proxyTestOrigins{plain: httptest.NewServer(h), tls1: httptest.NewUnstartedServer(h), tls2: httptest.NewUnstartedServer(h)}
	o.tls1.Config.ErrorLog = quietServerLog
	o.tls2.Config.ErrorLog = quietServerLog
	o.tls1.StartTLS()
	o.tls2.EnableHTTP2 = true
	o.tls2.StartTLS()
	for _, s := range []*httptest.Server{o.plain, o.tls1, o.tls2} {
		t.Cleanup(s.Close)
	}
	o.roots = x509.NewCertPool()
	o.roots.AddCert(o.tls1.Certificate())
	o.roots.AddCert(o.tls2.Certificate())
	return o
}

// getBody GETs rawURL with tr and returns the response's protocol and
// body.
func getBody(t *testing.T, tr http.RoundTripper, rawURL string) (proto, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %q", rawURL, resp.Status, b)
	}
	return resp.Proto, string(b)
}

// getErr GETs rawURL with tr and returns the error it must fail with.
func getErr(t *testing.T, tr http.RoundTripper, rawURL string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s: got %s, want an error", rawURL, resp.Status)
	}
	return err
}

// TestTransportProxyReal sends requests through tinyproxy (forwarding for
// http origins, CONNECT for https ones, with Basic credentials from the
// URL) and microsocks (socks5 and socks5h, with a user name and
// password) on every real backend: HTTP/1.1 to http and https origins and
// HTTP/2 to an https origin through the tunnel, with connections reused.
func TestTransportProxyReal(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyTestOrigins(t)
	tiny := testenv.StartTinyproxy(t, testenv.TinyproxyOptions{User: "alice", Password: "pr0xy-pw"})
	socks := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{User: "carol", Password: "s0cks-pw"})
	proxies := []*url.URL{tiny.URL(), socks.URL("socks5"), socks.URL("socks5h")}
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		for _, proxy := range proxies {
			t.Run(proxy.Scheme, func(t *testing.T) {
				tr := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: o.roots}, Proxy: http.ProxyURL(proxy)}
				defer tr.Close()
				for round := range 2 {
					for _, tc := range []struct {
						srv   *httptest.Server
						proto string
					}{{o.plain, "HTTP/1.1"}, {o.tls1, "HTTP/1.1"}, {o.tls2, "HTTP/2.0"}} {
						path := fmt.Sprintf("/p%d?q=%s", round, proxy.Scheme)
						proto, body := getBody(t, tr, tc.srv.URL+path)
						want := "origin " + tc.proto + " " + path + " host=" + serverAddr(tc.srv)
						if proto != tc.proto || body != want {
							t.Fatalf("GET %s: got %s %q, want %s %q", tc.srv.URL, proto, body, tc.proto, want)
						}
					}
					// One dial per origin, reused after; but tinyproxy
					// closes the connections it forwards requests on
					// after each response (Connection: close).
					want := int64(3)
					if proxy.Scheme == "http" {
						want += int64(round)
					}
					if d := tr.Stats().Dials; d != want {
						t.Fatalf("round %d: %d dials, want %d", round, d, want)
					}
				}
			})
		}
		// The proxy saw the forwarded request in absolute form and the
		// tunnels.
		reqs, err := tiny.Requests()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"GET " + o.plain.URL + "/p0?q=http HTTP/1.1",
			"CONNECT " + serverAddr(o.tls1) + " HTTP/1.1",
			"CONNECT " + serverAddr(o.tls2) + " HTTP/1.1",
		} {
			if !slices.Contains(reqs, want) {
				t.Errorf("tinyproxy did not log %q; it logged %q", want, reqs)
			}
		}
	})
}

// TestTransportProxyRealAuth: wrong or missing credentials give typed
// errors through the Transport (https: *ProxyError matching ErrProxyAuth;
// http through a forwarding proxy: the proxy's own 407 or 401 response,
// as net/http gives it).
func TestTransportProxyRealAuth(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyTestOrigins(t)
	tiny := testenv.StartTinyproxy(t, testenv.TinyproxyOptions{User: "alice", Password: "pr0xy-pw"})
	socks := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{User: "carol", Password: "s0cks-pw"})
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		for _, proxy := range []*url.URL{tiny.URL(), socks.URL("socks5h")} {
			bad := *proxy
			bad.User = url.UserPassword(proxy.User.Username(), "wrong")
			tr := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: o.roots}, Proxy: http.ProxyURL(&bad)}
			err := getErr(t, tr, o.tls2.URL+"/x")
			var e *Error
			var pe *ProxyError
			if !errors.As(err, &e) || e.Op != "proxy" || !errors.As(err, &pe) || !errors.Is(err, ErrProxyAuth) {
				t.Errorf("%s, wrong password: got %v, want an *Error with Op proxy over a *ProxyError matching ErrProxyAuth", proxy.Scheme, err)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error shows the password: %v", err)
			}
			if proxy.Scheme == "http" {
				req, _ := http.NewRequest(http.MethodGet, o.plain.URL+"/x", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusProxyAuthRequired && resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("forwarded with a wrong password: %s, want 407 or 401", resp.Status)
				}
			}
			tr.Close()
		}
	})
}

// TestTransportProxyFunc: a Proxy func decides per request (NO_PROXY
// style: one host goes direct), its error fails the request, NoProxy
// and a nil answer dial directly, and pools are kept apart by proxy and
// by credentials.
func TestTransportProxyFunc(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyTestOrigins(t)
	gp := startGoProxy(t, false, 0)
	direct := serverAddr(o.tls1)
	boom := errors.New("no proxy for you")
	proxyFunc := func(req *http.Request) (*url.URL, error) {
		switch req.URL.Host {
		case direct:
			return nil, nil // as NO_PROXY would
		case "refused.test":
			return nil, boom
		}
		return gp.url, nil
	}
	eachRealBackend(t, func(t *testing.T, b transport.Backend) {
		tr := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: o.roots}, Proxy: proxyFunc}
		defer tr.Close()
		// Through the in-process proxy, which answers forwarded requests
		// itself with what it got.
		_, body := getBody(t, tr, o.plain.URL+"/f")
		if want := `forwarded HTTP/1.1 ` + o.plain.URL + `/f auth=""`; body != want {
			t.Fatalf("forwarded: got %q, want %q", body, want)
		}
		gp.mu.Lock()
		n := len(gp.connects)
		gp.mu.Unlock()
		proto, body := getBody(t, tr, o.tls1.URL+"/d")
		if proto != "HTTP/1.1" || !strings.HasPrefix(body, "origin HTTP/1.1 /d ") {
			t.Fatalf("direct: got %s %q", proto, body)
		}
		gp.mu.Lock()
		if len(gp.connects) != n {
			t.Errorf("the direct request went through the proxy")
		}
		gp.mu.Unlock()
		proto, body = getBody(t, tr, o.tls2.URL+"/t")
		if proto != "HTTP/2.0" || !strings.HasPrefix(body, "origin HTTP/2.0 /t ") {
			t.Fatalf("tunnelled h2: got %s %q", proto, body)
		}
		if got := gp.lastConnect(t).Host; got != serverAddr(o.tls2) {
			t.Errorf("CONNECT to %q, want %q", got, serverAddr(o.tls2))
		}
		err := getErr(t, tr, "http://refused.test/")
		var e *Error
		if !errors.Is(err, boom) || !errors.As(err, &e) || e.Op != "proxy" {
			t.Errorf("Proxy's error: got %v, want an *Error with Op proxy matching it", err)
		}
	})

	// Credentials go to the proxy as Proxy-Authorization, and keep pools
	// apart.
	b := realBackends()[0].open(t)
	defer b.Close()
	user := "u0"
	tr := &Transport{Backend: b, Proxy: func(*http.Request) (*url.URL, error) {
		u := *gp.url
		u.User = url.UserPassword(user, "pw")
		return &u, nil
	}}
	defer tr.Close()
	for i, u := range []string{"u0", "u1", "u0"} {
		user = u
		_, body := getBody(t, tr, o.plain.URL+"/a")
		if want := proxyAuth(&url.URL{User: url.UserPassword(u, "pw")}); !strings.HasSuffix(body, fmt.Sprintf("auth=%q", want)) {
			t.Fatalf("request %d as %s: got %q, want auth %q", i, u, body, want)
		}
	}
	if d := tr.Stats().Dials; d != 2 {
		t.Fatalf("%d dials, want 2: one per proxy user", d)
	}
}

// TestTransportProxyEnvironment: the zero Transport takes its proxy from
// the environment as net/http's DefaultTransport does; NoProxy ignores it.
func TestTransportProxyEnvironment(t *testing.T) {
	tr := &Transport{}
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	want, wantErr := http.ProxyFromEnvironment(req)
	got, err := tr.proxyFor(req)
	if (err != nil) != (wantErr != nil) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("proxyFor = %v, %v; ProxyFromEnvironment = %v, %v", got, err, want, wantErr)
	}
	if u, err := NoProxy(req); u != nil || err != nil {
		t.Fatalf("NoProxy = %v, %v", u, err)
	}
}

// routeBackend dials the addresses in routes at their mapped address,
// others as they are.
type routeBackend struct {
	transport.Backend
	routes map[string]string
}

func (b routeBackend) Dial(ctx context.Context, network, addr string) (transport.Stream, error) {
	if to, ok := b.routes[addr]; ok {
		addr = to
	}
	return b.Backend.Dial(ctx, network, addr)
}

// TestTransportProxyNoProxy: NO_PROXY through a Proxy func made by
// httpproxy.Config, as the environment's would be: the listed host goes
// direct, the other through the proxy.
func TestTransportProxyNoProxy(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	o := startProxyTestOrigins(t)
	gp := startGoProxy(t, false, 0)
	b := realBackends()[0].open(t)
	defer b.Close()
	cfg := httpproxy.Config{HTTPProxy: gp.url.String(), NoProxy: "direct.test"}
	pf := cfg.ProxyFunc()
	tr := &Transport{
		Backend: routeBackend{b, map[string]string{"direct.test:80": serverAddr(o.plain), "via.test:80": serverAddr(o.plain)}},
		Proxy:   func(req *http.Request) (*url.URL, error) { return pf(req.URL) },
	}
	defer tr.Close()
	if _, body := getBody(t, tr, "http://direct.test/d"); body != "origin HTTP/1.1 /d host=direct.test" {
		t.Fatalf("direct.test: got %q, want the origin's answer", body)
	}
	if _, body := getBody(t, tr, "http://via.test/v"); body != `forwarded HTTP/1.1 http://via.test/v auth=""` {
		t.Fatalf("via.test: got %q, want the proxy's answer", body)
	}
}
