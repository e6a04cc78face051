//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// The example SOCKS5 plugin, built once per test binary by testPlugin.
const socks5Pkg = "../../examples/plugins/socks5/transportkit-backend-socks5"

var testPluginBuild struct {
	once sync.Once
	dir  string // holds the binary and nothing else
	path string
	err  error
}

// testPlugin builds the example SOCKS5 plugin (once) and returns its
// directory, ready for TRANSPORTKIT_PLUGIN_PATH, and its path. A failed
// build fails the test: these tests never skip.
func testPlugin(t *testing.T) (dir, path string) {
	t.Helper()
	b := &testPluginBuild
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "transportctl-plugin-")
		if b.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		b.path, b.err = pluginstest.Build(ctx, socks5Pkg, "socks5", b.dir)
		if b.err == nil {
			b.err = os.Chmod(b.path, 0o755)
		}
	})
	if b.err != nil {
		t.Fatalf("building the test plugin: %v", b.err)
	}
	return b.dir, b.path
}

// cleanupTestPlugin removes the test plugin's directory, if it was built.
func cleanupTestPlugin() {
	if testPluginBuild.dir != "" {
		os.RemoveAll(testPluginBuild.dir)
	}
	cleanupSlowBuild()
}

// descendants returns the pids of the processes this one started, and
// theirs, from /proc.
func descendants(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	for queue := []int{os.Getpid()}; len(queue) > 0; queue = queue[1:] {
		out = append(out, children[queue[0]]...)
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// noChildren fails t unless this process has no child process left,
// waiting a little for ended ones to be reaped.
func noChildren(t *testing.T) {
	t.Helper()
	var left []int
	defer func() {
		if len(left) > 0 {
			t.Errorf("child processes left behind: %v", left)
		}
	}()
	testenv.Eventually(t, 10*time.Second, func() bool {
		left = descendants(t)
		return len(left) == 0
	})
}

// copyPlugin copies the plugin binary at src into a new directory of t
// under the same name, with mode, and returns the directory and path.
func copyPlugin(t *testing.T, src string, mode os.FileMode) (dir, path string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return dir, path
}

// listJSON runs list --json with args before it and returns the infos
// by name.
func listJSON(t *testing.T, args ...string) map[string]registry.Info {
	t.Helper()
	code, out, errOut := cli(t, append(args, "list", "--json")...)
	if code != exitOK {
		t.Fatalf("list --json: exit %d, stderr %s", code, errOut)
	}
	var infos []registry.Info
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	m := map[string]registry.Info{}
	for _, in := range infos {
		m[in.Name] = in
	}
	return m
}

// tableRow returns the line of a table that starts with name and the
// column separator, or "".
func tableRow(out, name string, nth int) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, name+" ") {
			if nth == 0 {
				return strings.TrimSpace(l)
			}
			nth--
		}
	}
	return ""
}

