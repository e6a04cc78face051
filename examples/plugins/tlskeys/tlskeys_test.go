//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
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
	// TLS 1.3: the client's handshake ends before the server has read
	// the client's certificate and Finished.
	testenv.Eventually(t, waitLimit, func() bool { return len(srv.Clients()) > 0 })
	if got := srv.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("server saw client certificates %v, want [%s]", got, p.ClientName)
	}
}

// TestRun runs the command as main does: what was negotiated on stdout,
// exit 0. -alpn is passed on: the server prefers h2 but is offered
// http/1.1 only.
func TestRun(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	srv := p.ServeTest(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-cert", p.CertFile, "-key", p.KeyFile, "-ca", p.CAFile, "-target", srv.Addr(), "-alpn", "http/1.1"}, &stdout, &stderr)
	if want := `ALPN "http/1.1", server "CN=tlstest server", data path bytes` + "\n"; code != 0 || stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("run = %d, stdout %q, stderr %q; want 0, %q and nothing", code, stdout.String(), stderr.String(), want)
	}
	// TLS 1.3: the client's handshake ends before the server has read
	// the client's certificate and Finished.
	testenv.Eventually(t, waitLimit, func() bool { return len(srv.Clients()) > 0 })
	if got := srv.Clients(); len(got) != 1 || got[0] != p.ClientName {
		t.Errorf("server saw client certificates %v, want [%s]", got, p.ClientName)
	}
}

// TestRunUsage checks bad arguments exit 2 with the usage on stderr, and
// -h exits 0, as with flag.ExitOnError.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"-cert", "c.pem", "-key", "k.pem"}, 2},
		{[]string{"-cert", "c.pem", "-target", "127.0.0.1:1"}, 2},
		{[]string{"-key", "k.pem", "-target", "127.0.0.1:1"}, 2},
		{[]string{"-nosuchflag"}, 2},
		{[]string{"-h"}, 0},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || stdout.Len() != 0 || !strings.Contains(stderr.String(), "Usage of ") || !strings.Contains(stderr.String(), "-target string") {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d and the usage on stderr", tc.args, code, stdout.String(), stderr.String(), tc.code)
		}
	}
}

// TestRunFails checks a failed connection exits 1 with the error on one
// line of stderr: a key file the plugin cannot read, and a server whose
// certificate the plugin's roots do not trust.
func TestRunFails(t *testing.T) {
	p := tlstest.NewTestPKI(t)
	srv := tlstest.NewTestPKI(t).ServeTest(t) // another CA
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		key  string
		want string
	}{
		{missing, missing},
		{p.KeyFile, "certificate signed by unknown authority"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-cert", p.CertFile, "-key", tc.key, "-ca", p.CAFile, "-target", srv.Addr()}, &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("run(-key %s) = %d, stdout %q, stderr %q; want 1 and %q on one line of stderr", tc.key, code, stdout.String(), stderr.String(), tc.want)
		}
	}
	if got := srv.Clients(); len(got) != 0 {
		t.Errorf("the untrusted server saw client certificates %v, want none", got)
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
