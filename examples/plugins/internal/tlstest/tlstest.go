// Package tlstest writes a throwaway PKI (made by internal/testenv) as
// files and runs a TLS echo server that requires a client certificate,
// for the tlskeys plugin example's tests.
package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
)

// PKI is a CA (testenv.Certs) with a server certificate for 127.0.0.1
// (common name "tlstest server") and a client certificate, written as PEM
// files.
type PKI struct {
	// CAFile, CertFile and KeyFile are the CA certificate and the
	// client's certificate and key.
	CAFile, CertFile, KeyFile string
	// ClientName is the client certificate's common name.
	ClientName string

	certs  *testenv.Certs
	server tls.Certificate
}

// NewPKI creates the certificates and writes the client's files and the
// CA's certificate into dir, readable by the owner only.
func NewPKI(dir string) (*PKI, error) {
	certs, err := testenv.NewCerts()
	if err != nil {
		return nil, err
	}
	p := &PKI{
		CAFile:     filepath.Join(dir, "ca.pem"),
		CertFile:   filepath.Join(dir, "client.pem"),
		KeyFile:    filepath.Join(dir, "client-key.pem"),
		ClientName: "tlstest client",
		certs:      certs,
	}
	p.server, err = certs.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "tlstest server"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	client, err := certs.IssueClient(p.ClientName)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.CA.Raw}), 0o600); err != nil {
		return nil, err
	}
	if err := testenv.WriteKeyPair(client, p.CertFile, p.KeyFile, 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// NewTestPKI is NewPKI into a temporary directory of t; the test fails
// if it cannot.
func NewTestPKI(t testing.TB) *PKI {
	t.Helper()
	p, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ServerConfig is a server configuration that requires a client
// certificate from the CA and offers ALPN h2 and http/1.1.
func (p *PKI) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.certs.Roots,
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

// ServeTest is Serve for a test: the test fails if the server does not
// start, and the server is closed when the test ends.
func (p *PKI) ServeTest(t testing.TB) *Server {
	t.Helper()
	s, err := p.Serve()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
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
