package testenv

import (
	"bufio"
	"bytes"
	_ "embed"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
)

//go:embed testdata/tinyproxy.conf.tmpl
var tinyproxyTemplate string

var tinyproxyConf = template.Must(template.New("tinyproxy.conf").Parse(tinyproxyTemplate))

// TinyproxyOptions configure StartTinyproxy. The zero value is an open
// HTTP proxy (plain requests and CONNECT to any port) for loopback
// clients.
type TinyproxyOptions struct {
	// Binary is the tinyproxy program. If empty, tinyproxy on PATH or in
	// an sbin folder.
	Binary string
	// User and Password, if User is set, make the proxy require Basic
	// authentication (Proxy-Authorization), answering 407 without it.
	User, Password string
	// DisableVia stops the proxy from adding a Via header. If false,
	// requests and responses it forwards carry "Via: 1.1 tinyproxy
	// (tinyproxy/VERSION)".
	DisableVia bool
}

// Tinyproxy is a tinyproxy started by StartTinyproxy.
type Tinyproxy struct {
	*Process
	// Addr is where it listens (127.0.0.1:PORT).
	Addr string
	opts TinyproxyOptions
}

// StartTinyproxy starts tinyproxy for the test (see the package doc for
// what every launcher does).
func StartTinyproxy(t testing.TB, opts TinyproxyOptions) *Tinyproxy {
	t.Helper()
	bin := RequireBinary(t, "tinyproxy", opts.Binary)
	dir := t.TempDir()
	addr := FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "tinyproxy.conf")
	writeTemplate(t, conf, tinyproxyConf, struct {
		TinyproxyOptions
		Dir, Port string
	}{opts, dir, port})
	log := filepath.Join(dir, "tinyproxy.log")
	p := startProcess(t, "tinyproxy", bin, []string{"-d", "-c", conf}, dir, syscall.SIGTERM, log, addr)
	return &Tinyproxy{Process: p, Addr: addr, opts: opts}
}

// URL returns the proxy's URL, http://[user:password@]127.0.0.1:PORT,
// with the credentials of the options.
func (p *Tinyproxy) URL() *url.URL {
	u := &url.URL{Scheme: "http", Host: p.Addr}
	if p.opts.User != "" {
		u.User = url.UserPassword(p.opts.User, p.opts.Password)
	}
	return u
}

// Requests returns the request lines the proxy received so far, in
// order, from its log: "GET http://127.0.0.1:8080/hello HTTP/1.1",
// "CONNECT 127.0.0.1:8443 HTTP/1.1". A request refused for missing
// credentials is listed too. tinyproxy logs a request as soon as it
// has read its line.
func (p *Tinyproxy) Requests() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(p.Dir, "tinyproxy.log"))
	if err != nil {
		return nil, err
	}
	var reqs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		_, after, ok := strings.Cut(sc.Text(), "]: Request (file descriptor ")
		if !ok {
			continue
		}
		if _, line, ok := strings.Cut(after, "): "); ok {
			reqs = append(reqs, line)
		}
	}
	return reqs, sc.Err()
}

// MicrosocksOptions configure StartMicrosocks. The zero value is a SOCKS5
// proxy without authentication.
type MicrosocksOptions struct {
	// Binary is the microsocks program. If empty, microsocks on PATH or
	// in an sbin folder.
	Binary string
	// User and Password, if User is set, make the proxy require RFC 1929
	// username/password authentication.
	User, Password string
}

// Microsocks is a microsocks started by StartMicrosocks.
type Microsocks struct {
	*Process
	// Addr is where it listens (127.0.0.1:PORT).
	Addr string
	opts MicrosocksOptions
}

// StartMicrosocks starts microsocks for the test (see the package doc
// for what every launcher does; microsocks has no configuration file,
// only arguments).
func StartMicrosocks(t testing.TB, opts MicrosocksOptions) *Microsocks {
	t.Helper()
	bin := RequireBinary(t, "microsocks", opts.Binary)
	dir := t.TempDir()
	addr := FreePort(t)
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-i", host, "-p", port}
	if opts.User != "" {
		args = append(args, "-u", opts.User, "-P", opts.Password)
	}
	p := startProcess(t, "microsocks", bin, args, dir, syscall.SIGTERM, "", addr)
	return &Microsocks{Process: p, Addr: addr, opts: opts}
}

// URL returns the proxy's URL with scheme (socks5, or socks5h for names
// resolved by the proxy) and the credentials of the options.
func (m *Microsocks) URL(scheme string) *url.URL {
	u := &url.URL{Scheme: scheme, Host: m.Addr}
	if m.opts.User != "" {
		u.User = url.UserPassword(m.opts.User, m.opts.Password)
	}
	return u
}
