//go:build linux

package plugins_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// pluginCopy copies the test plugin into a new directory as
// transportkit-backend-NAME with mode, and returns its path.
func pluginCopy(t testing.TB, name string, mode os.FileMode) string {
	t.Helper()
	path, err := copyFile(testPluginPath, filepath.Join(t.TempDir(), "transportkit-backend-"+name), mode)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func testSum(t testing.TB) string {
	t.Helper()
	sum, err := plugins.FileSHA256(testPluginPath)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestChecksumMismatchRefused(t *testing.T) {
	want := strings.Repeat("ab", 32)
	p := plugins.Plugin{Name: "test", Path: testPluginPath, Checksum: want}
	_, err := plugins.Open(p, transport.Options{})
	if !errors.Is(err, plugins.ErrChecksumMismatch) {
		t.Fatalf("Open with a wrong checksum: %v, want ErrChecksumMismatch", err)
	}
	var ce *plugins.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *plugins.ChecksumError", err)
	}
	if ce.Want != want || ce.Got != testSum(t) || ce.Path != testPluginPath {
		t.Errorf("ChecksumError = %+v, want Want %s, Got the binary's sum, Path %s", ce, want, testPluginPath)
	}
	t.Log(err)

	// The right checksum opens; a binary changed afterwards is refused at
	// launch.
	path := pluginCopy(t, "test", 0o755)
	p = plugins.Plugin{Name: "test", Path: path, Checksum: testSum(t)}
	b, err := plugins.Open(p, transport.Options{})
	if err != nil {
		t.Fatalf("Open with the right checksum: %v", err)
	}
	defer b.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tampered"))
	f.Close()
	if _, err := b.Dial(dialCtx(t), "tcp", "127.0.0.1:1"); !errors.Is(err, plugins.ErrChecksumMismatch) {
		t.Fatalf("Dial after the binary changed: %v, want ErrChecksumMismatch", err)
	}
}

func TestWritableBinaryRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o775, 0o757} {
		path := pluginCopy(t, "test", mode)
		_, err := plugins.Open(plugins.Plugin{Name: "test", Path: path}, transport.Options{})
		if !errors.Is(err, plugins.ErrInsecureBinary) {
			t.Fatalf("Open of a binary with mode %v: %v, want ErrInsecureBinary", mode, err)
		}
		var pe *plugins.PermissionError
		if !errors.As(err, &pe) || pe.Mode != mode || pe.Path != path {
			t.Errorf("error %#v, want a *plugins.PermissionError for %s with mode %v", err, path, mode)
		}
		t.Log(err)
	}

	// Made writable after Open: refused at launch.
	path := pluginCopy(t, "test", 0o755)
	b, err := plugins.Open(plugins.Plugin{Name: "test", Path: path}, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := os.Chmod(path, 0o775); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dial(dialCtx(t), "tcp", "127.0.0.1:1"); !errors.Is(err, plugins.ErrInsecureBinary) {
		t.Fatalf("Dial after the binary became group-writable: %v, want ErrInsecureBinary", err)
	}
}

// script writes an executable shell script named like a plugin.
func script(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transportkit-backend-script")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartTimeout(t *testing.T) {
	before := len(descendants(t))
	path := script(t, "exec sleep 30")
	p := plugins.Plugin{Name: "script", Path: path, StartTimeout: 300 * time.Millisecond}
	b, err := plugins.Open(p, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Dial(dialCtx(t), "tcp", "127.0.0.1:1")
	if !errors.Is(err, plugins.ErrStartTimeout) {
		t.Fatalf("Dial to a plugin that never handshakes: %v, want ErrStartTimeout", err)
	}
	eventually(t, "no descendant left", func() bool { return len(descendants(t)) == before })
}

func TestExitBeforeHandshake(t *testing.T) {
	path := script(t, "echo 'plugin says: cannot start' >&2; exit 3")
	_, err := plugins.Verify(context.Background(), path, plugins.VerifyOptions{})
	if !errors.Is(err, transport.ErrBackendExited) {
		t.Fatalf("Verify of a binary that exits: %v, want ErrBackendExited", err)
	}
	var ee *plugins.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.Output, "cannot start") || !strings.Contains(ee.Status, "exit status 3") {
		t.Errorf("error %#v, want an ExitError with the output and the status", err)
	}
}

