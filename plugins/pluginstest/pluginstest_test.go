//go:build linux

package pluginstest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/transport"
)

func TestMain(m *testing.M) {
	os.Exit(pluginstest.Main(m, func(context.Context, string) error { return nil }))
}

const example = "../../examples/plugins/socks5/transportkit-backend-socks5"

// TestBuildAndOpen builds the socks5 example plugin with go build, as a
// third party would ship it, verifies it and opens it.
func TestBuildAndOpen(t *testing.T) {
	path := pluginstest.TestBuild(t, example, "socks5")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o755 || filepath.Base(path) != "transportkit-backend-socks5" {
		t.Fatalf("built %s: %v, %v", path, fi.Mode(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Verify opens the backend as a launch does: the plugin needs its
	// proxy, which it does not dial then.
	cfg := transport.Options{Config: []byte(`{"proxy": "127.0.0.1:1"}`)}
	desc, err := plugins.Verify(ctx, path, plugins.VerifyOptions{Options: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var oe *plugins.OpenError
	if _, err := plugins.Verify(ctx, path, plugins.VerifyOptions{}); !errors.As(err, &oe) {
		t.Errorf("Verify without the config the plugin needs: %v, want an *OpenError", err)
	}
	if desc.Name != "socks5" || desc.Protocol != plugins.ProtocolVersion || !desc.Handoff || desc.Path != path {
		t.Errorf("Verify = %+v", desc)
	}
	b := pluginstest.OpenBinary(t, path, cfg)
	if d, err := plugins.Launch(ctx, b); d != 0 || err != nil {
		t.Errorf("Launch after OpenBinary = %v, %v; want the plugin already running", d, err)
	}
	if _, err := pluginstest.Build(ctx, "./nonexistent", "x", t.TempDir()); err == nil {
		t.Error("building a package that does not exist succeeded")
	}
	if _, err := pluginstest.Build(ctx, ".", "bad name", t.TempDir()); err == nil {
		t.Error("building under a bad name succeeded")
	}
}

func TestTestBackend(t *testing.T) {
	b := pluginstest.TestBackend(t, plugins.ServeConfig{Name: "direct", Open: plugins.OpenDialer("direct",
		func(_ struct{}, direct plugins.DialFunc) (plugins.DialFunc, error) { return direct, nil })}, transport.Options{})
	if b.Name() != "plugin:direct" {
		t.Errorf("Name = %q", b.Name())
	}
	if d, err := plugins.Launch(context.Background(), b); d != 0 || err != nil {
		t.Errorf("Launch after TestBackend = %v, %v; want the plugin already running", d, err)
	}
}

// fakeTB stops at the first Fatal or Skip and records it.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs f with a fakeTB and returns what it failed with.
func fails(t *testing.T, f func(tb testing.TB)) string {
	tb := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb.failed
}

func TestFailures(t *testing.T) {
	broken := func(transport.Options) (transport.Backend, error) { return nil, errors.New("no backend today") }
	working := func(transport.Options) (transport.Backend, error) { return stdnet.Open(transport.Options{}) }
	for name, f := range map[string]func(tb testing.TB){
		"incomplete config": func(tb testing.TB) {
			pluginstest.TestBackend(tb, plugins.ServeConfig{Open: working}, transport.Options{})
		},
		"open fails": func(tb testing.TB) {
			pluginstest.TestBackend(tb, plugins.ServeConfig{Name: "x", Open: broken}, transport.Options{})
		},
		"badly named binary": func(tb testing.TB) {
			pluginstest.OpenBinary(tb, os.Args[0], transport.Options{})
		},
		"missing binary": func(tb testing.TB) {
			pluginstest.OpenBinary(tb, filepath.Join(t.TempDir(), "transportkit-backend-x"), transport.Options{})
		},
		"not a plugin": func(tb testing.TB) {
			dir := t.TempDir()
			path := filepath.Join(dir, "transportkit-backend-sh")
			if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			pluginstest.OpenBinary(tb, path, transport.Options{})
		},
		"build fails": func(tb testing.TB) { pluginstest.TestBuild(tb, "./nonexistent", "x") },
	} {
		if got := fails(t, f); got == "" {
			t.Errorf("%s: the test did not fail", name)
		}
	}
}
