//go:build linux

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transportkit/transportkit/examples/plugins/internal/socks5test"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// pluginPath is the plugin binary TestMain builds.
var pluginPath string

func TestMain(m *testing.M) {
	os.Exit(pluginstest.Main(m, pluginstest.BuildPlugin("./transportkit-backend-socks5", "socks5", &pluginPath)))
}

// TestGet runs the example's host code against the built plugin.
func TestGet(t *testing.T) {
	proxy := socks5test.StartTest(t, "", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, path, err := get(ctx, proxy.Addr(), srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if status != "HTTP/1.0 418 I'm a teapot" || path != plugins.DataPathHandoff {
		t.Errorf("get = %q, %q; want the teapot over the handoff path", status, path)
	}
	if proxy.Connects.Load() != 1 {
		t.Errorf("%d CONNECTs through the proxy, want 1", proxy.Connects.Load())
	}
}

// TestConformanceSubprocess runs the stream suite through the plugin
// process, over a proxy that passes resets on.
func TestConformanceSubprocess(t *testing.T) {
	proxy := socks5test.StartTest(t, "", "")
	cfg := []byte(fmt.Sprintf(`{"proxy": %q}`, proxy.Addr()))
	b := pluginstest.OpenBinary(t, pluginPath, transport.Options{Config: cfg})
	transporttest.TestStream(t, transporttest.TCPPipe(b))
}

// TestBackendSubprocess runs the backend suite through the plugin process
// and microsocks, a SOCKS5 proxy of its own process.
func TestBackendSubprocess(t *testing.T) {
	proxy := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{})
	cfg := []byte(fmt.Sprintf(`{"proxy": %q}`, proxy.Addr))
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
		return pluginstest.OpenBinary(t, pluginPath, transport.Options{Config: cfg})
	})
}

// TestListed checks the registry finds the plugin with its details.
func TestListed(t *testing.T) {
	infos, err := registry.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Name == "plugin:socks5" {
			if in.Kind != registry.KindPlugin || in.Details["path"] != filepath.Join(filepath.Dir(pluginPath), "transportkit-backend-socks5") {
				t.Errorf("listed as %+v", in)
			}
			return
		}
	}
	t.Errorf("plugin:socks5 not listed: %+v", infos)
}