func TestVerify(t *testing.T) {
	desc, err := plugins.Verify(context.Background(), testPluginPath, plugins.VerifyOptions{Checksum: testSum(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := plugins.Description{
		Name:         "test",
		Version:      "v0.0.1-test",
		Description:  testServeConfig().Description,
		Capabilities: []registry.Capability{"tcp", "unix"},
		Handoff:      true,
		Protocol:     plugins.ProtocolVersion,
		Path:         testPluginPath,
		SHA256:       testSum(t),
	}
	if !equalDesc(*desc, want) {
		t.Errorf("Verify = %+v, want %+v", *desc, want)
	}

	_, err = plugins.Verify(context.Background(), testPluginPath, plugins.VerifyOptions{Checksum: strings.Repeat("0", 64)})
	if !errors.Is(err, plugins.ErrChecksumMismatch) {
		t.Errorf("Verify with a wrong checksum: %v, want ErrChecksumMismatch", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := plugins.Verify(ctx, testPluginPath, plugins.VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a canceled context: %v, want context.Canceled", err)
	}
}

// TestVerifyAnyName: Verify takes a binary whatever its name, and the
// plugin names itself.
func TestVerifyAnyName(t *testing.T) {
	path, err := copyFile(testPluginPath, filepath.Join(t.TempDir(), "my-plugin"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := plugins.Verify(context.Background(), path, plugins.VerifyOptions{Logger: hclog.NewNullLogger(), StartTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != "test" || desc.Path != path {
		t.Errorf("Verify = %+v", desc)
	}
	if _, err := plugins.Verify(context.Background(), filepath.Join(t.TempDir(), "none"), plugins.VerifyOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Verify of a missing binary: %v", err)
	}
}

func equalDesc(a, b plugins.Description) bool {
	return a.Name == b.Name && a.Version == b.Version && a.Description == b.Description &&
		slices.Equal(a.Capabilities, b.Capabilities) &&
		a.Handoff == b.Handoff && a.Protocol == b.Protocol && a.Path == b.Path && a.SHA256 == b.SHA256
}

func TestDescribe(t *testing.T) {
	b := openSubprocess(t, testConfig{}, transport.Options{})
	desc, err := b.Describe(dialCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Name != "test" || desc.Protocol != plugins.ProtocolVersion || desc.Path != testPluginPath || !desc.Handoff {
		t.Errorf("Describe = %+v", desc)
	}
	// The process is executed from a descriptor, but is named after its
	// binary, as if executed by path: in its argv and its comm (which
	// ps -e, pgrep and top show; the kernel keeps 15 bytes of it).
	proc := "/proc/" + strconv.Itoa(plugins.PID(b))
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); err != nil || argv0 != testPluginPath {
		t.Errorf("the plugin's argv[0] is %q (%v), want %s", argv0, err, testPluginPath)
	}
	comm, err := os.ReadFile(proc + "/comm")
	if want := "transportkit-backend-test"[:15]; err != nil || strings.TrimSpace(string(comm)) != want {
		t.Errorf("the plugin's comm is %q (%v), want %q", comm, err, want)
	}
}

func TestRegistry(t *testing.T) {
	dir := filepath.Dir(pluginCopy(t, "test", 0o755))
	badDir := filepath.Dir(pluginCopy(t, "writable", 0o775))
	t.Setenv(registry.EnvPluginPath, dir+string(filepath.ListSeparator)+badDir)

	infos, err := registry.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]registry.Info{}
	for _, in := range infos {
		byName[in.Name] = in
	}
	in, ok := byName["plugin:test"]
	if !ok {
		t.Fatalf("registry.List has no plugin:test: %+v", infos)
	}
	if in.Kind != registry.KindPlugin || !in.Available || in.Details["path"] != filepath.Join(dir, "transportkit-backend-test") ||
		in.Details["checksum"] != plugins.ChecksumUnpinned || in.Details["version"] == "" {
		t.Errorf("plugin:test listed as %+v", in)
	}
	bad, ok := byName["plugin:writable"]
	if !ok || bad.Available || bad.Details["refused"] == "" {
		t.Errorf("plugin:writable listed as %+v, want unavailable and refused", bad)
	}

	echo := listenTCP(t)
	echoServer(t, echo)
	be, err := registry.Open("plugin:test", transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	s, err := be.Dial(dialCtx(t), "tcp", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s, "through the registry")
	s.Close()

	// A pinned checksum: listed as ok or mismatch; a mismatch refuses.
	for _, tc := range []struct {
		sum    string
		status string
	}{{testSum(t), plugins.ChecksumOK}, {strings.Repeat("0", 64), plugins.ChecksumMismatch}} {
		cfg := &registry.Config{Plugins: registry.PluginConfig{Checksums: map[string]string{"test": tc.sum}}}
		infos, err := registry.List(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			if in.Name == "plugin:test" && in.Details["checksum"] != tc.status {
				t.Errorf("checksum detail = %q, want %q", in.Details["checksum"], tc.status)
			}
		}
		_, _, err = registry.Select(registry.Selection{Name: "plugin:test", Config: cfg})
		if tc.status == plugins.ChecksumMismatch && !errors.Is(err, plugins.ErrChecksumMismatch) {
			t.Errorf("Select with a mismatched checksum: %v, want ErrChecksumMismatch", err)
		}
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"transportkit-backend-a":     0o755,
		"transportkit-backend-b":     0o644, // not executable: skipped
		"transportkit-backend-":      0o755, // no name
		"transportkit-backend-b@d":   0o755, // bad name
		"something-else":             0o755,
		"transportkit-backend-z.1_x": 0o755,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, name), mode)
	}
	os.Mkdir(filepath.Join(dir, "transportkit-backend-dir"), 0o755)
	shadow := t.TempDir()
	os.WriteFile(filepath.Join(shadow, "transportkit-backend-a"), []byte("#!/bin/sh\n"), 0o755)

	found, err := plugins.Discover(registry.PluginConfig{
		Dirs:         []string{dir, filepath.Join(dir, "missing"), shadow},
		Checksums:    map[string]string{"a": "ABCD"},
		StartTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range found {
		names = append(names, p.Name)
		if p.Name == "a" && (p.Path != filepath.Join(dir, "transportkit-backend-a") || p.Checksum != "abcd" || p.StartTimeout != time.Second) {
			t.Errorf("plugin a = %+v", p)
		}
	}
	if got := strings.Join(names, ","); got != "a,z.1_x" {
		t.Errorf("found %s, want a,z.1_x", got)
	}

	// A directory that cannot be read is an error; what was found
	// elsewhere still is.
	file := filepath.Join(dir, "transportkit-backend-a")
	found, err = plugins.Discover(registry.PluginConfig{Dirs: []string{file, dir}})
	if err == nil || len(found) != 2 {
		t.Errorf("Discover with a file as a directory: %d found, error %v; want 2 and an error", len(found), err)
	}
}

func TestOpenRefusesOptions(t *testing.T) {
	p := plugins.Plugin{Name: "test", Path: testPluginPath}
	for _, opts := range []transport.Options{
		{Resolver: &net.Resolver{}},
	} {
		if _, err := plugins.Open(p, opts); !errors.Is(err, transport.ErrUnsupported) {
			t.Errorf("Open with %+v: %v, want ErrUnsupported", opts, err)
		}
	}
	_, err := plugins.Open(plugins.Plugin{Name: "missing", Path: filepath.Join(t.TempDir(), "nope")}, transport.Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing binary: %v, want os.ErrNotExist", err)
	}
}

func TestPluginLogs(t *testing.T) {
	// go-plugin's own messages, on the host's side and the plugin's.
	chatter := []string{"waiting for RPC address", "using plugin", "plugin address", "plugin process exited"}
	for _, level := range []hclog.Level{hclog.Debug, hclog.Trace} {
		t.Run(level.String(), func(t *testing.T) {
			logs := &syncBuffer{}
			log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: level, Name: "host"})
			b := openSubprocess(t, testConfig{Log: "hello from the plugin"}, transport.Options{Logger: log})
			if _, err := b.Describe(dialCtx(t)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the plugin's log line in the host's log", func() bool {
				return strings.Contains(logs.String(), "hello from the plugin")
			})
			b.Close()
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "hello from the plugin") && !strings.Contains(line, "[INFO]  host.plugin:test:") {
					t.Errorf("plugin log line %q is not at Info under the plugin's name", line)
				}
			}
			for _, msg := range chatter {
				if got := strings.Contains(logs.String(), msg); got != (level == hclog.Trace) {
					t.Errorf("at level %v, go-plugin's %q logged: %v\n%s", level, msg, got, logs)
				}
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				for _, msg := range chatter {
					if strings.Contains(line, msg) && !strings.Contains(line, "[TRACE]") {
						t.Errorf("go-plugin's message not at Trace: %q", line)
					}
				}
			}
		})
	}
}
