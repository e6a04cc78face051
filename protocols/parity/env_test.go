package parity

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/transport"
)

// env holds the servers and backends of one TestParity run.
type env struct {
	certs *testenv.Certs
	rec   *recorder

	goH1, goTLS, goH2C string // Go servers: clear-text HTTP/1.1, TLS (h2 and http/1.1), h2c
	nginx              *testenv.Nginx
	tinyproxy          *testenv.Tinyproxy
	authProxy          *testenv.Tinyproxy // tinyproxy requiring alice:secret
	httpsProxy         *testenv.TLSRelay  // TLS in front of tinyproxy
	socks              *testenv.Microsocks

	backends []*backend
	roles    map[string]string // address -> role name, for trace events
}

// backend is a candidate backend under protocols.Transport.
type backend struct {
	name string
	// open returns the backend of one run, and whether it can reach the
	// variant's server; mock reaches only the Go servers, through
	// handler peers.
	open func(t *testing.T, v *variant) (transport.Backend, bool)
}

// startEnv starts everything the suite talks to.
func startEnv(t *testing.T) *env {
	e := &env{certs: testenv.SharedCerts(t), rec: newRecorder(), roles: map[string]string{}}
	h := e.rec.handler()
	e.goH1 = serveGo(t, h, nil, protocolsOf(true, false, false))
	e.goTLS = serveGo(t, h, e.certs.ServerConfig("h2", "http/1.1"), protocolsOf(true, true, false))
	e.goH2C = serveGo(t, h, nil, protocolsOf(false, false, true))
	e.nginx = testenv.StartNginx(t, testenv.NginxOptions{
		TLS: true, HTTP2: true, Gzip: true, AccessLog: true,
		Files: map[string][]byte{
			"hello": []byte("hello"),
			"big":   bigBody,
			"gzip":  []byte(textFile),
		},
		Locations: []string{
			// Every run's prefix maps to the same files.
			`location ~ ^/r/[^/]+/(.*)$ { try_files /$1 @named; }`,
			`location @named { return 404; }`,
		},
	})
	e.tinyproxy = testenv.StartTinyproxy(t, testenv.TinyproxyOptions{})
	e.authProxy = testenv.StartTinyproxy(t, testenv.TinyproxyOptions{User: "alice", Password: "secret"})
	e.httpsProxy = testenv.StartTLSRelay(t, e.tinyproxy.Addr, nil)
	e.socks = testenv.StartMicrosocks(t, testenv.MicrosocksOptions{})
	for addr, role := range map[string]string{
		e.goH1: "go-h1", e.goTLS: "go-tls", e.goH2C: "go-h2c",
		e.nginx.Addr: "nginx", e.nginx.TLSAddr: "nginx-tls",
		e.tinyproxy.Addr: "tinyproxy", e.authProxy.Addr: "tinyproxy-auth",
		e.httpsProxy.Addr: "https-proxy", e.socks.Addr: "microsocks",
	} {
		e.roles[addr] = role
	}
	e.backends = []*backend{
		{name: "stdnet", open: shared(t, func() (transport.Backend, error) { return stdnet.Open(transport.Options{}) })},
		{name: "epoll", open: shared(t, func() (transport.Backend, error) {
			if err := epoll.Available(); err != nil {
				return nil, err
			}
			return epoll.Open(transport.Options{})
		})},
		{name: "mock", open: e.mockBackend},
		{name: "plugin", open: shared(t, func() (transport.Backend, error) {
			path, err := buildPlugin()
			if err != nil {
				return nil, err
			}
			return plugins.Open(plugins.Plugin{Name: "paritynet", Path: path}, transport.Options{})
		})},
	}
	return e
}

// textFile is nginx's compressible file.
var textFile = func() string {
	var b []byte
	for range 100 {
		b = append(b, "nginx text, gzip me. "...)
	}
	return string(b)
}()

// protocolsOf returns a server's protocols.
func protocolsOf(h1, h2, h2c bool) *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(h1)
	p.SetHTTP2(h2)
	p.SetUnencryptedHTTP2(h2c)
	return &p
}

// serveGo serves h on a loopback port (over TLS when cfg is set) until
// the test ends, and returns its address.
func serveGo(t *testing.T, h http.Handler, cfg *tls.Config, protos *http.Protocols) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, Protocols: protos, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if cfg != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// shared opens a backend once per TestParity and closes it at the end;
// it reaches every server. An unavailable backend skips its runs.
func shared(t *testing.T, open func() (transport.Backend, error)) func(*testing.T, *variant) (transport.Backend, bool) {
	var once sync.Once
	var b transport.Backend
	var err error
	return func(rt *testing.T, _ *variant) (transport.Backend, bool) {
		once.Do(func() {
			b, err = open()
			if err == nil {
				t.Cleanup(func() { b.Close() })
			}
		})
		if err != nil {
			if testenv.CI() {
				rt.Fatalf("backend: %v", err)
			}
			rt.Skipf("backend: %v", err)
		}
		return b, true
	}
}

// mockBackend returns a fresh mock backend whose handler peers serve the
// Go handler at the Go servers' addresses. Other servers are not
// reachable (false).
func (e *env) mockBackend(t *testing.T, v *variant) (transport.Backend, bool) {
	if !v.goServer() || v.proxy != "" {
		return nil, false
	}
	b := mock.New()
	t.Cleanup(func() { b.Close() })
	h := e.rec.handler()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, _ := net.SplitHostPort(e.goH1)
		b.Handle(net.JoinHostPort(host, port), mock.HandlerPeer(h, mock.HTTP1))
		_, port, _ = net.SplitHostPort(e.goTLS)
		b.Handle(net.JoinHostPort(host, port), mock.TLSHandlerPeer(h, e.certs.ServerConfig("h2", "http/1.1")))
		_, port, _ = net.SplitHostPort(e.goH2C)
		b.Handle(net.JoinHostPort(host, port), mock.HandlerPeer(h, mock.H2C))
	}
	return b, true
}

// pluginBuild is the plugin build; dir is the directory TestMain gives.
var pluginBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildPlugin builds testdata/netplugin once per test binary.
func buildPlugin() (string, error) {
	b := &pluginBuild
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		b.path, b.err = pluginstest.Build(ctx, "./testdata/netplugin", "paritynet", b.dir)
	})
	return b.path, b.err
}
