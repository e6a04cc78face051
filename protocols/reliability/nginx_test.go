package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// nginx is an nginx process started by a test: HTTP/1.1 in clear text on
// one port, TLS with h2 (and http/1.1) by ALPN on another, both closing
// connections idle for a second and ending each after five requests
// (Connection: close over HTTP/1.1, GOAWAY over HTTP/2). GET /hello
// answers "hello", POST /post answers "ok".
type nginx struct {
	plain, secure string
}

// startNginx starts nginx for t and stops it when t ends. It skips t
// when nginx is not installed, unless CI=true.
func startNginx(t testing.TB, p *pki) nginx {
	t.Helper()
	bin, err := lookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx not installed (CI must run the soak): %v", err)
		}
		t.Skipf("nginx not installed: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	// nginx's worker drops root for an unprivileged user, who must reach
	// the certificate and write request bodies.
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o777)
	if _, _, err := p.writeFiles(dir); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	n := nginx{plain: ports[0], secure: ports[1]}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, n.plain, n.secure), 0o644); err != nil {
		t.Fatal(err)
	}
	startProc(t, false, ports, bin, "-p", dir, "-c", conf, "-g", "daemon off;")
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
    default_type text/plain;
    keepalive_timeout 1s;
    keepalive_requests 5;
    server {
        listen %[2]s;
        location = /hello { return 200 "hello"; }
        location = /post { return 200 "ok"; }
    }
    server {
        listen %[3]s ssl http2;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        location = /hello { return 200 "hello"; }
        location = /post { return 200 "ok"; }
    }
}
`
