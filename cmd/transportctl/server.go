package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"time"
)

// embeddedServer is the loopback HTTPS server probe uses when it is given
// no URL: net/http's server speaking HTTP/2 and HTTP/1.1 (chosen by ALPN)
// with a certificate made in memory for 127.0.0.1 and localhost; or, for
// h2c, the same server in clear text speaking HTTP/1.1 and HTTP/2 with
// prior knowledge.
type embeddedServer struct {
	// URL is the server's address, https://127.0.0.1:PORT/ (http://
	// for h2c).
	URL *url.URL
	// Roots trusts the server's certificate, for a client's RootCAs.
	Roots *x509.CertPool
	// TLS is the server's configuration, for a mock backend's peer.
	TLS *tls.Config
	// Handler answers every request, for a mock backend's peer.
	Handler http.Handler

	srv  *http.Server
	done chan error
}

// probeHandler answers every request with a short text naming the
// protocol the request came in on.
func probeHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "transportctl probe ok: %s %s\n", r.Proto, r.URL.Path)
}

// startEmbeddedServer listens on a loopback port and serves until Close,
// over TLS, or in clear text with h2c. errLog receives the server's own
// errors (such as failed handshakes).
func startEmbeddedServer(errLog *log.Logger, h2c bool) (*embeddedServer, error) {
	cert, roots, err := newCert(time.Now())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	e := &embeddedServer{
		URL:     &url.URL{Scheme: "https", Host: ln.Addr().String(), Path: "/"},
		Roots:   roots,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		Handler: http.HandlerFunc(probeHandler),
		done:    make(chan error, 1),
	}
	e.srv = &http.Server{
		Handler:           e.Handler,
		TLSConfig:         e.TLS.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errLog,
	}
	if h2c {
		e.URL.Scheme = "http"
		e.srv.Protocols = new(http.Protocols)
		e.srv.Protocols.SetHTTP1(true)
		e.srv.Protocols.SetUnencryptedHTTP2(true)
		go func() { e.done <- e.srv.Serve(ln) }()
		return e, nil
	}
	go func() { e.done <- e.srv.ServeTLS(ln, "", "") }()
	return e, nil
}

// Close stops the server, waiting for requests in flight until ctx ends.
func (e *embeddedServer) Close(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if err != nil {
		e.srv.Close()
	}
	if serr := <-e.done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// newCert makes a self-signed ECDSA P-256 certificate for 127.0.0.1, ::1
// and localhost, valid around now, and a pool that trusts it.
func newCert(now time.Time) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{Organization: []string{"transportctl probe"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}
