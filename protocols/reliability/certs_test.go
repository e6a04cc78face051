package reliability

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
	"time"
)

// pki is the tests' certificate authority and the two server
// certificates it signed: good (127.0.0.1, ::1, localhost) and wrongHost
// (wrong.example only).
type pki struct {
	roots     *x509.CertPool
	good      tls.Certificate
	wrongHost tls.Certificate
	// goodPEM and goodKeyPEM are good's certificate chain and key.
	goodPEM, goodKeyPEM []byte
}

var testPKI = sync.OnceValues(newPKI)

func newPKI() (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "transportkit reliability test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &pki{roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	leaf := func(serial int64, dns []string, ips []net.IP) (tls.Certificate, []byte, []byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "transportkit reliability test server"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		return c, certPEM, keyPEM, err
	}
	if p.good, p.goodPEM, p.goodKeyPEM, err = leaf(2, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}); err != nil {
		return nil, err
	}
	if p.wrongHost, _, _, err = leaf(3, []string{"wrong.example"}, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// writeFiles writes good's certificate and key into dir as cert.pem and
// key.pem, for servers in other processes.
func (p *pki) writeFiles(dir string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, p.goodPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, p.goodKeyPEM, 0o644)
}

// serverConfig is a server configuration presenting good with the ALPN
// protocols protos.
func (p *pki) serverConfig(protos ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.good}, NextProtos: protos}
}

// clientConfig trusts the test CA.
func (p *pki) clientConfig() *tls.Config { return &tls.Config{RootCAs: p.roots} }
