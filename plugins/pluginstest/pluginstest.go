// Package pluginstest helps plugin authors test their plugin backends:
// it serves a plugin in the test process, and builds plugin binaries for
// tests that launch them. It is package plugins' counterpart of
// transport/transporttest, kept apart so that programs hosting plugins
// do not link package testing through package plugins. Main is the
// TestMain of packages that build plugin binaries.
//
// A plugin's tests usually run the conformance suite twice, in process
// and through the built binary:
//
//	func TestInProcess(t *testing.T) {
//		transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
//			return pluginstest.TestBackend(t, serveConfig(), transport.Options{})
//		})
//	}
//
//	func TestBinary(t *testing.T) {
//		path := pluginstest.TestBuild(t, ".", "mine")
//		transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
//			return pluginstest.OpenBinary(t, path, transport.Options{})
//		})
//	}
package pluginstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// LaunchTimeout bounds the launch TestBackend and OpenBinary wait for.
const LaunchTimeout = time.Minute

// TestBackend serves cfg's backend in this process with
// plugins.ServeInProcess and returns the host's Backend for it, already
// launched. Streams take the same paths as with a plugin process (the
// handoff channel and raw byte-stream connections included), so the
// transporttest suites run against the plugin without building it:
//
//	b := pluginstest.TestBackend(t, myServeConfig, transport.Options{})
//	transporttest.TestStream(t, transporttest.TCPPipe(b))
//
// The Backend is closed when t ends. The test fails at once if cfg is
// incomplete, opts cannot cross to a plugin, or the plugin's backend does
// not open; it is skipped where plugins cannot be hosted (not Linux).
func TestBackend(t testing.TB, cfg plugins.ServeConfig, opts transport.Options) *plugins.Backend {
	t.Helper()
	b, err := plugins.ServeInProcess(cfg, opts)
	return launch(t, b, err)
}

// OpenBinary opens the plugin binary at path (built by TestBuild, say)
// with opts and returns its Backend, already launched: the plugin's
// process runs. Its name is taken from the file name
// transportkit-backend-NAME. The Backend is closed when t ends, which ends
// the process. The test fails if the binary is refused by the trust rules
// (see package plugins) or does not start.
func OpenBinary(t testing.TB, path string, opts transport.Options) *plugins.Backend {
	t.Helper()
	name, ok := strings.CutPrefix(filepath.Base(path), registry.PluginBinaryPrefix)
	if !ok || name == "" {
		t.Fatalf("pluginstest: %s is not named %sNAME", path, registry.PluginBinaryPrefix)
	}
	b, err := plugins.Open(plugins.Plugin{Name: name, Path: path, StartTimeout: LaunchTimeout}, opts)
	return launch(t, b, err)
}

// launch takes b, opened with err, and starts its plugin: it skips t
// where plugins cannot be hosted, fails it if b did not open or its
// plugin does not start, and closes b when t ends.
func launch(t testing.TB, b *plugins.Backend, err error) *plugins.Backend {
	t.Helper()
	if errors.Is(err, transport.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), LaunchTimeout)
	defer cancel()
	if _, err := plugins.Launch(ctx, b); err != nil {
		t.Fatalf("pluginstest: starting %s: %v", b.Name(), err)
	}
	return b
}

// TestBuild builds the plugin main package pkg (an import path, or a
// directory such as "." or "./cmd/transportkit-backend-mine") with go
// build into a temporary directory of t, as transportkit-backend-NAME, and
// returns the binary's path. The test fails if the build does.
func TestBuild(t testing.TB, pkg, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path, err := Build(ctx, pkg, name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Build builds the plugin main package pkg with go build, from the
// current directory's module, into dir as transportkit-backend-NAME with
// mode 0755 (whatever the umask), and returns the binary's path. Tests
// that share one build among many call it from TestMain. dir must pass
// the trust rules (owned by the user, not writable by group or others),
// as t.TempDir() and os.MkdirTemp directories do.
func Build(ctx context.Context, pkg, name, dir string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	out := filepath.Join(dir, registry.PluginBinaryPrefix+name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pluginstest: go build %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return "", err
	}
	return out, nil
}

// validName returns an error for a name that cannot be a plugin's.
func validName(name string) error {
	if !plugins.ValidName(name) {
		return fmt.Errorf("pluginstest: %q is not a plugin name: use letters, digits, '.', '_' and '-'", name)
	}
	return nil
}