func TestListPlugin(t *testing.T) {
	noEnv(t)
	dir, path := testPlugin(t)
	t.Setenv(registry.EnvPluginPath, dir)
	const name = registry.PluginPrefix + "socks5"

	code, out, errOut := cli(t, "list")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if row := strings.Fields(tableRow(out, name, 0)); len(row) < 3 || row[1] != string(registry.KindPlugin) || row[2] != "yes" {
		t.Errorf("backend row %q, want kind plugin, available:\n%s", row, out)
	}
	if !strings.Contains(out, "PLUGIN ") || !strings.Contains(out, "CHECKSUM") {
		t.Errorf("no plugin table:\n%s", out)
	}
	if row := strings.Fields(tableRow(out, name, 1)); len(row) != 5 || row[1] != "(devel)" || row[2] != plugins.ChecksumUnpinned || row[3] != path || row[4] != "-" {
		t.Errorf("plugin row %q, want version (devel), unpinned, %s, not refused:\n%s", row, path, out)
	}

	in := listJSON(t)[name]
	if in.Kind != registry.KindPlugin || !in.Available || in.Details["path"] != path || in.Details["version"] == "" ||
		in.Details["checksum"] != plugins.ChecksumUnpinned || in.Details["refused"] != "" {
		t.Errorf("list --json: %+v, want an available plugin at %s, unpinned", in, path)
	}

	sum, err := plugins.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	pinned := writeFile(t, `{"plugins": {"checksums": {"socks5": "`+sum+`"}}, `+socks5Section+`}`)
	if in := listJSON(t, "--config", pinned)[name]; !in.Available || in.Details["checksum"] != plugins.ChecksumOK || in.Details["sha256"] != sum {
		t.Errorf("pinned right: %+v, want checksum ok", in)
	}

	wrong := writeFile(t, `{"plugins": {"checksums": {"socks5": "`+strings.Repeat("0", 64)+`"}}}`)
	in = listJSON(t, "--config", wrong)[name]
	if in.Available || in.Details["checksum"] != plugins.ChecksumMismatch || !strings.Contains(in.Details["refused"], "checksum mismatch") {
		t.Errorf("pinned wrong: %+v, want unavailable, checksum mismatch, refused", in)
	}
	code, out, _ = cli(t, "--config", wrong, "list")
	if row := tableRow(out, name, 1); code != exitOK || !strings.Contains(row, " "+plugins.ChecksumMismatch+" ") || !strings.Contains(row, "refusing to start it") {
		t.Errorf("exit %d, plugin row %q, want the mismatch and the refusal:\n%s", code, row, out)
	}
	noChildren(t) // list starts no plugin
}

// TestListPluginDirs finds plugins through the config file's plugins.dirs
// too, and lists a group-writable binary as refused.
func TestListPluginDirs(t *testing.T) {
	noEnv(t)
	_, path := testPlugin(t)
	dir, unsafe := copyPlugin(t, path, 0o775)
	cfg := writeFile(t, `{"plugins": {"dirs": [`+strconv.Quote(dir)+`]}}`)
	in := listJSON(t, "--config", cfg)[registry.PluginPrefix+"socks5"]
	if in.Available || in.Details["path"] != unsafe || !strings.Contains(in.Details["refused"], "group or others") ||
		!strings.Contains(in.Reason, "group or others") {
		t.Errorf("group-writable plugin: %+v, want refused", in)
	}
}

// socks5Section is a config section the example SOCKS5 plugin takes: it
// needs a proxy, which verify never dials.
const socks5Section = `"backends": {"plugin:socks5": {"proxy": "127.0.0.1:1080"}}`

// socks5Config points TRANSPORTKIT_CONFIG at a config file with
// socks5Section, as a user of the plugin has, and returns its path.
func socks5Config(t *testing.T) string {
	t.Helper()
	p := writeFile(t, `{`+socks5Section+`}`)
	t.Setenv(registry.EnvConfig, p)
	return p
}

