package h2

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
)

// TestInterop runs requests against nghttpd and nginx, over TLS and h2c,
// when they are installed (Debian packages nghttp2-server and nginx);
// otherwise it skips.
func TestInterop(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	must(t, os.Mkdir(root, 0o755))
	must(t, os.WriteFile(filepath.Join(root, "index.html"), []byte("interop ok\n"), 0o644))
	cert, key := writeCert(t, dir)

	servers := []struct {
		name string
		bin  string
		tls  bool
		args func(port string) []string
	}{
		{"nghttpd/tls", "nghttpd", true, func(port string) []string {
			return []string{"-d", root, "--address=127.0.0.1", port, key, cert}
		}},
		{"nghttpd/h2c", "nghttpd", false, func(port string) []string {
			return []string{"--no-tls", "-d", root, "--address=127.0.0.1", port}
		}},
		{"nginx/tls", "nginx", true, func(port string) []string {
			return nginxArgs(t, dir, root, fmt.Sprintf("listen 127.0.0.1:%s ssl http2; ssl_certificate %s; ssl_certificate_key %s;", port, cert, key))
		}},
		{"nginx/h2c", "nginx", false, func(port string) []string {
			return nginxArgs(t, dir, root, fmt.Sprintf("listen 127.0.0.1:%s http2;", port))
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			bin, err := exec.LookPath(srv.bin)
			if err != nil {
				bin, err = exec.LookPath("/usr/sbin/" + srv.bin)
			}
			if err != nil {
				t.Skipf("%s not installed", srv.bin)
			}
			port := freePort(t)
			addr := net.JoinHostPort("127.0.0.1", port)
			startServer(t, bin, srv.args(port), addr)
			be := openBackend(t, stdnet.Name)
			cfg := tlsConfig()
			scheme := "https"
			if !srv.tls {
				cfg, scheme = nil, "http"
			}
			c := startConn(t, dialWith(t, be, addr, cfg), Options{})
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, resp, err := get(testContext(t), c, scheme+"://localhost:"+port+"/index.html")
					if err == nil && (resp.StatusCode != http.StatusOK || body != "interop ok\n") {
						err = fmt.Errorf("got %s %q", resp.Status, body)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Ping(testContext(t)); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if st := c.State(); st.MaxConcurrent < 100 || st.Active != 0 {
				t.Fatalf("State = %+v", st)
			}
			if err := c.Shutdown(testContext(t)); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeCert writes the mock backend's test certificate and key as PEM
// files in dir.
func writeCert(t testing.TB, dir string) (certFile, keyFile string) {
	c := mock.ServerTLSConfig().Certificates[0]
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	must(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return certFile, keyFile
}

// nginxArgs writes a one-server nginx configuration under dir and returns
// the arguments that run it in the foreground.
func nginxArgs(t testing.TB, dir, root, listen string) []string {
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s;
	proxy_temp_path %[1]s;
	fastcgi_temp_path %[1]s;
	uwsgi_temp_path %[1]s;
	scgi_temp_path %[1]s;
	server { %[2]s root %[3]s; }
}
`, dir, listen, root)
	file := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(file, []byte(conf), 0o644))
	return []string{"-e", "stderr", "-p", dir, "-c", file}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// startServer runs bin with args until the end of the test, once addr
// accepts connections.
func startServer(t testing.TB, bin string, args []string, addr string) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	deadline := time.Now().Add(testTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("%s exited before listening (run with -v for its output): %v", bin, werr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start listening on %s: %v", bin, addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
