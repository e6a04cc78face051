package testenv

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

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
	// ConnectPorts are the only ports CONNECT may reach (others are
	// refused with 403). If empty, every port.
	ConnectPorts []int
}

// Server is a program that a launcher started, listening on one
// address.
type Server struct {
	*Process
	// Addr is where it listens (127.0.0.1:PORT).
	Addr string
}

// Tinyproxy is a tinyproxy started by StartTinyproxy.
type Tinyproxy struct {
	Server
	user *url.Userinfo
}

// StartTinyproxy starts tinyproxy for the test (see the package doc for
// what every launcher does).
func StartTinyproxy(t testing.TB, opts TinyproxyOptions) *Tinyproxy {
	t.Helper()
	srv := startServer(t, "tinyproxy", opts.Binary, func(dir, host, port string) []string {
		conf := filepath.Join(dir, "tinyproxy.conf")
		if err := writeTemplate(conf, struct {
			TinyproxyOptions
			Dir, Port string
		}{opts, dir, port}); err != nil {
			t.Fatal(err)
		}
		return []string{"-d", "-c", conf}
	})
	return &Tinyproxy{Server: srv, user: userinfo(opts.User, opts.Password)}
}

// URL returns the proxy's URL, http://[user:password@]127.0.0.1:PORT,
// with the credentials of the options.
func (p *Tinyproxy) URL() *url.URL {
	return &url.URL{Scheme: "http", Host: p.Addr, User: p.user}
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
	Server
	user *url.Userinfo
}

// StartMicrosocks starts microsocks for the test (see the package doc
// for what every launcher does; microsocks has no configuration file,
// only arguments).
func StartMicrosocks(t testing.TB, opts MicrosocksOptions) *Microsocks {
	t.Helper()
	srv := startServer(t, "microsocks", opts.Binary, func(dir, host, port string) []string {
		args := []string{"-i", host, "-p", port}
		if opts.User != "" {
			args = append(args, "-u", opts.User, "-P", opts.Password)
		}
		return args
	})
	return &Microsocks{Server: srv, user: userinfo(opts.User, opts.Password)}
}

// URL returns the proxy's URL with scheme (socks5, or socks5h for names
// resolved by the proxy) and the credentials of the options.
func (m *Microsocks) URL(scheme string) *url.URL {
	return &url.URL{Scheme: scheme, Host: m.Addr, User: m.user}
}

// startServer starts the program name (bin if set) for t on a free
// loopback port, with the arguments args returns for its folder and
// address; its log, if any, is NAME.log in the folder.
func startServer(t testing.TB, name, bin string, args func(dir, host, port string) []string) Server {
	t.Helper()
	bin = RequireBinary(t, name, bin)
	dir := t.TempDir()
	addr := FreePort(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := command{
		name: name, bin: bin, args: args(dir, host, port), dir: dir,
		stop: syscall.SIGTERM, logFile: filepath.Join(dir, name+".log"), addrs: []string{addr},
	}
	return Server{Process: cmd.startTest(t), Addr: addr}
}

// userinfo returns the credentials of a proxy URL: nil without a user.
func userinfo(user, password string) *url.Userinfo {
	if user == "" {
		return nil
	}
	return url.UserPassword(user, password)
}

// NghttpdOptions configure StartNghttpd. The zero value serves an empty
// folder over h2c (HTTP/2 with prior knowledge).
type NghttpdOptions struct {
	// Binary is the nghttpd program. If empty, nghttpd on PATH or in an
	// sbin folder.
	Binary string
	// Root is the folder it serves. If empty, an empty folder.
	Root string
	// TLS serves over TLS (h2 by ALPN) with the server certificate of
	// Certs. If false, h2c with prior knowledge.
	TLS bool
	// Certs signs the TLS certificate. If nil, SharedCerts.
	Certs *Certs
	// Cert, if it holds a certificate, is served over TLS instead of
	// the server certificate of Certs (for a client that trusts another
	// CA).
	Cert tls.Certificate
}

// StartNghttpd starts nghttpd, nghttp2's HTTP/2-only server, for the
// test (see the package doc for what every launcher does; nghttpd has no
// configuration file, only arguments).
func StartNghttpd(t testing.TB, opts NghttpdOptions) Server {
	t.Helper()
	return startServer(t, "nghttpd", opts.Binary, func(dir, host, port string) []string {
		root := opts.Root
		if root == "" {
			root = dir
		}
		args := []string{"-d", root, "--address=" + host, port}
		if !opts.TLS {
			return append([]string{"--no-tls"}, args...)
		}
		cert := opts.Cert
		if len(cert.Certificate) == 0 {
			if opts.Certs == nil {
				opts.Certs = SharedCerts(t)
			}
			cert = opts.Certs.Server
		}
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := WriteKeyPair(cert, certFile, keyFile, 0o600); err != nil {
			t.Fatal(err)
		}
		return append(args, keyFile, certFile)
	})
}

// DantedOptions configure StartDanted. The zero value is a SOCKS5 proxy
// without authentication that connects loopback clients to any loopback
// port.
type DantedOptions struct {
	// Binary is the danted program. If empty, danted on PATH or in an
	// sbin folder.
	Binary string
	// Blocked are loopback ports the proxy refuses to connect to (a
	// SOCKS5 "not allowed by ruleset" reply).
	Blocked []int
}

// StartDanted starts Dante's SOCKS server (one process) for the test
// (see the package doc for what every launcher does). Its URL is
// socks5://ADDR.
func StartDanted(t testing.TB, opts DantedOptions) Server {
	t.Helper()
	return startServer(t, "danted", opts.Binary, func(dir, host, port string) []string {
		conf := filepath.Join(dir, "danted.conf")
		if err := writeTemplate(conf, struct {
			DantedOptions
			Port string
			Root bool
		}{opts, port, os.Geteuid() == 0}); err != nil {
			t.Fatal(err)
		}
		return []string{"-f", conf, "-p", filepath.Join(dir, "danted.pid"), "-N", "1"}
	})
}
