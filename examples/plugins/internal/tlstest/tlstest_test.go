package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
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
	cfg := clientConfig(t, p)
	cfg.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.Addr(), cfg)
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
	c2, err := tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{RootCAs: cfg.RootCAs, ServerName: "127.0.0.1"})
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

// clientConfig loads p's client certificate and trusts p's CA.
func clientConfig(t *testing.T, p *PKI) *tls.Config {
	t.Helper()
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
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "127.0.0.1"}
}

// Close ends the connections still being echoed, so it does not wait for
// their clients.
func TestCloseEndsOpenConnections(t *testing.T) {
	p, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Serve()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.Addr(), clientConfig(t, p))
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// One echo makes sure the server holds the connection.
	io.WriteString(c, "x")
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		s.Close()
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("the connection still reads after Close")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection: %v", err)
	}
}

// A connection accepted while Close runs (after it dropped the
// connection set) is closed at once and ends the accept loop.
func TestAcceptAfterClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{ln: ln} // conns nil: as Close leaves it
	s.wg.Add(1)
	go s.serve()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read = %d, %v; want io.EOF", n, err)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the accept loop did not end")
	}
	if got := s.Clients(); len(got) != 0 {
		t.Errorf("Clients = %v", got)
	}
}

func TestForTests(t *testing.T) {
	p := NewTestPKI(t)
	s := p.ServeTest(t)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.Addr(), clientConfig(t, p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server records the client once its side of the handshake ends.
	testenv.Eventually(t, 10*time.Second, func() bool { return len(s.Clients()) > 0 })
	if got := s.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("Clients = %v", got)
	}
}