func TestPluginVerify(t *testing.T) {
	transporttest.VerifyNoLeaks(t) // fds and goroutines
	noEnv(t)
	socks5Config(t)
	_, path := testPlugin(t)
	sum, err := plugins.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli(t, "plugin", "verify", path)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, w := range []string{"plugin:socks5", "socks5", "tcp,unix", "handoff", path, sum + " (unpinned)", "verified"} {
		if !strings.Contains(out, w) {
			t.Errorf("verify output lacks %q:\n%s", w, out)
		}
	}

	code, out, errOut = cli(t, "plugin", "verify", "--json", "--sha256", strings.ToUpper(sum), "--timeout", "30s", path)
	var d plugins.Description
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != exitOK {
		t.Fatalf("exit %d, stderr %s, JSON error %v:\n%s", code, errOut, err, out)
	}
	if d.Name != "socks5" || !slices.Contains(d.Capabilities, registry.CapTCP) || !d.Handoff || d.Protocol < 1 || d.Path != path || d.SHA256 != sum {
		t.Errorf("description %+v", d)
	}

	pinned := writeFile(t, `{"plugins": {"checksums": {"socks5": "`+sum+`"}}, `+socks5Section+`}`)
	if code, out, errOut = cli(t, "--config", pinned, "plugin", "verify", path); code != exitOK || !strings.Contains(out, "matches the pin") {
		t.Errorf("config pin: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	noChildren(t)
}

func TestPluginVerifyRefused(t *testing.T) {
	noEnv(t)
	socks5Config(t)
	_, path := testPlugin(t)
	_, unsafe := copyPlugin(t, path, 0o775)
	// A plugin that fails before its handshake: a script that carries
	// the handshake's key, as every plugin binary does, then exits.
	script := filepath.Join(t.TempDir(), "transportkit-backend-quits")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n# "+plugins.Handshake.MagicCookieKey+"\necho going away >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("0", 64)
	wrongCfg := writeFile(t, `{"plugins": {"checksums": {"socks5": "`+wrong+`"}}, `+socks5Section+`}`)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"group-writable", []string{"plugin", "verify", unsafe}, "lets group or others write the binary"},
		{"checksum flag", []string{"plugin", "verify", "--sha256", wrong, path}, "checksum mismatch"},
		{"checksum config", []string{"--config", wrongCfg, "plugin", "verify", path}, "checksum mismatch"},
		{"exits", []string{"plugin", "verify", "--timeout", "20s", script}, "exit status 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, tt.args...)
			if code != exitFailure || out != "" || !strings.Contains(errOut, "failed verification") || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, tt.want)
			}
		})
	}
	noChildren(t)
}

// TestProbePlugin probes the embedded server through the SOCKS5 plugin and
// a SOCKS5 proxy in this process: alone, and among every backend.
func TestProbePlugin(t *testing.T) {
	transporttest.VerifyNoLeaks(t) // fds and goroutines
	noEnv(t)
	dir, _ := testPlugin(t)
	t.Setenv(registry.EnvPluginPath, dir)
	const name = registry.PluginPrefix + "socks5"
	cfg := writeFile(t, `{"backends": {"plugin:socks5": {"proxy": "`+startSOCKS5(t)+`"}}}`)

	code, out, errOut := cli(t, "--config", cfg, "probe", "--json")
	rows := decodeRows(t, out)
	if r := rows[name]; code != exitOK || !r.OK || r.Protocol != "h2" || r.Status != 200 || rows["stdnet"].Protocol != "h2" {
		t.Errorf("probe all: exit %d, rows %+v, stderr %s; want h2 through the plugin too", code, rows, errOut)
	}
	code, out, errOut = cli(t, "--config", cfg, "probe", "--json", "--backend", name, "--count", "2")
	if r := decodeRows(t, out)[name]; code != exitOK || !r.OK || r.Count != 2 {
		t.Errorf("probe %s: exit %d, row %+v, stderr %s", name, code, r, errOut)
	}
	// Without its config section the plugin refuses to open: a failed
	// row, and a config error (exit 2), as verify reports it.
	code, out, _ = cli(t, "probe", "--json", "--backend", name)
	if r := decodeRows(t, out)[name]; code != exitUsage || r.OK || !strings.Contains(r.Error, "socks5 config") {
		t.Errorf("unconfigured: exit %d, row %+v; want a failure naming the config", code, r)
	}
	noChildren(t)
}

// startSOCKS5 starts a SOCKS5 proxy (no authentication, CONNECT only) on
// 127.0.0.1; it stops when t ends.
func startSOCKS5(t *testing.T) string {
	return testenv.Serve(t, nil, serveSOCKS5)
}

