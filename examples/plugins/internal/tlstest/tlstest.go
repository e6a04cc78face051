// Package tlstest makes a throwaway PKI and a TLS echo server that
// requires a client certificate, for the tlskeys plugin example's tests.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// PKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type PKI struct {
	// CAFile, CertFile and KeyFile are the CA certificate and the
	// client's certificate and key.
	CAFile, CertFile, KeyFile string
	// ClientName is the client certificate's common name.
	ClientName string

	ca     *x509.CertPool
	server tls.Certificate
}

// NewPKI creates the certificates and writes the client's files and the
// CA's certificate into dir.
func NewPKI(dir string) (*PKI, error) {
	now := time.Now()
	tmpl := func(serial int64, cn string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
	}
	caTmpl := tmpl(1, "tlstest CA")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid, caTmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	ca, err := issue(caTmpl, nil)
	if err != nil {
		return nil, err
	}
	srvTmpl := tmpl(2, "tlstest server")
	srvTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	srvTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	srv, err := issue(srvTmpl, ca)
	if err != nil {
		return nil, err
	}
	p := &PKI{
		CAFile:     filepath.Join(dir, "ca.pem"),
		CertFile:   filepath.Join(dir, "client.pem"),
		KeyFile:    filepath.Join(dir, "client-key.pem"),
		ClientName: "tlstest client",
		ca:         x509.NewCertPool(),
		server:     tls.Certificate{Certificate: [][]byte{srv.Raw, ca.Raw}, PrivateKey: srv.key},
	}
	p.ca.AddCert(ca.Certificate)
	cliTmpl := tmpl(3, p.ClientName)
	cliTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	cli, err := issue(cliTmpl, ca)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(cli.key)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{
		{p.CAFile, "CERTIFICATE", ca.Raw},
		{p.CertFile, "CERTIFICATE", cli.Raw},
		{p.KeyFile, "EC PRIVATE KEY", keyDER},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(f.path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// keyCert is a certificate with its private key.
type keyCert struct {
	*x509.Certificate
	key *ecdsa.PrivateKey
}

// issue makes a key and a certificate from tmpl signed by parent, or
// self-signed when parent is nil.
func issue(tmpl *x509.Certificate, parent *keyCert) (*keyCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Certificate, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyCert{c, key}, nil
}

// ServerConfig is a server configuration that requires a client
// certificate from the CA and offers ALPN h2 and http/1.1.
func (p *PKI) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.ca,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// Server is a TLS echo server on 127.0.0.1 that requires a client
// certificate.
type Server struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	clients []string
	conns   map[net.Conn]struct{}
}

// Serve starts a Server for p.
func (p *PKI) Serve() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: tls.NewListener(ln, p.ServerConfig()), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the server's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Clients returns the common names of the client certificates seen, in
// order.
func (s *Server) Clients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.clients...)
}

// Close stops the server and waits for its connections.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.echo(c.(*tls.Conn))
		}()
	}
}

func (s *Server) echo(c *tls.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	if peers := c.ConnectionState().PeerCertificates; len(peers) > 0 {
		s.mu.Lock()
		s.clients = append(s.clients, peers[0].Subject.CommonName)
		s.mu.Unlock()
	}
	io.Copy(c, c)
}
