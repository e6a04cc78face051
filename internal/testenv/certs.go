package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Certs is a test certificate authority and a server certificate it
// signed, made in memory. The server certificate is valid for
// 127.0.0.1, ::1 and localhost, from an hour ago for a week. The CA
// issues more certificates with IssueServer, IssueClient and Issue.
type Certs struct {
	// CA is the authority's certificate; Roots trusts it.
	CA *x509.Certificate
	// Roots is a pool holding CA, for clients (and for servers that
	// verify client certificates).
	Roots *x509.CertPool
	// Server is the server certificate with its key; its chain holds the
	// leaf only (the CA is the trust anchor).
	Server tls.Certificate
	// Leaf is the server certificate, parsed.
	Leaf *x509.Certificate

	caKey  *ecdsa.PrivateKey
	serial atomic.Int64 // the last serial number given
}

// NewCerts makes a fresh CA and server certificate.
func NewCerts() (*Certs, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "transportkit test CA"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	setValidity(caTmpl)
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	c := &Certs{CA: ca, Roots: x509.NewCertPool(), caKey: caKey}
	c.serial.Store(1)
	c.Roots.AddCert(ca)
	if c.Server, err = c.IssueServer("127.0.0.1", "::1", "localhost"); err != nil {
		return nil, err
	}
	c.Leaf = c.Server.Leaf
	return c, nil
}

// setValidity makes tmpl valid from an hour ago for a week.
func setValidity(tmpl *x509.Certificate) {
	now := time.Now()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(7 * 24 * time.Hour)
}

// IssueServer makes a new key and a server certificate for hosts (IP
// addresses or DNS names) signed by the CA. Its chain holds the leaf
// only; Leaf is set.
func (c *Certs) IssueServer(hosts ...string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("testenv: IssueServer needs a host")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return c.Issue(tmpl)
}

// IssueClient makes a new key and a client certificate with the common
// name commonName, signed by the CA. Its chain holds the leaf only; Leaf
// is set.
func (c *Certs) IssueClient(commonName string) (tls.Certificate, error) {
	return c.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// Issue makes a new key and a certificate from tmpl (its subject, names
// and extended key usages) signed by the CA; Issue sets its serial
// number, validity (from an hour ago for a week) and key usage (digital
// signature).
// Its chain holds the leaf only; Leaf is set.
func (c *Certs) Issue(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.SerialNumber = big.NewInt(c.serial.Add(1))
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	setValidity(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.CA, &key.PublicKey, c.caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
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
// CA certificate (ca.pem) into dir. The test fails if it cannot.
func (c *Certs) WritePEM(t testing.TB, dir string) PEMFiles {
	t.Helper()
	f, err := c.WritePEMFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// WritePEMFiles is WritePEM for programs that are not tests.
func (c *Certs) WritePEMFiles(dir string) (PEMFiles, error) {
	f := PEMFiles{
		Cert: filepath.Join(dir, "cert.pem"),
		Key:  filepath.Join(dir, "key.pem"),
		CA:   filepath.Join(dir, "ca.pem"),
	}
	if err := WriteKeyPair(c.Server, f.Cert, f.Key, 0o644); err != nil {
		return PEMFiles{}, err
	}
	if err := writePEM(f.CA, "CERTIFICATE", c.CA.Raw, 0o644); err != nil {
		return PEMFiles{}, err
	}
	return f, nil
}

// WriteKeyPair writes cert's chain to certFile and its private key
// (PKCS #8) to keyFile, both as PEM with mode perm.
func WriteKeyPair(cert tls.Certificate, certFile, keyFile string, perm os.FileMode) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := writeFile(certFile, chain, perm); err != nil {
		return err
	}
	return writePEM(keyFile, "PRIVATE KEY", keyDER, perm)
}

// writePEM writes one PEM block of typ to path with mode perm.
func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), perm)
}

// writeFile writes data to path with mode perm, whatever the umask.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}
