package mock

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestCertificateNames(t *testing.T) {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"example.com", "www.example.com", "example.org", "api.example.net", "h2.test", "x.example", "a.invalid", "localhost", "app.localhost", "127.0.0.1", "::1"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: RootCAs(), CurrentTime: at})
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"example.edu", "a.b.test"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: RootCAs(), CurrentTime: at}); err == nil {
			t.Errorf("%s verified, want a host name error", name)
		}
	}
	if cfg := ServerTLSConfig(); len(cfg.Certificates) != 1 || len(cfg.NextProtos) != 2 {
		t.Fatalf("ServerTLSConfig = %+v", cfg)
	}
}
