package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServer(t *testing.T) {
	p, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.CAFile, p.CertFile, p.KeyFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", f, fi, err)
		}
	}
	s, err := p.Serve()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   "127.0.0.1",
		NextProtos:   []string{"http/1.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConnectionState().NegotiatedProtocol != "http/1.1" {
		t.Errorf("ALPN %q", c.ConnectionState().NegotiatedProtocol)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hi")
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	c.Close()
	if got := s.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("Clients = %v", got)
	}

	// Without a client certificate the handshake fails.
	c2, err := tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err == nil {
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c2.Read(make([]byte, 1))
		c2.Close()
	}
	if err == nil {
		t.Error("a client without a certificate got through")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

func TestNewPKIFails(t *testing.T) {
	if _, err := NewPKI("/nonexistent/dir"); err == nil {
		t.Error("NewPKI wrote into a missing directory")
	}
}

func TestIssueFails(t *testing.T) {
	if _, err := issue(&x509.Certificate{SignatureAlgorithm: x509.SHA256WithRSA}, nil); err == nil {
		t.Error("an RSA signature by an ECDSA key was issued")
	}
}
