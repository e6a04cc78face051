//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestRun runs the command as main does: the status line on stdout, exit 0.
func TestRun(t *testing.T) {
	proxy := socks5test.StartTest(t, "", "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"-proxy", proxy.Addr(), "-target", srv.Listener.Addr().String()}, &stdout, &stderr)
	if want := "HTTP/1.0 418 I'm a teapot (data path: handoff)\n"; code != 0 || stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("run = %d, stdout %q, stderr %q; want 0, %q and nothing", code, stdout.String(), stderr.String(), want)
	}
}

// TestRunUsage checks bad arguments exit 2 with the usage on stderr, and
// -h exits 0, as with flag.ExitOnError.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{{nil, 2}, {[]string{"-proxy", "127.0.0.1:1"}, 2}, {[]string{"-nosuchflag"}, 2}, {[]string{"-h"}, 0}} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || stdout.Len() != 0 || !strings.Contains(stderr.String(), "Usage of ") || !strings.Contains(stderr.String(), "-target string") {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d and the usage on stderr", tc.args, code, stdout.String(), stderr.String(), tc.code)
		}
	}
}

// TestRunFails checks a failed request exits 1 with the error on one line
// of stderr: a config the plugin refuses, a CONNECT the proxy refuses (to
// a closed port), and a target that closes without answering.
func TestRunFails(t *testing.T) {
	proxy := socks5test.StartTest(t, "", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler) // closes the connection, no response
	}))
	defer silent.Close()
	for _, tc := range []struct{ proxy, target, want string }{
		{"", closed, `"proxy" is required`},
		{proxy.Addr(), closed, syscall.ECONNREFUSED.Error()},
		{proxy.Addr(), silent.Listener.Addr().String(), io.EOF.Error()},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-proxy", tc.proxy, "-target", tc.target}, &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("run(-proxy %q) = %d, stdout %q, stderr %q; want 1 and %q on one line of stderr", tc.proxy, code, stdout.String(), stderr.String(), tc.want)
		}
	}
}

// TestRunNoPlugin checks the command exits 1 with the registry's error on
// stderr when the plugin is not installed.
func TestRunNoPlugin(t *testing.T) {
	t.Setenv(registry.EnvPluginPath, t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run([]string{"-target", "127.0.0.1:1"}, &stdout, &stderr)
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "plugin:socks5") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("run = %d, stdout %q, stderr %q; want 1 and the missing backend on one line of stderr", code, stdout.String(), stderr.String())
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
