package protocols

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// h2server is an HTTP/2 origin for the HTTP/2 interop suite.
type h2server struct {
	name   string
	base   string      // https://host:port (h2 by ALPN) or http://host:port (h2c)
	tls    *tls.Config // for https
	goaway string      // base URL of the same server sending GOAWAY every 5 requests; "" if none
}

// testBackend opens a backend for a test.
type testBackend struct {
	name string
	open func(t *testing.T) transport.Backend
}

// realBackends are the backends that reach loopback servers: stdnet, and
// epoll where it is available.
func realBackends() []testBackend {
	return []testBackend{
		{stdnet.Name, func(t *testing.T) transport.Backend {
			b, err := stdnet.Open(transport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"epoll", func(t *testing.T) transport.Backend {
			if err := epoll.Available(); err != nil {
				t.Skipf("epoll unavailable: %v", err)
			}
			b, err := epoll.Open(transport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
}

// TestInteropH2 runs the HTTP/2 suite against nginx over TLS (h2 by
// ALPN) and h2c (prior knowledge), and against nghttpd, an HTTP/2-only
// server, over both, on every backend that can reach them.
func TestInteropH2(t *testing.T) {
	n := startNginx(t)
	nghttpdTLS := testenv.StartNghttpd(t, testenv.NghttpdOptions{Root: n.root, TLS: true, Certs: n.certs}).Addr
	nghttpdH2C := testenv.StartNghttpd(t, testenv.NghttpdOptions{Root: n.root}).Addr
	servers := []h2server{
		{name: "nginx-tls", base: "https://" + n.h2, tls: n.tlsConfig(), goaway: "https://" + n.h2Goaway},
		{name: "nginx-h2c", base: "http://" + n.h2c, goaway: "http://" + n.h2cGoaway},
		{name: "nghttpd-tls", base: "https://" + nghttpdTLS, tls: n.tlsConfig()},
		{name: "nghttpd-h2c", base: "http://" + nghttpdH2C},
	}
	for _, be := range realBackends() {
		t.Run(be.name, func(t *testing.T) {
			for _, srv := range servers {
				t.Run(srv.name, func(t *testing.T) {
					transporttest.VerifyNoLeaks(t)
					b := be.open(t)
					defer b.Close()
					runH2Suite(t, b, srv)
				})
			}
		})
	}
}

// TestInteropH2Mock runs the HTTP/2 suite on the mock backend, against
// net/http's server as a handler peer, over TLS and h2c.
func TestInteropH2Mock(t *testing.T) {
	for _, srv := range []h2server{
		{name: "tls", base: "https://web.test", tls: &tls.Config{RootCAs: mock.RootCAs()}},
		{name: "h2c", base: "http://web.test"},
	} {
		t.Run(srv.name, func(t *testing.T) {
			transporttest.VerifyNoLeaks(t)
			b := mock.New()
			defer b.Close()
			h := nginxLike()
			b.Handle("web.test:80", mock.HandlerPeer(h, mock.H2C))
			b.Handle("web.test:443", mock.TLSHandlerPeer(h, nil))
			runH2Suite(t, b, srv)
		})
	}
}

func runH2Suite(t *testing.T, b transport.Backend, srv h2server) {
	tr := &Transport{Backend: b, TLSClientConfig: srv.tls, H2C: srv.tls == nil}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	big := bigBody()

	get := func(url string) ([]byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			return nil, fmt.Errorf("GET %s: %s, want HTTP/2", url, resp.Proto)
		}
		if srv.tls != nil && (resp.TLS == nil || resp.TLS.NegotiatedProtocol != ProtoH2) {
			return nil, fmt.Errorf("GET %s: TLS state %+v, want ALPN h2", url, resp.TLS)
		}
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return data, err
	}

	t.Run("GET", func(t *testing.T) {
		data, err := get(srv.base + "/hello")
		if err != nil || string(data) != "hello" {
			t.Fatalf("%q %v", data, err)
		}
	})
	t.Run("404", func(t *testing.T) {
		resp, err := client.Get(srv.base + "/no-such-file")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.ProtoMajor != 2 {
			t.Errorf("%s %d", resp.Proto, resp.StatusCode)
		}
	})
	t.Run("1MiB download", func(t *testing.T) {
		data, err := get(srv.base + "/big")
		if err != nil || !bytes.Equal(data, big) {
			t.Fatalf("%d bytes, %v", len(data), err)
		}
	})
	t.Run("100 concurrent streams on one connection", func(t *testing.T) {
		if _, err := get(srv.base + "/hello"); err != nil {
			t.Fatal(err)
		}
		before := tr.Stats().Dials
		errs := make(chan error, 100)
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data, err := get(srv.base + "/mid")
				if err == nil && !bytes.Equal(data, big[:midSize]) {
					err = fmt.Errorf("body of %d bytes differs", len(data))
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
		if s := tr.Stats(); s.Dials != before || s.HTTP2 != 1 {
			t.Errorf("stats %+v, %d dials before: want one HTTP/2 connection", s, before)
		}
	})
	goaway := func(t *testing.T) {
		before := tr.Stats().Dials
		errs := make(chan error, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					data, err := get(srv.goaway + "/hello")
					if err == nil && string(data) != "hello" {
						err = fmt.Errorf("body %q", data)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// 160 requests, 5 per connection.
		if d := tr.Stats().Dials - before; d < 160/5 {
			t.Errorf("%d dials for 160 requests: the server's GOAWAY was not seen", d)
		}
	}
	if srv.goaway != "" {
		t.Run("GOAWAY every 5 requests", goaway)
	}
	tr.CloseIdleConnections()
	if s := tr.Stats(); s.Open != 0 || s.HTTP2 != 0 {
		t.Errorf("after CloseIdleConnections: %+v", s)
	}
}
