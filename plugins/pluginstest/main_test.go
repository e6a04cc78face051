//go:build linux

package pluginstest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
)

// runner is a testing.M that runs run.
type runner func() int

func (r runner) Run() int { return r() }

func TestMainRuns(t *testing.T) {
	var setupDir string
	ran := false
	var out strings.Builder
	code := pluginstest.RunMain(runner(func() int {
		ran = true
		if st, err := os.Stat(setupDir); err != nil || st.Mode().Perm()&0o022 != 0 {
			t.Errorf("the directory during the tests: %v, %v", st, err)
		}
		return 3
	}), func(ctx context.Context, dir string) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("setup's context has no deadline")
		}
		setupDir = dir
		return nil
	}, &out)
	if code != 3 || out.Len() != 0 || !ran {
		t.Errorf("RunMain = %d, %q (ran %v), want the tests' code 3", code, out.String(), ran)
	}
	if _, err := os.Stat(setupDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory left after the run: %v", err)
	}
}

func TestMainSetupFails(t *testing.T) {
	var out strings.Builder
	code := pluginstest.RunMain(runner(func() int {
		t.Error("tests ran after a failed setup")
		return 0
	}), func(context.Context, string) error { return errors.New("no build") }, &out)
	if code != 1 || out.String() != "no build\n" {
		t.Errorf("RunMain = %d, %q; want 1 and the setup's error", code, out.String())
	}
	t.Setenv("TMPDIR", "/nonexistent/tmp")
	out.Reset()
	if code := pluginstest.RunMain(runner(func() int { return 0 }), nil, &out); code != 1 || out.Len() == 0 {
		t.Errorf("without a temporary folder: %d, %q", code, out.String())
	}
}

func TestMainFindsLeaks(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	var out strings.Builder
	code := pluginstest.RunMain(runner(func() int {
		go func() { <-stop }()
		return 0
	}), func(context.Context, string) error { return nil }, &out)
	if code != 1 || !strings.HasPrefix(out.String(), "goleak:") {
		t.Errorf("RunMain = %d, %q; want 1 for a leaked goroutine", code, out.String())
	}
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	path, err := pluginstest.Install(dir, "self")
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, registry.PluginBinaryPrefix+"self") {
		t.Errorf("path %s", path)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v, %v", st, err)
	}
	self, _ := os.Executable()
	want, _ := os.ReadFile(self)
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, want) {
		t.Error("the installed binary is not this executable")
	}
	if _, err := pluginstest.Install(dir, "bad/name"); err == nil {
		t.Error("Install with a bad name succeeded")
	}
	if _, err := pluginstest.Install(filepath.Join(dir, "missing"), "self"); err == nil {
		t.Error("Install into a missing directory succeeded")
	}
}

func TestBuildPlugin(t *testing.T) {
	t.Setenv(registry.EnvPluginPath, "")
	dir := t.TempDir()
	var path string
	if err := pluginstest.BuildPlugin(example, "socks5", &path)(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, registry.PluginBinaryPrefix+"socks5") || os.Getenv(registry.EnvPluginPath) != dir {
		t.Errorf("path %q, search path %q", path, os.Getenv(registry.EnvPluginPath))
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
	if err := pluginstest.BuildPlugin(example, "bad/name", &path)(context.Background(), dir); err == nil {
		t.Error("BuildPlugin with a bad name succeeded")
	}
}
