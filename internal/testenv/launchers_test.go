package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// get fetches url with tr and returns the response and its body.
func get(t *testing.T, tr *http.Transport, url string) (*http.Response, string) {
	t.Helper()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, string(b)
}

func TestStartNginx(t *testing.T) {
	n := StartNginx(t, NginxOptions{
		TLS: true, HTTP2: true, H2C: true, Gzip: true, AccessLog: true,
		KeepaliveRequests: 2,
		KeepaliveTimeout:  5 * time.Second,
		Files:             map[string][]byte{"dir/file.txt": []byte(strings.Repeat("file ", 100))},
		Locations:         []string{`location = /extra { return 200 "extra"; }`},
	})
	if n.Exited() || n.Pid() <= 0 {
		t.Fatalf("nginx exited at once (pid %d)", n.Pid())
	}
	plain := &http.Transport{DisableCompression: true}
	if resp, body := get(t, plain, n.URL("/hello")); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("/hello: %s %q", resp.Status, body)
	}
	if resp, body := get(t, plain, n.URL("/extra")); resp.StatusCode != 200 || body != "extra" {
		t.Errorf("/extra: %s %q", resp.Status, body)
	}
	// gzip on: a client asking for it gets it.
	req, _ := http.NewRequest("GET", n.URL("/dir/file.txt"), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := plain.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", ce)
	}
	// Transparent decompression by net/http gives the file back.
	if _, body := get(t, &http.Transport{}, n.URL("/dir/file.txt")); body != strings.Repeat("file ", 100) {
		t.Errorf("file: %q", body)
	}

	h2 := &http.Transport{TLSClientConfig: n.Certs.ClientConfig(), ForceAttemptHTTP2: true}
	if resp, body := get(t, h2, n.TLSURL("/hello")); resp.ProtoMajor != 2 || body != "hello" {
		t.Errorf("TLS: %s %s %q", resp.Proto, resp.Status, body)
	}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	if resp, body := get(t, h2c, n.H2CURL("/hello")); resp.ProtoMajor != 2 || body != "hello" {
		t.Errorf("h2c: %s %s %q", resp.Proto, resp.Status, body)
	}

	// keepalive_requests 2: the third request on one connection needs a
	// new one.
	c, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if i == 2 {
			if err == nil {
				t.Error("third request on one connection answered")
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := i == 1; resp.Close != want {
			t.Errorf("request %d: Close = %v, want %v", i+1, resp.Close, want)
		}
	}

	var log []AccessEntry
	Eventually(t, 5*time.Second, func() bool {
		log, err = n.AccessLog()
		return err == nil && len(log) >= 8
	})
	first := log[0]
	if first.Request != "GET /hello HTTP/1.1" || first.Status != 200 || first.Host != n.Addr || first.ConnectionRequests != 1 || first.BodyBytesSent != 5 {
		t.Errorf("first entry: %+v", first)
	}
	if e := log[2]; e.AcceptEncoding != "gzip" {
		t.Errorf("gzip request's entry: %+v", e)
	}
	last := log[len(log)-1]
	if last.ConnectionRequests != 2 || last.Connection != log[len(log)-2].Connection {
		t.Errorf("the raw connection's entries: %+v", log[len(log)-2:])
	}

	n.Stop()
	if !n.Exited() {
		t.Error("nginx still running after Stop")
	}
	n.Stop() // idempotent
}

func TestStartNginxKeepaliveOff(t *testing.T) {
	n := StartNginx(t, NginxOptions{KeepaliveTimeout: -1})
	if resp, _ := get(t, &http.Transport{}, n.URL("/hello")); !resp.Close {
		t.Error("keepalive_timeout 0: response does not close the connection")
	}
	if _, err := n.AccessLog(); err == nil {
		t.Error("AccessLog without NginxOptions.AccessLog succeeded")
	}
}

