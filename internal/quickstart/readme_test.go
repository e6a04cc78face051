package quickstart

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
)

// envNested marks the environment of the commands a block runs, so that a
// block running the tests of this package does not recurse.
const envNested = "TRANSPORTKIT_QUICKSTART_NESTED"

// blockTimeout bounds one block: a fresh build of a plugin and its tests
// under the race detector, on a shared two-core machine.
const blockTimeout = 5 * time.Minute

// block is one fenced shell block of a README.
type block struct {
	file string // relative to the module root
	line int    // of the opening fence
	text string
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// shellBlocks returns the fenced blocks of the Markdown in r whose info
// string is sh, bash or empty, in order.
func shellBlocks(file string, r io.Reader) ([]block, error) {
	var out []block
	var cur *block
	var body strings.Builder
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			info := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
			cur = &block{file: file, line: n}
			body.Reset()
			if info != "" && info != "sh" && info != "bash" && info != "shell" {
				cur.line = -n // not a shell block: read past it
			}
		case cur != nil && trimmed == "```":
			if cur.line > 0 {
				cur.text = body.String()
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: fenced block never closed", file, abs(cur.line))
	}
	return out, sc.Err()
}

func abs(n int) int { return max(n, -n) }

// readmeBlocks returns what the test runs: the first shell block of
// README.md, then every shell block of each README.md under examples/.
func readmeBlocks(t *testing.T, root string) []block {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	top, err := shellBlocks("README.md", f)
	if err != nil || len(top) == 0 {
		t.Fatalf("README.md: no quickstart block (%v)", err)
	}
	quick, tests := splitTestCommands(top[0])
	checkCICommands(t, root, tests)
	blocks := []block{quick}
	err = filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "README.md" {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		bs, err := shellBlocks(rel, f)
		blocks = append(blocks, bs...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// splitTestCommands takes the `go test` lines out of the README's
// quickstart block b: what is left is run like any block, while the tests
// are not run here (inside this test they would run the whole suite
// again); CI runs them instead, which checkCICommands checks.
func splitTestCommands(b block) (rest block, tests []string) {
	var keep []string
	for _, line := range strings.Split(b.text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "go test ") {
			tests = append(tests, strings.TrimSpace(line))
			continue
		}
		keep = append(keep, line)
	}
	b.text = strings.Join(keep, "\n")
	return b, tests
}

// checkCICommands fails t unless the README gives a test command and
// .ci/run runs each one, as a line of its own: the README's test
// command is the one CI runs.
func checkCICommands(t *testing.T, root string, tests []string) {
	t.Helper()
	if len(tests) == 0 {
		t.Fatal("README.md's quickstart block has no `go test` command")
	}
	script, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(script), "\n")
	for _, cmd := range tests {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.TrimSpace(l) == cmd }) {
			t.Errorf("README.md's test command %q is not a line of .ci/run, which must run it as given", cmd)
		}
	}
}

// moduleRoot is the directory of the module's go.mod, above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte("module github.com/transportkit/transportkit\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of github.com/transportkit/transportkit above the test")
		}
		dir = parent
	}
}

// copyModule copies the module at root, without .git and without the
// separate bench module, into dst: what a new user's clone holds.
func copyModule(t *testing.T, root, dst string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && (d.Name() == ".git" || rel == "bench") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil // .git files of worktrees, sockets, links: not in a clone
	})
	if err != nil {
		t.Fatalf("copying the module: %v", err)
	}
}

// TestREADMECommands runs every shell block of the READMEs (see the
// package doc) in a copy of the module, with remote servers and the
// user's own files replaced by local ones.
func TestREADMECommands(t *testing.T) {
	if os.Getenv(envNested) != "" {
		t.Skip("run by a README block: not again")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the READMEs' commands are written for Linux (plugins, /tmp)")
	}
	testenv.RequireBinary(t, "bash", "")
	root := moduleRoot(t)
	blocks := readmeBlocks(t, root)

	work := t.TempDir()
	clone := filepath.Join(work, "transportkit")
	copyModule(t, root, clone)
	tmp := filepath.Join(work, "tmp")
	bin := filepath.Join(work, "bin")
	for _, d := range []string{tmp, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The owner's directories only: the plugin host refuses binaries
	// that others could replace, on the whole path.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}

	env := blockEnv(t, bin)
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "transportctl"), "./cmd/transportctl")
	build.Dir, build.Env = clone, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/transportctl: %v\n%s", err, out)
	}

	subst := localServers(t, work, tmp)
	env = append(env, "SSL_CERT_FILE="+subst.caFile)
	for _, b := range blocks {
		t.Run(strings.ReplaceAll(b.String(), "/", "_"), func(t *testing.T) {
			script := subst.apply(b.text)
			if err := remote(script); err != nil {
				t.Fatalf("%s names %v, which the test has no local stand-in for: add one to localServers, or fix the README\n%s", b, err, b.text)
			}
			ctx, cancel := context.WithTimeout(context.Background(), blockBound(t))
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
			cmd.Dir, cmd.Env = clone, env
			cmd.WaitDelay = 10 * time.Second
			out, err := cmd.CombinedOutput()
			t.Logf("%s, run as:\n%s\n--- output:\n%s", b, script, out)
			if err != nil {
				t.Fatalf("%s failed: %v (context: %v)", b, err, ctx.Err())
			}
		})
	}
}

