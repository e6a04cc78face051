package protocols

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nginx is an nginx process started by a test, with its own config,
// certificate and free loopback ports.
type nginx struct {
	dir       string
	http      string // host:port, clear text, keepalive_timeout 60s
	https     string // host:port, TLS
	shortIdle string // host:port, clear text, keepalive_timeout 1s
	h2        string // host:port, TLS offering h2 by ALPN
	h2c       string // host:port, h2c with prior knowledge
	h2Goaway  string // host:port, TLS h2, GOAWAY after 5 requests
	h2cGoaway string // host:port, h2c, GOAWAY after 5 requests
	roots     *x509.CertPool
	cmd       *exec.Cmd
}

// bigSize is the size of the large static file.
const bigSize = 1 << 20

// midSize is the size of the medium static file, fetched by many
// concurrent streams at once.
const midSize = 64 << 10

// startNginx starts nginx for the test and stops it at cleanup. It skips
// the test when nginx is not installed, unless CI=true.
func startNginx(t testing.TB) *nginx {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx not installed (CI must run the interop suite): %v", err)
		}
		t.Skipf("nginx not installed: %v", err)
	}
	dir := t.TempDir()
	n := &nginx{dir: dir}
	for _, sub := range []string{"www", "www/up", "www/chunked", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	writeFile(t, filepath.Join(dir, "www", "big"), big)
	writeFile(t, filepath.Join(dir, "www", "mid"), big[:midSize])
	writeFile(t, filepath.Join(dir, "www", "hello"), []byte("hello"))
	writeFile(t, filepath.Join(dir, "www", "chunked", "big"), big)
	writeFile(t, filepath.Join(dir, "www", "chunked", "small"), []byte("chunked hello\n"))
	n.roots = writeCert(t, dir)
	// nginx's worker drops root for an unprivileged user, who must read
	// the files and write uploads and temporary bodies.
	for _, p := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "www"), filepath.Join(dir, "www", "chunked")} {
		os.Chmod(p, 0o755)
	}
	for _, p := range []string{filepath.Join(dir, "www", "up"), filepath.Join(dir, "tmp")} {
		os.Chmod(p, 0o777)
	}

	ports := freePorts(t, 7)
	n.http, n.https, n.shortIdle = ports[0], ports[1], ports[2]
	n.h2, n.h2c, n.h2Goaway, n.h2cGoaway = ports[3], ports[4], ports[5], ports[6]
	conf := fmt.Sprintf(nginxConf, dir, n.http, n.https, n.shortIdle, n.h2, n.h2c, n.h2Goaway, n.h2cGoaway)
	confPath := filepath.Join(dir, "nginx.conf")
	writeFile(t, confPath, []byte(conf))

	n.cmd = exec.Command(bin, "-p", dir, "-c", confPath, "-g", "daemon off;")
	n.cmd.Stdout = os.Stderr
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		n.cmd.Process.Signal(os.Interrupt) // fast shutdown (SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-exited
		}
	})
	// Wait until every port accepts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range ports {
		for {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Fatalf("nginx exited: %v\n%s", err, log)
			case <-ctx.Done():
				t.Fatalf("nginx did not listen on %s: %v", addr, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return n
}

const nginxConf = `
worker_processes 1;
error_log %[1]s/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    default_type application/octet-stream;
    keepalive_requests 1000000;
    client_max_body_size 16m;
    root %[1]s/www;

    server {
        listen %[2]s;
        listen %[3]s ssl;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        keepalive_timeout 60s;
        location = /hello { return 200 "hello"; }
        location = /empty { return 204; }
        location = /redirect { return 302 /hello; }
        location /up/ { dav_methods PUT DELETE; create_full_put_path on; }
        location /chunked/ { sub_filter 'never-present' 'x'; sub_filter_once off; sub_filter_types *; }
    }
    server {
        listen %[4]s;
        keepalive_timeout 1s;
        location = /hello { return 200 "hello"; }
    }
    server {
        listen %[5]s ssl http2;
        listen %[6]s http2;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        location = /hello { return 200 "hello"; }
        location /up/ { dav_methods PUT DELETE; create_full_put_path on; }
    }
    server {
        listen %[7]s ssl http2;
        listen %[8]s http2;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        keepalive_requests 5;
        location = /hello { return 200 "hello"; }
    }
}
`

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freePorts returns n loopback addresses whose ports were free a moment
// ago.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	var lns []net.Listener
	var addrs []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost
// into dir and returns a pool that trusts it.
func writeCert(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "transportkit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func (n *nginx) tlsConfig() *tls.Config { return &tls.Config{RootCAs: n.roots} }
