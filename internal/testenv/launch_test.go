package testenv

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLaunchNginx(t *testing.T) {
	RequireBinary(t, "nginx", "")
	n, err := LaunchNginx(NginxOptions{
		TLS: true, HTTP2: true, H2C: true,
		WorkerConnections: 16384, RlimitNofile: 20000, Backlog: 4096, SSLProtocols: "TLSv1.3",
		Locations: []string{"location = /nginx_status { stub_status; }"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	conf, err := os.ReadFile(filepath.Join(n.Dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"worker_rlimit_nofile 20000;", "worker_connections 16384;", "listen " + n.Addr + " backlog=4096;", "listen " + n.H2CAddr + " http2 backlog=4096;", "ssl_protocols TLSv1.3;"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if resp, body := get(t, &http.Transport{}, n.URL("/nginx_status")); resp.StatusCode != 200 || !strings.HasPrefix(body, "Active connections:") {
		t.Errorf("status: %s %q", resp.Status, body)
	}
	h2 := &http.Transport{TLSClientConfig: n.Certs.ClientConfig(), ForceAttemptHTTP2: true}
	if resp, body := get(t, h2, n.TLSURL("/hello")); resp.ProtoMajor != 2 || body != "hello" {
		t.Errorf("TLS: %s %q", resp.Proto, body)
	}
	// ssl_protocols TLSv1.3: a TLS 1.2 client is refused.
	cfg := n.Certs.ClientConfig()
	cfg.MaxVersion = tls.VersionTLS12
	if c, err := tls.Dial("tcp", n.TLSAddr, cfg); err == nil {
		c.Close()
		t.Error("TLS 1.2 handshake succeeded with ssl_protocols TLSv1.3")
	}
	n.Stop()
	if _, err := os.Stat(n.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("folder left after Stop: %v", err)
	}
}

func TestLaunchNginxFailures(t *testing.T) {
	if _, err := LaunchNginx(NginxOptions{Binary: "/nonexistent/nginx"}); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("missing binary: %v", err)
	}
	RequireBinary(t, "nginx", "")
	t.Setenv("TMPDIR", t.TempDir())
	if _, err := LaunchNginx(NginxOptions{HTTP2: true}); err == nil || !strings.Contains(err.Error(), "needs TLS") {
		t.Errorf("HTTP2 without TLS: %v", err)
	}
	if _, err := LaunchNginx(NginxOptions{Locations: []string{"location = /bad { no_such_directive; }"}}); err == nil || !strings.Contains(err.Error(), "no_such_directive") {
		t.Errorf("bad configuration: %v", err)
	}
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("failed launches left %d folders", len(left))
	}
	t.Setenv("TMPDIR", "/nonexistent/tmp")
	if _, err := LaunchNginx(NginxOptions{}); err == nil {
		t.Error("launch without a temporary folder succeeded")
	}
}

func TestStartNghttpd(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("nghttpd ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsd := StartNghttpd(t, NghttpdOptions{Root: root, TLS: true})
	tr := &http.Transport{TLSClientConfig: SharedCerts(t).ClientConfig(), ForceAttemptHTTP2: true}
	if resp, body := get(t, tr, "https://"+tlsd.Addr+"/index.html"); resp.ProtoMajor != 2 || body != "nghttpd ok" {
		t.Errorf("TLS: %s %s %q", resp.Proto, resp.Status, body)
	}
	h2cd := StartNghttpd(t, NghttpdOptions{})
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	if resp, _ := get(t, h2c, "http://"+h2cd.Addr+"/missing"); resp.ProtoMajor != 2 || resp.StatusCode != http.StatusNotFound {
		t.Errorf("h2c: %s %s", resp.Proto, resp.Status)
	}
}

func TestTinyproxyConnectPorts(t *testing.T) {
	n := StartNginx(t, NginxOptions{TLS: true})
	_, allowed, _ := net.SplitHostPort(n.Addr)
	port, _ := strconv.Atoi(allowed)
	p := StartTinyproxy(t, TinyproxyOptions{ConnectPorts: []int{port}})
	tr := &http.Transport{Proxy: http.ProxyURL(p.URL()), TLSClientConfig: n.Certs.ClientConfig()}
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get(n.TLSURL("/hello")); err == nil {
		t.Error("CONNECT to a port not listed succeeded")
	}
}

func TestFreePortsFailure(t *testing.T) {
	old := listen
	listen = func() (net.Listener, error) { return nil, errors.New("no ports") }
	defer func() { listen = old }()
	fatal, _ := capture(t, func(tb testing.TB) { FreePort(tb) })
	if !strings.Contains(fatal, "no ports") {
		t.Errorf("fatal = %q", fatal)
	}
	if _, err := LaunchNginx(NginxOptions{Binary: "/bin/sh"}); err == nil || !strings.Contains(err.Error(), "no ports") {
		t.Errorf("LaunchNginx without ports: %v", err)
	}
}

func TestStartDanted(t *testing.T) {
	n := StartNginx(t, NginxOptions{})
	blocked := StartNginx(t, NginxOptions{})
	_, port, _ := net.SplitHostPort(blocked.Addr)
	bp, _ := strconv.Atoi(port)
	d := StartDanted(t, DantedOptions{Blocked: []int{bp}})
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "socks5", Host: d.Addr})}
	if resp, body := get(t, tr, n.URL("/hello")); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("through danted: %s %q", resp.Status, body)
	}
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get(blocked.URL("/hello")); err == nil {
		t.Error("a blocked port was reached")
	}
}