// blockBound is how long the next block may run: blockTimeout, or less
// when the test binary's -timeout comes first, so that a slow block fails
// with its output rather than the whole binary with a panic.
func blockBound(t *testing.T) time.Duration {
	d := blockTimeout
	if deadline, ok := t.Deadline(); ok {
		d = min(d, time.Until(deadline)-15*time.Second)
	}
	if d <= 0 {
		t.Fatal("no time left before the test binary's -timeout")
	}
	return d
}

// blockEnv is the environment of the commands: this one's, less what
// steers transportkit (a new user has none of it), with bin first on PATH.
func blockEnv(t *testing.T, bin string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TRANSPORTKIT_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "SSL_CERT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+bin+string(filepath.ListSeparator)+os.Getenv("PATH"), envNested+"=1")
}

// substitutions rewrite a block's remote names into local ones.
type substitutions struct {
	pairs  []string // old, new, ... for strings.NewReplacer
	caFile string   // the CA of the local TLS servers, for SSL_CERT_FILE
}

func (s substitutions) apply(text string) string {
	return strings.NewReplacer(s.pairs...).Replace(text)
}

// localServers starts the local stand-ins and returns the rewrites:
//
//   - https://example.com/ and example.com:443: an HTTPS server of this
//     test, whose CA SSL_CERT_FILE makes the system's;
//   - http://127.0.0.1:8080/ and example.com:80: an HTTP server;
//   - 127.0.0.1:1080, the SOCKS5 proxy: microsocks;
//   - server.example:443, a server that requires a client certificate, and
//     the user's client.pem, client-key.pem and ca.pem;
//   - /tmp/: a directory of the test's own.
func localServers(t *testing.T, work, tmp string) substitutions {
	t.Helper()
	certs := testenv.SharedCerts(t)
	pem := certs.WritePEM(t, work)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", r.Host)
	})

	tlsSrv := httptest.NewUnstartedServer(hello)
	tlsSrv.TLS = certs.ServerConfig("h2", "http/1.1")
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	plain := httptest.NewServer(hello)
	t.Cleanup(plain.Close)

	// A TLS server that requires a client certificate: the tlskeys
	// plugin presents the user's (here, the test CA's server certificate
	// and key, which is all it takes).
	cfg := certs.ServerConfig("h2", "http/1.1")
	cfg.ClientAuth = tls.RequireAnyClientCert
	mtls, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	mtlsSrv := &http.Server{Handler: hello, ReadHeaderTimeout: 10 * time.Second}
	go mtlsSrv.Serve(mtls)
	t.Cleanup(func() { mtlsSrv.Close() })

	socks := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{})

	plainAddr := plain.Listener.Addr().String()
	tlsAddr := tlsSrv.Listener.Addr().String()
	return substitutions{
		caFile: pem.CA,
		pairs: []string{
			"https://example.com/", "https://" + tlsAddr + "/",
			"example.com:443", tlsAddr,
			"http://127.0.0.1:8080/", "http://" + plainAddr + "/",
			"example.com:80", plainAddr,
			"127.0.0.1:1080", socks.Addr,
			"server.example:443", mtls.Addr().String(),
			"client-key.pem", pem.Key,
			"client.pem", pem.Cert,
			" ca.pem", " " + pem.CA,
			"/tmp/", tmp + "/",
		},
	}
}

var (
	urlHost  = regexp.MustCompile(`https?://([^/\s:'"]+)`)
	hostPort = regexp.MustCompile(`\b((?:[a-z0-9-]+\.)+[a-z]{2,}):\d+\b`)
)

// remote returns an error naming the first server of script, outside
// comments, that is not on this machine.
func remote(script string) error {
	for line := range strings.Lines(script) {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		for _, m := range urlHost.FindAllStringSubmatch(line, -1) {
			if h := m[1]; h != "localhost" && net.ParseIP(h) == nil {
				return fmt.Errorf("host %q", h)
			}
		}
		if m := hostPort.FindStringSubmatch(line); m != nil && m[1] != "localhost" {
			return fmt.Errorf("host %q", m[1])
		}
	}
	return nil
}
