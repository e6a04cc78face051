package plugins

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// TestBackend serves cfg's backend in this process, through go-plugin's
// gRPC test connection, and returns the host's Backend for it. Streams
// take the same paths as with a plugin process (the handoff channel and
// the broker's byte streams included), so a plugin author can run
// package transporttest against a plugin without building it:
//
//	b := plugins.TestBackend(t, myServeConfig, transport.Options{})
//	transporttest.TestStream(t, transporttest.TCPPipe(b))
//
// The plugin is started now and the Backend is closed when t ends. It is
// never relaunched: after it stops, Dials fail. The test fails at once if
// cfg is incomplete or the plugin does not open.
func TestBackend(t testing.TB, cfg ServeConfig, opts transport.Options) *Backend {
	t.Helper()
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	if err := checkOptions(opts); err != nil {
		t.Fatal(err)
	}
	if errPlatform != nil {
		t.Skip(errPlatform)
	}
	name := registry.PluginPrefix + cfg.Name
	b := newBackend(name, opts)
	t.Cleanup(func() { b.Close() })
	inst, err := startInProcess(t, cfg, name, b)
	if err == nil {
		err = b.openInstance(context.Background(), inst)
	}
	if err != nil {
		t.Fatalf("plugins: starting %s in-process: %v", name, err)
	}
	b.launch = func(context.Context) (*instance, error) {
		return nil, fmt.Errorf("plugins: %s runs in-process and cannot be relaunched", name)
	}
	b.mu.Lock()
	b.inst = inst
	b.mu.Unlock()
	return b
}

// startInProcess connects a host instance to a server for cfg in this
// process.
func startInProcess(t testing.TB, cfg ServeConfig, name string, b *Backend) (*instance, error) {
	host, peer, err := handoffPair()
	if err != nil {
		return nil, err
	}
	pc, err := fileUnixConn(peer)
	if err != nil {
		host.Close()
		return nil, err
	}
	srv := newServer(cfg, b.log.Named(cfg.Name), pc)
	client, gs := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{pluginKey: &grpcPlugin{srv: srv}})
	inst := newInstance(name)
	inst.handoff = newReceiver(host, b.log)
	inst.stopFn = func() {
		// The server first: closing the client first asks the server to
		// stop from one of its own goroutines, which races with Stop in
		// go-plugin v1.8.0.
		gs.Stop()
		client.Close()
		srv.shutdown()
		inst.handoff.close()
	}
	raw, err := client.Dispense(pluginKey)
	cc, ok := raw.(*controlClient)
	if err != nil || !ok {
		inst.stop()
		return nil, fmt.Errorf("plugins: dispensing %s: %v (%T)", pluginKey, err, raw)
	}
	inst.conn, inst.broker = cc.conn, cc.broker
	return inst, nil
}

// TestBuild builds the plugin main package pkg (an import path, or a
// directory such as "./cmd/transportkit-backend-mine") with go build into
// a temporary directory of t, as transportkit-backend-NAME, and returns
// the binary's path. The test fails if the build does.
func TestBuild(t testing.TB, pkg, name string) string {
	t.Helper()
	path, err := Build(context.Background(), pkg, name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Build builds the plugin main package pkg with go build, from the
// current directory's module, into dir as transportkit-backend-NAME with
// mode 0755 (whatever the umask), and returns the binary's path. Tests
// that share one build among many call it from TestMain.
func Build(ctx context.Context, pkg, name, dir string) (string, error) {
	if _, ok := pluginName(registry.PluginBinaryPrefix + name); !ok {
		return "", fmt.Errorf("plugins: %q is not a plugin name", name)
	}
	out := filepath.Join(dir, registry.PluginBinaryPrefix+name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("plugins: go build %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return "", err
	}
	return out, nil
}
