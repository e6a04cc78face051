package testenv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestCerts(t *testing.T) {
	c, err := NewCerts()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: c.Roots}); err != nil {
			t.Errorf("leaf not valid for %s: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: c.Roots}); err == nil {
		t.Error("leaf valid for example.com")
	}
	other, err := NewCerts()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: c.Roots}); err == nil {
		t.Error("a second CA's leaf verifies with the first's roots")
	}
	first, second := SharedCerts(t), SharedCerts(t)
	if first != second {
		t.Error("SharedCerts differs between calls")
	}
}

func TestWritePEM(t *testing.T) {
	c := SharedCerts(t)
	f := c.WritePEM(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || !leaf.Equal(c.Leaf) {
		t.Fatalf("cert.pem is not the leaf: %v", err)
	}
	b, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("ca.pem holds no PEM block")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || !ca.Equal(c.CA) {
		t.Fatalf("ca.pem is not the CA: %v", err)
	}
	fatal, _ := capture(t, func(tb testing.TB) { c.WritePEM(tb, "/nonexistent/dir") })
	if fatal == "" {
		t.Error("WritePEM into a missing folder did not fail")
	}
}

func TestTLSServerPair(t *testing.T) {
	c, s := TLSServerPair(t, nil)
	go func() {
		s.Write([]byte("over tls"))
		s.Close()
	}()
	cfg := SharedCerts(t).ClientConfig()
	cfg.ServerName = "localhost"
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(c, cfg)
	defer tc.Close()
	b, err := io.ReadAll(tc)
	if err != nil || string(b) != "over tls" {
		t.Fatalf("read %q, %v", b, err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("ALPN %q, want h2", p)
	}
}

func TestTCPPair(t *testing.T) {
	c, s := TCPPair(t)
	go func() {
		c.Write([]byte("ping"))
		c.Close()
	}()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "ping" {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestIssue(t *testing.T) {
	c := SharedCerts(t)
	wrong, err := c.IssueServer("wrong.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Leaf.Verify(x509.VerifyOptions{DNSName: "wrong.example", Roots: c.Roots}); err != nil {
		t.Errorf("wrong.example: %v", err)
	}
	if _, err := wrong.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: c.Roots}); err == nil {
		t.Error("wrong.example's certificate valid for 127.0.0.1")
	}
	if wrong.Leaf.SerialNumber.Cmp(c.Leaf.SerialNumber) == 0 {
		t.Error("two leaves share a serial number")
	}
	if _, err := c.IssueServer(); err == nil {
		t.Error("IssueServer without a host succeeded")
	}
	client, err := c.IssueClient("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Leaf.Verify(x509.VerifyOptions{Roots: c.Roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || client.Leaf.Subject.CommonName != "alice" {
		t.Errorf("client certificate %q: %v", client.Leaf.Subject.CommonName, err)
	}
	if _, err := client.Leaf.Verify(x509.VerifyOptions{Roots: c.Roots}); err == nil {
		t.Error("client certificate valid for a server")
	}
}

func TestWriteKeyPair(t *testing.T) {
	c := SharedCerts(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteKeyPair(c.Server, cert, key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cert, key} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", f, fi, err)
		}
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil || !bytes.Equal(pair.Certificate[0], c.Server.Certificate[0]) {
		t.Fatalf("read back: %v", err)
	}
	if err := WriteKeyPair(tls.Certificate{PrivateKey: "not a key"}, cert, key, 0o600); err == nil {
		t.Error("a certificate without a usable key was written")
	}
	if err := WriteKeyPair(c.Server, cert, filepath.Join(dir, "missing", "k.pem"), 0o600); err == nil {
		t.Error("a key into a missing folder was written")
	}
	if _, err := c.WritePEMFiles(filepath.Join(dir, "missing")); err == nil {
		t.Error("WritePEMFiles into a missing folder succeeded")
	}
}
