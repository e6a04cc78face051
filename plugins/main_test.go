//go:build linux

package plugins_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	_ "github.com/transportkit/transportkit/backends/epoll" // the default in-process backend on Linux, which runs handed-off sockets
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// The test binary doubles as the plugin the subprocess tests launch:
// TestMain installs it in a temporary directory as transportkit-backend-test,
// and a copy started with envTestPlugin set serves testServeConfig instead
// of running tests. A copy started with envSleeper set just sleeps: the
// plugin's child process in the tests that count processes.
const (
	envTestPlugin = "TRANSPORTKIT_TEST_PLUGIN"
	envSleeper    = "TRANSPORTKIT_TEST_SLEEPER"
	envServer     = "TRANSPORTKIT_TEST_SERVER" // see serverProcess
	envHost       = "TRANSPORTKIT_TEST_HOST"   // see runHost
	// envStall makes the test plugin stall while it starts: "handshake"
	// before it calls Serve, "open" in its backend's Open, after starting
	// a child process. It then writes its pid (and the child's) to the
	// file envPIDFile names.
	envStall   = "TRANSPORTKIT_TEST_STALL"
	envPIDFile = "TRANSPORTKIT_TEST_PID_FILE"
	// envDialer makes the test plugin serve a dial function with
	// ServeDialer, under the name it holds.
	envDialer = "TRANSPORTKIT_TEST_DIALER"
)

// testPluginPath is the test plugin binary, set by TestMain.
var testPluginPath string

// waitLimit bounds every wait in these tests; reaching it means a hang.
const waitLimit = 20 * time.Second

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envHost) != "":
		os.Exit(runHost(os.Getenv(envHost)))
	case os.Getenv(envServer) != "":
		os.Exit(runServer(os.Getenv(envServer)))
	case os.Getenv(envDialer) != "":
		plugins.ServeDialer(os.Getenv(envDialer), openDialer)
	case os.Getenv(envSleeper) != "":
		time.Sleep(time.Hour)
		os.Exit(0)
	case os.Getenv(envTestPlugin) != "":
		if os.Getenv(envStall) == "handshake" {
			stall()
		}
		if err := plugins.Serve(testServeConfig()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Setenv(envTestPlugin, "1") // for the copies the tests launch
	// The leak check needs no exceptions: once a plugin client is killed,
	// go-plugin and gRPC leave no goroutine behind, and the one
	// go-plugin's broker would keep for 5s per advertised listener is not
	// started, since the host takes the advertisement (see drainBroker).
	os.Exit(pluginstest.Main(m, func(_ context.Context, dir string) (err error) {
		testPluginPath, err = pluginstest.Install(dir, "test")
		return err
	}))
}

