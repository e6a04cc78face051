package h2

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
)

// TestInterop runs requests against nghttpd and nginx, over TLS and h2c.
// It skips when they are not installed, unless CI=true.
func TestInterop(t *testing.T) {
	const body = "interop ok\n"
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "index.html"), []byte(body), 0o644))
	files := map[string][]byte{"index.html": []byte(body)}
	servers := []struct {
		name  string
		tls   bool
		start func(t *testing.T) (addr string)
	}{
		{"nghttpd/tls", true, func(t *testing.T) string {
			return testenv.StartNghttpd(t, testenv.NghttpdOptions{Root: root, TLS: true}).Addr
		}},
		{"nghttpd/h2c", false, func(t *testing.T) string {
			return testenv.StartNghttpd(t, testenv.NghttpdOptions{Root: root}).Addr
		}},
		{"nginx/tls", true, func(t *testing.T) string {
			return testenv.StartNginx(t, testenv.NginxOptions{TLS: true, HTTP2: true, Files: files}).TLSAddr
		}},
		{"nginx/h2c", false, func(t *testing.T) string {
			return testenv.StartNginx(t, testenv.NginxOptions{H2C: true, Files: files}).H2CAddr
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			addr := srv.start(t)
			_, port, _ := net.SplitHostPort(addr)
			be := openBackend(t, stdnet.Name)
			// The servers present testenv's certificate.
			cfg := testenv.SharedCerts(t).ClientConfig()
			cfg.ServerName, cfg.NextProtos = "localhost", []string{NextProtoTLS}
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
					got, resp, err := get(testContext(t), c, scheme+"://localhost:"+port+"/index.html")
					if err == nil && (resp.StatusCode != http.StatusOK || got != body) {
						err = fmt.Errorf("got %s %q", resp.Status, got)
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
