//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"testing"
	"time"

	"github.com/transportkit/transportkit/examples/plugins/internal/tlstest"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// pluginPath is the plugin binary TestMain builds.
var pluginPath string

const waitLimit = 20 * time.Second

func TestMain(m *testing.M) {
	os.Exit(pluginstest.Main(m, pluginstest.BuildPlugin("./transportkit-backend-tlskeys", "tlskeys", &pluginPath)))
}

// TestConnect runs the example's host code against the built plugin and
// a server that requires the client certificate.
func TestConnect(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	srv := p.ServeTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := connect(ctx, config{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile}, srv.Addr(), []string{"h2", "http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.alpn != "h2" || r.server != "CN=tlstest server" || r.path != plugins.DataPathBytes {
		t.Errorf("connect = %+v, want h2 with the server's certificate over the byte path", r)
	}
	if got := srv.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("server saw client certificates %v, want [%s]", got, p.ClientName)
	}
}

// TestBackendSubprocess runs the backend suite through the plugin
// process.
func TestBackendSubprocess(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	cfg, err := json.Marshal(config{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
		return pluginstest.OpenBinary(t, pluginPath, transport.Options{Config: cfg})
	})
}

// TestConformanceSubprocess runs the stream suite over TLS done in the
// plugin process.
func TestConformanceSubprocess(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	cfg, err := json.Marshal(config{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: p.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	b, err := plugins.Open(plugins.Plugin{Name: "tlskeys", Path: pluginPath}, transport.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srvCfg := p.ServerConfig()
	transporttest.TestStream(t, func() (transport.Stream, net.Conn, func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		s, peer, err := testenv.DialTLSPair(srvCfg, func(addr string) (transport.Stream, error) {
			return transport.DialTLS(ctx, b, "tcp", addr, nil)
		})
		if err != nil {
			return nil, nil, nil, err
		}
		return s, peer, func() { s.Close(); peer.Close() }, nil
	})
}
