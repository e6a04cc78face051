package reliability

import (
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
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
	n := testenv.StartNginx(t, testenv.NginxOptions{
		TLS: true, HTTP2: true, Certs: p.Certs,
		KeepaliveTimeout: time.Second, KeepaliveRequests: 5,
		Locations: []string{`location = /post { default_type text/plain; return 200 "ok"; }`},
	})
	return nginx{plain: n.Addr, secure: n.TLSAddr}
}

// startSocks starts microsocks, a SOCKS5 proxy, on a loopback port and
// returns its address, or "" and why when it is not installed (outside
// CI: there a missing microsocks fails t).
func startSocks(t testing.TB) (addr, skip string) {
	t.Helper()
	if _, err := testenv.LookBinary("microsocks", ""); err != nil && !testenv.CI() {
		return "", err.Error()
	}
	return testenv.StartMicrosocks(t, testenv.MicrosocksOptions{}).Addr, ""
}
