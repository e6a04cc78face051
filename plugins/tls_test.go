//go:build linux

package plugins_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// tlsEchoServer listens with TLS (ALPN h2 or http/1.1) and echoes.
func tlsEchoServer(t testing.TB) (net.Listener, tls.Certificate) {
	cert := testenv.SharedCerts(t).Server
	ln := tls.NewListener(listenTCP(t), &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	echoServer(t, ln)
	return ln, cert
}

func TestTLSInPlugin(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *plugins.Backend
	}{
		{"in-process", func(t *testing.T) *plugins.Backend { return inProcess(t, testConfig{TLS: true}) }},
		{"subprocess", func(t *testing.T) *plugins.Backend {
			return openSubprocess(t, testConfig{TLS: true}, transport.Options{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.open(t)
			ln, cert := tlsEchoServer(t)
			cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}
			s, err := transport.DialTLS(dialCtx(t), b, "tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if p := transport.NegotiatedProtocol(s); p != "h2" {
				t.Errorf("ALPN = %q, want h2", p)
			}
			v, ok := s.Info(transport.InfoTLS)
			cs, isState := v.(tls.ConnectionState)
			if !ok || !isState || len(cs.PeerCertificates) != 1 || !cs.PeerCertificates[0].Equal(cert.Leaf) || !cs.HandshakeComplete || cs.Version < tls.VersionTLS12 {
				t.Errorf("Info(InfoTLS) = %+v, %v; want the server's certificate", v, ok)
			}
			if p := dataPath(s); p != plugins.DataPathBytes {
				t.Errorf("data path %q, want %q", p, plugins.DataPathBytes)
			}
			if _, ok := s.Info(transport.InfoFD); ok {
				t.Error("a TLS stream done in the plugin reports InfoFD")
			}
			roundTrip(t, s, "decrypted by the plugin")

			// Trust and identity settings cannot cross: refused, not
			// ignored.
			for _, bad := range []*tls.Config{
				{RootCAs: x509.NewCertPool()},
				{Certificates: []tls.Certificate{cert}},
				{VerifyConnection: func(tls.ConnectionState) error { return nil }},
			} {
				_, err = b.DialTLS(dialCtx(t), "tcp", ln.Addr().String(), bad)
				if !errors.Is(err, transport.ErrUnsupported) {
					t.Errorf("DialTLS with %+v: %v, want ErrUnsupported", bad, err)
				}
			}
			// The plugin's verification errors come back typed.
			_, err = b.DialTLS(dialCtx(t), "tcp", ln.Addr().String(), &tls.Config{ServerName: "127.0.0.1"})
			var re *plugins.RemoteError
			if err == nil || !errors.As(err, &re) {
				t.Errorf("DialTLS to an untrusted server: %v, want a *plugins.RemoteError", err)
			}
		})
	}
}

// TestTLSOnHost: a plugin without its own TLS hands the socket off and the
// host runs the handshake.
func TestTLSOnHost(t *testing.T) {
	b := inProcess(t, testConfig{})
	ln, _ := tlsEchoServer(t)
	s, err := b.DialTLS(dialCtx(t), "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := transport.NegotiatedProtocol(s); p != "http/1.1" {
		t.Errorf("ALPN = %q, want http/1.1", p)
	}
	if p := dataPath(s); p != plugins.DataPathHandoff {
		t.Errorf("data path %q, want %q", p, plugins.DataPathHandoff)
	}
	roundTrip(t, s, "encrypted on the host")
	if _, err := b.DialTLS(dialCtx(t), "tcp", "127.0.0.1:1", nil); err == nil {
		t.Error("DialTLS to a closed port succeeded")
	}
}

// TestConformanceTLS runs the stream suite over TLS done in the plugin:
// the byte path with a stream that is not a socket.
func TestConformanceTLS(t *testing.T) {
	b := inProcess(t, testConfig{TLS: true})
	srvCfg := testenv.SharedCerts(t).ServerConfig()
	transporttest.TestStream(t, func() (transport.Stream, net.Conn, func(), error) {
		s, peer, err := testenv.DialTLSPair(srvCfg, func(addr string) (transport.Stream, error) {
			return b.DialTLS(dialCtx(t), "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		})
		if err != nil {
			return nil, nil, nil, err
		}
		return s, peer, func() { s.Close(); peer.Close() }, nil
	})
}