// serveSOCKS5 serves one SOCKS5 client connection.
func serveSOCKS5(c net.Conn) {
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	c.SetDeadline(deadline)
	buf := make([]byte, 262)
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	if _, err := c.Write([]byte{5, 0}); err != nil { // no authentication
		return
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 { // CONNECT
		return
	}
	var host string
	switch buf[3] {
	case 1, 4:
		n := 4
		if buf[3] == 4 {
			n = 16
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		host = net.IP(buf[:n]).String()
	case 3:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return
		}
		n := int(buf[0])
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		host = string(buf[:n])
	default:
		return
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(buf[:2]))))
	target, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	defer target.Close()
	target.SetDeadline(deadline)
	if _, err := c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyNoSplice(target, c)
		target.Close()
	}()
	copyNoSplice(c, target)
	c.Close()
	<-done
}

// copyNoSplice copies src to dst through a plain buffer. io.Copy between
// two TCP connections would splice(2) through pipes that package
// internal/poll caches in a sync.Pool and closes only when the garbage
// collector empties the pool: two pipe pairs that the fd check of
// TestProbePlugin would count as leaked. Hiding io.ReaderFrom and
// io.WriterTo keeps io.CopyBuffer off splice.
func copyNoSplice(dst io.Writer, src io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 32<<10))
}

// TestPluginVerifyConfig: verify opens the plugin's backend with its
// section of the config file, as a launch does, so a config the plugin
// refuses (or needs and lacks) fails verify with a message that names the
// file, the section and the plugin's reason, and exit 2.
func TestPluginVerifyConfig(t *testing.T) {
	noEnv(t)
	_, path := testPlugin(t)
	unknown := writeFile(t, `{"backends": {"plugin:socks5": {"proxy": "127.0.0.1:1080", "proxxy": "x"}}}`)
	missing := writeFile(t, `{"backends": {"plugin:socks5": {"username": "u"}}}`)
	noSection := writeFile(t, `{"backends": {"epoll": {}}}`)
	for _, tc := range []struct {
		name string
		args []string
		env  string // TRANSPORTKIT_CONFIG
		want []string
	}{
		{"unknown field", []string{"--config", unknown, "plugin", "verify", path}, "", []string{unknown, `backends."plugin:socks5"`, `"proxxy"`, "unknown field"}},
		{"unknown field from env", []string{"plugin", "verify", path}, unknown, []string{unknown, `"proxxy"`}},
		{"value refused", []string{"--config", missing, "plugin", "verify", path}, "", []string{missing, `"proxy" is required`}},
		{"no section", []string{"--config", noSection, "plugin", "verify", path}, "", []string{noSection, "(absent)", `"proxy" is required`}},
		{"no config file", []string{"plugin", "verify", path}, "", []string{"no config file", `"proxy" is required`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(registry.EnvConfig, tc.env)
			code, out, errOut := cli(t, tc.args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, "failed verification: it refused its config") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and the refusal", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q: %s", w, errOut)
				}
			}
		})
	}
	// The same config, with the field fixed, passes.
	good := writeFile(t, `{`+socks5Section+`}`)
	if code, out, errOut := cli(t, "--config", good, "plugin", "verify", path); code != exitOK || !strings.Contains(out, "verified") {
		t.Errorf("good config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	noChildren(t)
}

// TestPluginVerifyNotPlugin: a PATH that is not a plugin at all is bad
// usage, exit 2, with a message that says so.
func TestPluginVerifyNotPlugin(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		return testenv.WriteFile(t, dir, name, body, mode)
	}
	trueCopy := filepath.Join(dir, "true")
	if data, err := os.ReadFile("/bin/true"); err != nil {
		t.Skipf("no /bin/true: %v", err)
	} else {
		file("true", string(data), 0o755)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"/bin/true", trueCopy, "does not carry the transportkit plugin handshake"},
		{"text file", file("notes.txt", "just text\n", 0o755), "cannot execute it"},
		{"not executable", file("noexec", "#!/bin/sh\n", 0o644), "not executable"},
		{"directory", dir, "a directory"},
		{"no handshake", file("sleeps", "#!/bin/sh\nexec sleep 30\n", 0o755), "did not answer it in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, "plugin", "verify", "--timeout", "1s", tc.path)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tc.path+" is not a transportkit plugin") || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, %q", code, out, errOut, tc.want)
			}
		})
	}
	// A path with nothing at it is a usage error too: exit 2, saying so.
	missing := filepath.Join(dir, "nothing")
	if code, out, errOut := cli(t, "plugin", "verify", missing); code != exitUsage || out != "" || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing path: exit %d, stdout %q, stderr %q; want exit 2 and no such file", code, out, errOut)
	}
	noChildren(t)
}