func TestStartNginxShortKeepalive(t *testing.T) {
	n := StartNginx(t, NginxOptions{KeepaliveTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(c) // nginx closes the idle connection
	if err != nil || !strings.HasSuffix(string(b), "hello") {
		t.Fatalf("read %q, %v", b, err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
}

func TestStartNginxFailures(t *testing.T) {
	fatal, _ := capture(t, func(tb testing.TB) { StartNginx(tb, NginxOptions{HTTP2: true}) })
	if !strings.Contains(fatal, "needs TLS") {
		t.Errorf("HTTP2 without TLS: %q", fatal)
	}
	fatal, _ = capture(t, func(tb testing.TB) {
		StartNginx(tb, NginxOptions{Locations: []string{"location = /bad { no_such_directive; }"}})
	})
	if !strings.Contains(fatal, "exited before listening") || !strings.Contains(fatal, "no_such_directive") {
		t.Errorf("bad configuration: %q", fatal)
	}
	t.Setenv("CI", "true")
	fatal, _ = capture(t, func(tb testing.TB) { StartNginx(tb, NginxOptions{Binary: "/nonexistent/nginx"}) })
	if !strings.Contains(fatal, "not installed") {
		t.Errorf("missing binary: %q", fatal)
	}
	fatal, _ = capture(t, func(tb testing.TB) {
		StartNginx(tb, NginxOptions{Files: map[string][]byte{"../../outside\x00": nil}})
	})
	if fatal == "" {
		t.Error("a file that cannot be written did not fail")
	}
}

func TestStartTinyproxy(t *testing.T) {
	n := StartNginx(t, NginxOptions{TLS: true})
	p := StartTinyproxy(t, TinyproxyOptions{})
	tr := &http.Transport{Proxy: http.ProxyURL(p.URL()), TLSClientConfig: n.Certs.ClientConfig()}
	resp, body := get(t, tr, n.URL("/hello"))
	if resp.StatusCode != 200 || body != "hello" || !strings.Contains(resp.Header.Get("Via"), "tinyproxy") {
		t.Errorf("through the proxy: %s %q Via %q", resp.Status, body, resp.Header.Get("Via"))
	}
	if resp, body := get(t, tr, n.TLSURL("/hello")); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("CONNECT: %s %q", resp.Status, body)
	}
	var reqs []string
	Eventually(t, 5*time.Second, func() bool {
		reqs, _ = p.Requests()
		return len(reqs) >= 2
	})
	want := []string{"GET " + n.URL("/hello") + " HTTP/1.1", "CONNECT " + n.TLSAddr + " HTTP/1.1"}
	if strings.Join(reqs, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests %q, want %q", reqs, want)
	}
	if p.URL().User != nil {
		t.Error("URL has credentials without a user")
	}
}

func TestStartTinyproxyAuth(t *testing.T) {
	n := StartNginx(t, NginxOptions{})
	p := StartTinyproxy(t, TinyproxyOptions{User: "alice", Password: "secret", DisableVia: true})
	if u := p.URL(); u.User.String() != "alice:secret" {
		t.Errorf("URL %v", u)
	}
	resp, body := get(t, &http.Transport{Proxy: http.ProxyURL(p.URL())}, n.URL("/hello"))
	if resp.StatusCode != 200 || body != "hello" || resp.Header.Get("Via") != "" {
		t.Errorf("with credentials: %s %q Via %q", resp.Status, body, resp.Header.Get("Via"))
	}
	anon := &url.URL{Scheme: "http", Host: p.Addr}
	if resp, _ := get(t, &http.Transport{Proxy: http.ProxyURL(anon)}, n.URL("/hello")); resp.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("without credentials: %s", resp.Status)
	}
	os.Remove(filepath.Join(p.Dir, "tinyproxy.log"))
	if _, err := p.Requests(); err == nil {
		t.Error("Requests without a log succeeded")
	}
}

func TestStartMicrosocks(t *testing.T) {
	n := StartNginx(t, NginxOptions{})
	for _, opts := range []MicrosocksOptions{{}, {User: "bob", Password: "pw"}} {
		m := StartMicrosocks(t, opts)
		for _, scheme := range []string{"socks5", "socks5h"} {
			u := m.URL(scheme)
			if u.Scheme != scheme || (opts.User != "") != (u.User != nil) {
				t.Errorf("URL %v", u)
			}
			resp, body := get(t, &http.Transport{Proxy: http.ProxyURL(u)}, n.URL("/hello"))
			if resp.StatusCode != 200 || body != "hello" {
				t.Errorf("%s %+v: %s %q", scheme, opts, resp.Status, body)
			}
		}
	}
}

func TestProcessStopKills(t *testing.T) {
	old := stopTimeout
	stopTimeout = 50 * time.Millisecond
	defer func() { stopTimeout = old }()
	sh := RequireBinary(t, "sh", "")
	dir := t.TempDir()
	// A program that ignores the stop signal is killed.
	p := command{name: "stubborn", bin: sh, args: []string{"-c", "trap '' TERM; while :; do sleep 0.01; done"}, dir: dir, stop: syscall.SIGTERM}.startTest(t)
	time.Sleep(50 * time.Millisecond) // let the trap be set
	start := time.Now()
	p.Stop()
	if !p.Exited() {
		t.Fatal("not reaped")
	}
	if d := time.Since(start); d < stopTimeout {
		t.Errorf("stopped after %v, before the stop timeout", d)
	}

	// One that exits at once fails a launcher waiting for its port.
	fatal, _ := capture(t, func(tb testing.TB) {
		command{name: "quitter", bin: sh, args: []string{"-c", "echo bye; exit 3"}, dir: t.TempDir(), stop: syscall.SIGTERM, addrs: []string{FreePort(t)}}.startTest(tb)
	})
	if !strings.Contains(fatal, "exited before listening") || !strings.Contains(fatal, "bye") {
		t.Errorf("early exit: %q", fatal)
	}
	fatal, _ = capture(t, func(tb testing.TB) {
		command{name: "missing", bin: "/nonexistent/program", dir: t.TempDir(), stop: syscall.SIGTERM}.startTest(tb)
	})
	if !strings.Contains(fatal, "start missing") {
		t.Errorf("missing program: %q", fatal)
	}
	fatal, _ = capture(t, func(tb testing.TB) {
		command{name: "nodir", bin: sh, dir: "/nonexistent/dir", stop: syscall.SIGTERM}.startTest(tb)
	})
	if fatal == "" {
		t.Error("a missing folder did not fail")
	}
}

func TestProcessNeverListens(t *testing.T) {
	old := startTimeout
	startTimeout = 200 * time.Millisecond
	defer func() { startTimeout = old }()
	sh := RequireBinary(t, "sh", "")
	dir := t.TempDir()
	logFile := filepath.Join(dir, "the.log")
	os.WriteFile(logFile, []byte("log line"), 0o644)
	fatal, _ := capture(t, func(tb testing.TB) {
		command{name: "silent", bin: sh, args: []string{"-c", "sleep 60"}, dir: dir, stop: syscall.SIGKILL, logFile: logFile, addrs: []string{FreePort(t)}}.startTest(tb)
	})
	if !strings.Contains(fatal, "not listening") || !strings.Contains(fatal, "log line") {
		t.Errorf("never listening: %q", fatal)
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	os.WriteFile(p, []byte(strings.Repeat("a", 5000)+"END"), 0o644)
	if s := tail(p); len(s) != 4096 || !strings.HasSuffix(s, "END") {
		t.Errorf("tail: %d bytes", len(s))
	}
	if s := tail(p + ".missing"); !strings.Contains(s, "no such file") {
		t.Errorf("tail of a missing file: %q", s)
	}
}
