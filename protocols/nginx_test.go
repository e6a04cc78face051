package protocols

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
)

// nginx is the nginx servers of the interop suites, each a testenv.Nginx
// with its own keep-alive settings: the same files, certificate and
// built-in locations (/hello, /empty, /redirect, /up/).
type nginx struct {
	root      string // the document root of main and h2: big, mid, hello, chunked/
	http      string // host:port, clear text, keepalive_timeout 60s
	https     string // host:port, TLS (http/1.1 only)
	shortIdle string // host:port, clear text, keepalive_timeout 1s
	h2        string // host:port, TLS offering h2 by ALPN
	h2c       string // host:port, h2c with prior knowledge
	h2Goaway  string // host:port, TLS h2, GOAWAY after 5 requests
	h2cGoaway string // host:port, h2c, GOAWAY after 5 requests
	certs     *testenv.Certs
}

// bigSize is the size of the large static file.
const bigSize = 1 << 20

// midSize is the size of the medium static file, fetched by many
// concurrent streams at once.
const midSize = 64 << 10

// startNginx starts the nginx servers for the test and stops them at
// cleanup. It skips the test when nginx is not installed, unless
// CI=true.
func startNginx(t testing.TB) *nginx {
	t.Helper()
	big := bigBody()
	files := map[string][]byte{
		"big":           big,
		"mid":           big[:midSize],
		"hello":         []byte("hello"),
		"chunked/big":   big,
		"chunked/small": []byte("chunked hello\n"),
	}
	www := testenv.StartNginx(t, testenv.NginxOptions{
		TLS: true, Files: files,
		// sub_filter makes nginx send these files chunked.
		Locations: []string{`location /chunked/ { sub_filter 'never-present' 'x'; sub_filter_once off; sub_filter_types *; }`},
	})
	shortIdle := testenv.StartNginx(t, testenv.NginxOptions{KeepaliveTimeout: time.Second})
	h2 := testenv.StartNginx(t, testenv.NginxOptions{TLS: true, HTTP2: true, H2C: true, Files: files})
	goaway := testenv.StartNginx(t, testenv.NginxOptions{TLS: true, HTTP2: true, H2C: true, KeepaliveRequests: 5})
	return &nginx{
		root: h2.Root,
		http: www.Addr, https: www.TLSAddr,
		shortIdle: shortIdle.Addr,
		h2:        h2.TLSAddr, h2c: h2.H2CAddr,
		h2Goaway: goaway.TLSAddr, h2cGoaway: goaway.H2CAddr,
		certs: www.Certs,
	}
}

func (n *nginx) tlsConfig() *tls.Config { return n.certs.ClientConfig() }