// TestProbeBenchNotPlugin: a file in a plugin directory that is not a
// plugin, chosen by name or met among every backend, makes probe and bench
// exit 2 with a message that says so.
func TestProbeBenchNotPlugin(t *testing.T) {
	noEnv(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, registry.PluginBinaryPrefix+"fake")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(registry.EnvPluginPath, dir)
	for _, args := range [][]string{
		{"probe", "--backend", "plugin:fake"},
		{"probe", "--json", "--proto", "h1"},
		{"bench", "--backend", "stdnet,plugin:fake", "-c", "1", "-n", "4", "--rounds", "1"},
	} {
		code, _, errOut := cli(t, args...)
		if code != exitUsage || !strings.Contains(errOut, "plugin:fake: ") || !strings.Contains(errOut, fake+" is not a transportkit plugin") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %s is not a plugin", args, code, errOut, fake)
		}
	}
	noChildren(t)
}

// TestPluginConfigRefusedExit: a config section the plugin refuses is a
// bad config file, exit 2, for probe and bench as for verify (the root
// help says so), and the last line says what the plugin refused.
func TestPluginConfigRefusedExit(t *testing.T) {
	noEnv(t)
	dir, _ := testPlugin(t)
	t.Setenv(registry.EnvPluginPath, dir)
	cfg := writeFile(t, `{"backends": {"plugin:socks5": {"proxy": "127.0.0.1:1080", "proxxy": "x"}}}`)
	for _, args := range [][]string{
		{"--config", cfg, "probe", "--backend", "plugin:socks5"},
		{"--config", cfg, "bench", "--backend", "plugin:socks5", "-c", "1", "-n", "2", "--rounds", "1"},
	} {
		code, _, errOut := cli(t, args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		last := lines[len(lines)-1]
		if code != exitUsage || !strings.Contains(last, "refused its options and config") || !strings.Contains(last, "proxxy") {
			t.Errorf("%v: exit %d, last line %q; want exit 2 and the plugin's refusal of proxxy; stderr:\n%s", args[2:], code, last, errOut)
		}
	}
	noChildren(t)
}

// TestVerifyNotPluginOneLine: a file that is not a plugin is reported in
// one line naming what was wrong, at the default --log-level warn:
// go-plugin's own warnings and errors about the launch ("plugin failed to
// exit gracefully" for /bin/true, "plugin process exited ... signal:
// killed" for a program killed at the timeout) and the host's "plugin
// failed to start" do not repeat it first.
func TestVerifyNotPluginOneLine(t *testing.T) {
	noEnv(t)
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no /bin/true:", err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	truePath := testenv.WriteFile(t, dir, "transportkit-backend-true", string(data), 0o755)
	sleeps := testenv.WriteFile(t, dir, "transportkit-backend-sleeps", "#!/bin/sh\nexec sleep 30\n", 0o755)
	t.Setenv(registry.EnvPluginPath, dir)
	for _, args := range [][]string{
		{"plugin", "verify", truePath},
		{"plugin", "verify", "--timeout", "1s", sleeps}, // no handshake, killed at the timeout
		{"probe", "--backend", "plugin:true"},
		{"bench", "-c", "1", "-n", "1", "--rounds", "1", "--backend", "plugin:true"},
	} {
		code, _, errOut := cli(t, args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.Contains(errOut, "not a transportkit plugin") {
			t.Errorf("%v: exit %d, %d lines on stderr, want exit 2 and one line saying it is not a plugin:\n%s", args, code, len(lines), errOut)
		}
	}
	noChildren(t)
}
