package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Certs is a test certificate authority and a server certificate it
// signed, made in memory. The server certificate is valid for
// 127.0.0.1, ::1 and localhost, from an hour ago for a week.
type Certs struct {
	// CA is the authority's certificate; Roots trusts it.
	CA *x509.Certificate
	// Roots is a pool holding CA, for clients.
	Roots *x509.CertPool
	// Server is the server certificate with its key; its chain holds the
	// leaf only (the CA is the trust anchor).
	Server tls.Certificate
	// Leaf is the server certificate, parsed.
	Leaf *x509.Certificate
}

// NewCerts makes a fresh CA and server certificate.
func NewCerts() (*Certs, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "transportkit test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &Certs{
		CA:     ca,
		Roots:  roots,
		Server: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key, Leaf: leaf},
		Leaf:   leaf,
	}, nil
}

var shared struct {
	once  sync.Once
	certs *Certs
	err   error
}

// SharedCerts returns the certificates of this test binary, made on first
// use. Tests that need their own CA call NewCerts.
func SharedCerts(t testing.TB) *Certs {
	t.Helper()
	shared.once.Do(func() { shared.certs, shared.err = NewCerts() })
	if shared.err != nil {
		t.Fatalf("testenv: certificates: %v", shared.err)
	}
	return shared.certs
}

// ServerConfig returns a server TLS configuration with the server
// certificate, offering protos by ALPN (none if empty).
func (c *Certs) ServerConfig(protos ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Server}, NextProtos: protos}
}

// ClientConfig returns a client TLS configuration that trusts the CA.
func (c *Certs) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Roots}
}

// PEMFiles are the paths WritePEM wrote.
type PEMFiles struct {
	// Cert is the server certificate, Key its private key (PKCS #8), and
	// CA the authority's certificate.
	Cert, Key, CA string
}

// WritePEM writes the server certificate (cert.pem), its key (key.pem,
// mode 0644 so that a server's unprivileged worker can read it) and the
// CA certificate (ca.pem) into dir.
func (c *Certs) WritePEM(t testing.TB, dir string) PEMFiles {
	t.Helper()
	f := PEMFiles{
		Cert: filepath.Join(dir, "cert.pem"),
		Key:  filepath.Join(dir, "key.pem"),
		CA:   filepath.Join(dir, "ca.pem"),
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.Server.PrivateKey)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for _, w := range []struct {
		path, typ string
		der       []byte
	}{
		{f.Cert, "CERTIFICATE", c.Server.Certificate[0]},
		{f.Key, "PRIVATE KEY", keyDER},
		{f.CA, "CERTIFICATE", c.CA.Raw},
	} {
		if err := os.WriteFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), 0o644); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	return f
}
