package mock

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
)

// The test certificate: a self-signed ECDSA P-256 certificate authority,
// valid from 2000 to 2079, for example.com, example.org, example.net, their
// subdomains (*.example.com, ...), localhost, 127.0.0.1 and ::1. It was
// made with crypto/tls/generate_cert.go. Its key is public: use it for
// tests only.
const (
	certPEM = `
-----BEGIN CERTIFICATE-----
MIICADCCAaegAwIBAgIRAIH/Un41E9A10HAhmZUfepYwCgYIKoZIzj0EAwIwEjEQ
MA4GA1UEChMHQWNtZSBDbzAgFw0wMDAxMDEwMDAwMDBaGA8yMDc5MTEwODE2MDAw
MFowEjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BPmdCThRX/siNy6WUaLkRrEz9sLhzZXSbFEy1behzDnlIUK6er0he010hUSJBfNG
nj1NyCT9Qz4n/dmiaDAvRFOjgdswgdgwDgYDVR0PAQH/BAQDAgKEMBMGA1UdJQQM
MAoGCCsGAQUFBwMBMA8GA1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFN0b3Oo0EdrY
sLdNxVLBZzyp2He8MIGABgNVHREEeTB3ggtleGFtcGxlLmNvbYINKi5leGFtcGxl
LmNvbYILZXhhbXBsZS5vcmeCDSouZXhhbXBsZS5vcmeCC2V4YW1wbGUubmV0gg0q
LmV4YW1wbGUubmV0gglsb2NhbGhvc3SHBH8AAAGHEAAAAAAAAAAAAAAAAAAAAAEw
CgYIKoZIzj0EAwIDRwAwRAIgAJfzkuBU8s3ZgeL675wxBuQzPJiDlJD8SjxSnkW6
C0UCIC58tfB0jUMW93UzlK5Iz1mjM0EDhy/eAhvGUZixKxBL
-----END CERTIFICATE-----
`
	keyPEM = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUmPx7YZsXhCYQ6Qi
5wTB6nIsTu6m5QmCWa+I3o0AD+OhRANCAAT5nQk4UV/7IjcullGi5EaxM/bC4c2V
0mxRMtW3ocw55SFCunq9IXtNdIVEiQXzRp49Tcgk/UM+J/3ZomgwL0RT
-----END PRIVATE KEY-----
`
)

var testCert = sync.OnceValues(func() (tls.Certificate, error) {
	return tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
})

// ServerTLSConfig returns a new server configuration that presents the
// test certificate (for example.com, example.org, example.net, their
// subdomains, localhost, 127.0.0.1 and ::1) and offers ALPN "h2" and
// "http/1.1". Clients trust it through RootCAs. It is what TLSHandlerPeer
// uses when given no certificate.
func ServerTLSConfig() *tls.Config {
	cert, err := testCert()
	if err != nil {
		panic("mock: bad built-in test certificate: " + err.Error())
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// RootCAs returns a new pool holding the test certificate, for a client's
// tls.Config.RootCAs.
func RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(certPEM)) {
		panic("mock: bad built-in test certificate")
	}
	return pool
}
