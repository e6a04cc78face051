package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NginxOptions configure StartNginx. The zero value is one clear-text
// HTTP/1.1 listener with nginx's defaults.
type NginxOptions struct {
	// Binary is the nginx program. If empty, nginx on PATH or in an sbin
	// folder.
	Binary string

	// TLS adds a listener over TLS (Nginx.TLSAddr) with a certificate of
	// Certs.
	TLS bool
	// HTTP2 offers h2 by ALPN on the TLS listener (with http/1.1). It
	// needs TLS.
	HTTP2 bool
	// H2C adds a clear-text listener that speaks HTTP/2 with prior
	// knowledge only (Nginx.H2CAddr).
	H2C bool

	// KeepaliveTimeout is nginx's keepalive_timeout, rounded to
	// milliseconds. If zero, 60 s; if negative, keep-alive is off.
	KeepaliveTimeout time.Duration
	// KeepaliveRequests is nginx's keepalive_requests: requests per
	// connection (HTTP/1.1) before it is closed, or before GOAWAY
	// (HTTP/2). If zero, 1,000,000.
	KeepaliveRequests int

	// Gzip turns gzip on for every type and size (gzip_min_length 1).
	// If false, gzip is off.
	Gzip bool

	// AccessLog writes an access log that Nginx.AccessLog reads. If
	// false, there is none.
	AccessLog bool

	// Locations are added to the server block as they are, after the
	// built-in ones (/hello: 200 "hello", /empty: 204, /redirect: 302 to
	// /hello, /up/: PUT and DELETE).
	Locations []string

	// Files are written under the document root, by path relative to
	// it ("big", "dir/file"), before nginx starts.
	Files map[string][]byte

	// WorkerConnections is nginx's worker_connections: connections open
	// at once, clients' and upstreams'. If zero, 4096.
	WorkerConnections int
	// RlimitNofile is nginx's worker_rlimit_nofile, the worker's limit
	// of open files, for WorkerConnections above the inherited limit. If
	// zero, the worker keeps the limit it inherits.
	RlimitNofile int
	// Backlog is the listen queue of every listener (listen's backlog).
	// If zero, nginx's default (511).
	Backlog int
	// SSLProtocols is nginx's ssl_protocols ("TLSv1.3"). If empty,
	// nginx's default.
	SSLProtocols string

	// Certs signs the TLS listener's certificate. If nil, SharedCerts
	// (StartNginx) or a new NewCerts (LaunchNginx).
	Certs *Certs
}

// Nginx is an nginx started by StartNginx or LaunchNginx.
type Nginx struct {
	*Process
	// Addr is the clear-text HTTP/1.1 listener (127.0.0.1:PORT).
	Addr string
	// TLSAddr is the TLS listener, if NginxOptions.TLS.
	TLSAddr string
	// H2CAddr is the HTTP/2 prior-knowledge listener, if NginxOptions.H2C.
	H2CAddr string
	// Root is the document root.
	Root string
	// Certs signed the TLS listener's certificate.
	Certs *Certs
	// PEM are the certificate files the TLS listener uses (the CA's
	// included), for other servers of the test.
	PEM PEMFiles
}

// nginxData fills the template.
type nginxData struct {
	NginxOptions
	Dir, Addr, TLSAddr, H2CAddr string
	PEM                         PEMFiles
	KeepaliveTimeout            string
}