// runHost is a host process for the tests that kill one: it launches the
// plugin at path and waits for it to start (which the plugin, told by
// envStall, never completes).
func runHost(path string) int {
	os.Unsetenv(envHost) // not for the plugin, which is this binary too
	b, err := plugins.Open(plugins.Plugin{Name: "test", Path: path, StartTimeout: 2 * time.Minute}, transport.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer b.Close()
	if _, err := b.Describe(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// stall writes this process's pid and those of extra to the file
// envPIDFile names, then sleeps for longer than any test waits.
func stall(extra ...int) {
	pids := fmt.Sprint(append([]int{os.Getpid()}, extra...))
	tmp := os.Getenv(envPIDFile) + ".tmp"
	if err := os.WriteFile(tmp, []byte(pids), 0o644); err == nil {
		os.Rename(tmp, os.Getenv(envPIDFile))
	}
	time.Sleep(3 * time.Minute)
}

// copyFile copies the file src to dst with mode (whatever the umask).
func copyFile(src, dst string, mode os.FileMode) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return "", err
	}
	return dst, os.Chmod(dst, mode)
}

// testConfig is the test plugin's Options.Config.
type testConfig struct {
	// Bytes hides the descriptors of sockets, so streams take the byte
	// path: "all" of them, or those of "unix" sockets only. If empty,
	// none.
	Bytes string `json:"bytes"`
	// Spawn starts a child process when the backend opens.
	Spawn bool `json:"spawn"`
	// TLS makes the backend do its own TLS (transport.TLSDialer).
	TLS bool `json:"tls"`
	// Log is logged at Info when the backend opens.
	Log string `json:"log"`
}

func testServeConfig() plugins.ServeConfig {
	return plugins.ServeConfig{
		Name:         "test",
		Version:      "v0.0.1-test",
		Description:  "stdnet in a plugin, for the plugins package's tests",
		Capabilities: []registry.Capability{"tcp", "unix"},
		Open:         openTestBackend,
	}
}

func openTestBackend(opts transport.Options) (transport.Backend, error) {
	var cfg testConfig
	if len(opts.Config) > 0 {
		dec := json.NewDecoder(bytes.NewReader(opts.Config))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("test plugin config: %w", err)
		}
	}
	if cfg.Log != "" {
		opts.Log().Info(cfg.Log)
	}
	inner := opts
	inner.Config = nil
	base, err := stdnet.Open(inner)
	if err != nil {
		return nil, err
	}
	tb := &testBackend{Backend: base, cfg: cfg}
	if cfg.Spawn {
		tb.child = exec.Command(os.Args[0])
		tb.child.Env = append(os.Environ(), envSleeper+"=1")
		tb.child.Stderr = os.Stderr
		if err := tb.child.Start(); err != nil {
			return nil, err
		}
	}
	if os.Getenv(envStall) == "open" {
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), envSleeper+"=1")
		if err := child.Start(); err != nil {
			return nil, err
		}
		stall(child.Process.Pid)
	}
	if cfg.TLS {
		return &tlsTestBackend{tb}, nil
	}
	return tb, nil
}

// testBackend is stdnet with test hooks: dialing "panic" panics, and
// streams can hide their descriptors.
type testBackend struct {
	transport.Backend
	cfg   testConfig
	child *exec.Cmd
}

func (b *testBackend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	if address == "panic" {
		panic("test plugin asked to panic")
	}
	s, err := b.Backend.Dial(ctx, network, address)
	if err != nil || (b.cfg.Bytes != "all" && (b.cfg.Bytes != "unix" || network != "unix")) {
		return s, err
	}
	return noFD{s}, nil
}

func (b *testBackend) Close() error {
	if b.child != nil {
		b.child.Process.Kill()
		b.child.Wait()
	}
	return b.Backend.Close()
}

// tlsTestBackend does its TLS in the plugin.
type tlsTestBackend struct{ *testBackend }

func (b *tlsTestBackend) DialTLS(ctx context.Context, network, address string, cfg *tls.Config) (transport.Stream, error) {
	s, err := b.testBackend.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return transport.StartTLS(ctx, s, cfg)
}

// noFD hides a stream's descriptor.
type noFD struct{ transport.Stream }

func (s noFD) Info(key transport.InfoKey) (any, bool) {
	if key == transport.InfoFD {
		return nil, false
	}
	return s.Stream.Info(key)
}

// dialerConfig is the config of the ServeDialer plugin.
type dialerConfig struct {
	// Refuse makes open fail with it.
	Refuse string
}

// openDialer is the ServeDialer plugin's open: it dials directly.
func openDialer(cfg dialerConfig, direct plugins.DialFunc) (plugins.DialFunc, error) {
	if cfg.Refuse != "" {
		return nil, errors.New(cfg.Refuse)
	}
	return direct, nil
}

// configJSON encodes a test plugin config.
func configJSON(t testing.TB, cfg testConfig) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openSubprocess opens the test plugin binary with cfg; the backend is
// closed when t ends.
func openSubprocess(t testing.TB, cfg testConfig, opts transport.Options) *plugins.Backend {
	t.Helper()
	opts.Config = configJSON(t, cfg)
	b, err := plugins.Open(plugins.Plugin{Name: "test", Path: testPluginPath}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dialTimeout is a context for one dial.
func dialCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

var _ = strings.Contains
