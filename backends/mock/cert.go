package mock

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
)

// The test certificate: a self-signed ECDSA P-256 certificate authority,
// valid from 2000 to 2079, for example.com, example.org, example.net and
// their subdomains (*.example.com, ...), the names one level under the
// reserved test domains (*.test, *.example, *.invalid, *.localhost),
// localhost, 127.0.0.1 and ::1. It was
// made with crypto/tls/generate_cert.go. Its key is public: use it for
// tests only.
const (
	certPEM = `
-----BEGIN CERTIFICATE-----
MIICMDCCAdagAwIBAgIRAN9SxvtgByJ6lziwHeGdusgwCgYIKoZIzj0EAwIwEjEQ
MA4GA1UEChMHQWNtZSBDbzAgFw0wMDAxMDEwMDAwMDBaGA8yMDc5MTEwODE2MDAw
MFowEjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BImDKfMOAXNWv6xziFXNPMYRNMGx9lZ1xMQTelRuYSpY5IbCtT4hvIz4rsxlELqz
0wkttIWt/4YpIRmAAJZxXvCjggEJMIIBBTAOBgNVHQ8BAf8EBAMCAoQwEwYDVR0l
BAwwCgYIKwYBBQUHAwEwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUzBcmJM0v
lBccFfBLL4Awqhe67yYwga0GA1UdEQSBpTCBooILZXhhbXBsZS5jb22CDSouZXhh
bXBsZS5jb22CC2V4YW1wbGUub3Jngg0qLmV4YW1wbGUub3JnggtleGFtcGxlLm5l
dIINKi5leGFtcGxlLm5ldIIGKi50ZXN0ggkqLmV4YW1wbGWCCSouaW52YWxpZIIJ
bG9jYWxob3N0ggsqLmxvY2FsaG9zdIcEfwAAAYcQAAAAAAAAAAAAAAAAAAAAATAK
BggqhkjOPQQDAgNIADBFAiEAjAyxQHBT8xcRPsyVAslDLVnV8C+fnphV5JO54K3B
zPMCIAr47ltt5F2N/VG4OgTnfWswkfR8bvy63+g7RijhTtOy
-----END CERTIFICATE-----
`
	keyPEM = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwZx9AKS+Gn3l55NQ
8JGSEsUQLsYW1CElMoiUmMUkVduhRANCAASJgynzDgFzVr+sc4hVzTzGETTBsfZW
dcTEE3pUbmEqWOSGwrU+IbyM+K7MZRC6s9MJLbSFrf+GKSEZgACWcV7w
-----END PRIVATE KEY-----
`
)

var testCert = sync.OnceValues(func() (tls.Certificate, error) {
	return tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
})

// ServerTLSConfig returns a new server configuration that presents the
// test certificate (for example.com, example.org, example.net, their
// subdomains, *.test, *.example, *.invalid, *.localhost, localhost,
// 127.0.0.1 and ::1) and offers ALPN "h2" and
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