// StartNginx starts nginx for the test (see the package doc for what
// every launcher does). nginx's worker drops root for an unprivileged
// user, so the folder is made readable and the upload and temporary
// folders writable by everyone.
func StartNginx(t testing.TB, opts NginxOptions) *Nginx {
	t.Helper()
	bin := RequireBinary(t, "nginx", opts.Binary)
	if opts.Certs == nil {
		opts.Certs = SharedCerts(t)
	}
	n, cmd, err := prepareNginx(bin, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n.Process = cmd.startTest(t)
	return n
}

// LaunchNginx starts nginx as StartNginx does, for programs that are not
// tests (the bench module): in a new temporary folder, which Stop
// removes. The caller must call Stop. A missing nginx is an error
// matching ErrNotInstalled.
func LaunchNginx(opts NginxOptions) (*Nginx, error) {
	bin, err := LookBinary("nginx", opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.Certs == nil {
		if opts.Certs, err = NewCerts(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "testenv-nginx-")
	if err != nil {
		return nil, err
	}
	n, cmd, err := prepareNginx(bin, dir, opts)
	if err == nil {
		n.Process, err = cmd.start(nil)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n.removeDir = true
	return n, nil
}

// prepareNginx writes nginx's folder into dir (files, certificate and
// configuration, with free ports) and returns the command that runs it.
func prepareNginx(bin, dir string, opts NginxOptions) (*Nginx, command, error) {
	if opts.HTTP2 && !opts.TLS {
		return nil, command{}, errors.New("testenv: NginxOptions.HTTP2 needs TLS (use H2C for clear text)")
	}
	n := &Nginx{Root: filepath.Join(dir, "www"), Certs: opts.Certs}
	for _, sub := range []string{"www", "www/up", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, command{}, err
		}
	}
	for name, data := range opts.Files {
		p := filepath.Join(n.Root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, command{}, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, command{}, err
		}
	}
	var err error
	if n.PEM, err = n.Certs.WritePEMFiles(dir); err != nil {
		return nil, command{}, err
	}
	// The worker's user must reach the folder and read the files; it
	// writes uploads and request bodies.
	for _, p := range []string{filepath.Dir(dir), dir} {
		os.Chmod(p, 0o755)
	}
	filepath.WalkDir(n.Root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	for _, p := range []string{filepath.Join(n.Root, "up"), filepath.Join(dir, "tmp")} {
		os.Chmod(p, 0o777)
	}

	ports, err := freePorts(3)
	if err != nil {
		return nil, command{}, err
	}
	n.Addr = ports[0]
	addrs := []string{n.Addr}
	if opts.TLS {
		n.TLSAddr = ports[1]
		addrs = append(addrs, n.TLSAddr)
	}
	if opts.H2C {
		n.H2CAddr = ports[2]
		addrs = append(addrs, n.H2CAddr)
	}
	data := nginxData{
		NginxOptions: opts,
		Dir:          dir, Addr: n.Addr, TLSAddr: n.TLSAddr, H2CAddr: n.H2CAddr,
		PEM:              n.PEM,
		KeepaliveTimeout: "60s",
	}
	switch {
	case opts.KeepaliveTimeout < 0:
		data.KeepaliveTimeout = "0"
	case opts.KeepaliveTimeout > 0:
		data.KeepaliveTimeout = fmt.Sprintf("%dms", max(opts.KeepaliveTimeout.Milliseconds(), 1))
	}
	if data.KeepaliveRequests == 0 {
		data.KeepaliveRequests = 1_000_000
	}
	if data.WorkerConnections == 0 {
		data.WorkerConnections = 4096
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := writeTemplate(conf, data); err != nil {
		return nil, command{}, err
	}
	errorLog := filepath.Join(dir, "error.log")
	return n, command{
		name: "nginx", bin: bin,
		args: []string{"-p", dir, "-e", errorLog, "-c", conf, "-g", "daemon off;"},
		dir:  dir, stop: syscall.SIGTERM, logFile: errorLog, addrs: addrs,
	}, nil
}

// URL returns the http URL of path on the clear-text listener.
func (n *Nginx) URL(path string) string { return "http://" + n.Addr + path }

// TLSURL returns the https URL of path on the TLS listener.
func (n *Nginx) TLSURL(path string) string { return "https://" + n.TLSAddr + path }

// H2CURL returns the http URL of path on the h2c listener.
func (n *Nginx) H2CURL(path string) string { return "http://" + n.H2CAddr + path }

// AccessEntry is one line of nginx's access log.
type AccessEntry struct {
	// Request is the request line ("GET /hello HTTP/1.1").
	Request string `json:"request"`
	// Status is the response's status code.
	Status int `json:"status"`
	// Host is the Host header (or :authority).
	Host string `json:"host"`
	// Connection is nginx's serial number of the connection; requests on
	// one connection share it.
	Connection int64 `json:"connection"`
	// ConnectionRequests counts the requests on that connection so far,
	// this one included.
	ConnectionRequests int `json:"connection_requests"`
	// Request headers, empty when absent.
	AcceptEncoding   string `json:"accept_encoding"`
	ConnectionHeader string `json:"connection_header"`
	ContentLength    string `json:"content_length"`
	TransferEncoding string `json:"transfer_encoding"`
	UserAgent        string `json:"user_agent"`
	// BodyBytesSent is the size of the response body sent.
	BodyBytesSent int64 `json:"body_bytes_sent"`
}

// AccessLog returns the access log's entries so far (NginxOptions.AccessLog
// must be set). nginx writes an entry when a request ends, which can be
// just after the client read the response: wait with Eventually for
// the entries a test expects.
func (n *Nginx) AccessLog() ([]AccessEntry, error) {
	b, err := os.ReadFile(filepath.Join(n.Dir, "access.log"))
	if err != nil {
		return nil, err
	}
	var entries []AccessEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e AccessEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("testenv: nginx access log line %q: %w", line, err)
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}
