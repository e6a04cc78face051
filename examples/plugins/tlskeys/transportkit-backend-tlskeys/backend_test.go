package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/examples/plugins/internal/tlstest"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestMain(m *testing.M) {
	if os.Getenv(plugins.Handshake.MagicCookieKey) == plugins.Handshake.MagicCookieValue {
		main() // a copy of this binary, launched by TestMainServes
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

const waitLimit = 20 * time.Second

func pluginConfig(t testing.TB, p *tlstest.PKI) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(config{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return c
}

func TestHandshakeInPlugin(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	srv := p.ServeTest(t)
	b := pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: pluginConfig(t, p)})
	s, err := transport.DialTLS(ctx(t), b, "tcp", srv.Addr(), &tls.Config{NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if alpn := transport.NegotiatedProtocol(s); alpn != "h2" {
		t.Errorf("ALPN = %q, want h2", alpn)
	}
	v, _ := s.Info(transport.InfoTLS)
	cs, ok := v.(tls.ConnectionState)
	if !ok || len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != "tlstest server" {
		t.Errorf("Info(InfoTLS) = %#v, want the server's certificate", v)
	}
	if v, _ := s.Info(plugins.InfoDataPath); v != plugins.DataPathBytes {
		t.Errorf("data path %v, want %s", v, plugins.DataPathBytes)
	}
	s.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(s, "secret")
	buf := make([]byte, 6)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "secret" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	if got := srv.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("server saw client certificates %v, want [%s]", got, p.ClientName)
	}
}

// TestBackend runs the backend suite: plain dials, whose sockets are
// handed to the host.
func TestBackend(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
		return pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: pluginConfig(t, p)})
	})
}

func TestConformance(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	b := pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: pluginConfig(t, p)})
	transporttest.TestStream(t, tlsPipe(t, b, p))
}

// tlsPipe dials a TLS server that requires the client certificate through
// b; the peer is the server's end.
func tlsPipe(t testing.TB, b transport.Backend, p *tlstest.PKI) transporttest.MakePipe {
	srvCfg := p.ServerConfig()
	return func() (transport.Stream, net.Conn, func(), error) {
		s, peer, err := testenv.DialTLSPair(srvCfg, func(addr string) (transport.Stream, error) {
			return transport.DialTLS(ctx(t), b, "tcp", addr, nil)
		})
		if err != nil {
			return nil, nil, nil, err
		}
		return s, peer, func() { s.Close(); peer.Close() }, nil
	}
}

// TestMainServes launches a copy of this test binary as the plugin: its
// TestMain runs main, which serves the backend to the host over go-plugin.
func TestMainServes(t *testing.T) {
	path, err := pluginstest.Install(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	p := tlstest.NewTestPKI(t)
	srv := p.ServeTest(t)
	b := pluginstest.OpenBinary(t, path, transport.Options{Config: pluginConfig(t, p)})
	s, err := transport.DialTLS(ctx(t), b, "tcp", srv.Addr(), &tls.Config{NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Info(plugins.InfoDataPath); transport.NegotiatedProtocol(s) != "h2" || v != plugins.DataPathBytes {
		t.Errorf("ALPN %q over the %v path, want h2 over %s", transport.NegotiatedProtocol(s), v, plugins.DataPathBytes)
	}
	// TLS 1.3: the client's handshake ends before the server has read
	// the client's certificate and Finished.
	testenv.Eventually(t, waitLimit, func() bool { return len(srv.Clients()) > 0 })
	if got := srv.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("server saw client certificates %v, want [%s]", got, p.ClientName)
	}
}

// TestDialTLSRefused checks a refused connect is the dial's error, as
// without TLS.
func TestDialTLSRefused(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: pluginConfig(t, p)})
	if _, err := transport.DialTLS(ctx(t), b, "tcp", addr, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("DialTLS to a closed port: %v, want ECONNREFUSED", err)
	}
}

func TestUntrustedServer(t *testing.T) {
	p, other := tlstest.NewTestPKI(t), tlstest.NewTestPKI(t)
	srv := other.ServeTest(t)
	b := pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: pluginConfig(t, p)})
	_, err := transport.DialTLS(ctx(t), b, "tcp", srv.Addr(), nil)
	var re *plugins.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("DialTLS to a server of another CA: %v, want a *plugins.RemoteError", err)
	}
}

func TestPlainDialHandsOff(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b := pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: pluginConfig(t, p)})
	s, err := b.Dial(ctx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Info(plugins.InfoDataPath); v != plugins.DataPathHandoff {
		t.Errorf("plain stream data path %v, want %s", v, plugins.DataPathHandoff)
	}
}

func TestConfig(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	for _, raw := range []string{
		``,
		`{}`,
		`{"cert_file": "x"}`,
		`{"cert_file": "/nonexistent", "key_file": "/nonexistent"}`,
		`{"cert_file": "` + p.CertFile + `", "key_file": "` + p.KeyFile + `", "ca_file": "/nonexistent"}`,
		`{"cert_file": "` + p.CertFile + `", "key_file": "` + p.KeyFile + `", "ca_file": "` + p.KeyFile + `"}`,
		`{"cert_file": "` + p.CertFile + `", "key_file": "` + p.KeyFile + `", "extra": 1}`,
	} {
		if _, err := open(transport.Options{Config: json.RawMessage(raw)}); err == nil {
			t.Errorf("config %s accepted", raw)
		}
	}
	b, err := open(transport.Options{Config: json.RawMessage(`{"cert_file": "` + p.CertFile + `", "key_file": "` + p.KeyFile + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "plugin:tlskeys" {
		t.Errorf("Name = %q", b.Name())
	}
	b.Close()
}
