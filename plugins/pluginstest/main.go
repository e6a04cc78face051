package pluginstest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
)

// BuildTimeout bounds the builds of Main's setup.
const BuildTimeout = 5 * time.Minute

// Main is the body of TestMain for a package whose tests launch plugin
// binaries. It makes a directory that passes the plugin trust rules and
// calls setup with it and a context that ends after BuildTimeout: setup
// builds the plugins there with Build (or Install), or keeps the
// directory for builds later. Then it runs the tests, ends the plugin
// processes still running (plugins.Cleanup), removes the directory, and
// fails the run if a goroutine outlived the tests, whatever their
// outcome (a failure must not hide a leak). It returns the code for
// os.Exit:
//
//	var pluginPath string
//
//	func TestMain(m *testing.M) {
//		os.Exit(pluginstest.Main(m, func(ctx context.Context, dir string) (err error) {
//			pluginPath, err = pluginstest.Build(ctx, "./transportkit-backend-mine", "mine", dir)
//			return err
//		}))
//	}
//
// A setup error is printed and ends the run with code 1 before any test.
func Main(m *testing.M, setup func(ctx context.Context, dir string) error) int {
	return runMain(m, setup, os.Stderr)
}

// testRunner is what Main needs of a testing.M.
type testRunner interface{ Run() int }

// runMain is Main, with its errors written to stderr.
func runMain(m testRunner, setup func(ctx context.Context, dir string) error, stderr io.Writer) int {
	dir, err := os.MkdirTemp("", "pluginstest-")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	err = setup(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	code := m.Run()
	plugins.Cleanup()
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(stderr, "goleak:", err)
		return 1
	}
	return code
}

// Install copies the running executable into dir as the plugin binary
// transportkit-backend-NAME (mode 0755) and returns its path: for a test
// binary or a program that serves a plugin itself when started so.
func Install(dir, name string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, registry.PluginBinaryPrefix+name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		return "", err
	}
	return path, os.Chmod(path, 0o755)
}

// BuildPlugin returns a setup for Main that builds the plugin main
// package pkg as the plugin name into Main's directory (see Build),
// stores the binary's path in *path and puts the directory on the plugin
// search path (registry.EnvPluginPath), for tests that open the plugin by
// its name:
//
//	os.Exit(pluginstest.Main(m, pluginstest.BuildPlugin("./transportkit-backend-mine", "mine", &pluginPath)))
func BuildPlugin(pkg, name string, path *string) func(ctx context.Context, dir string) error {
	return func(ctx context.Context, dir string) (err error) {
		os.Setenv(registry.EnvPluginPath, dir)
		*path, err = Build(ctx, pkg, name, dir)
		return err
	}
}
