package testenv

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"text/template"
	"time"
)

// The configuration templates of the launchers, one per program
// (testdata/PROGRAM.conf.tmpl), named PROGRAM.conf.
//
//go:embed testdata/*.conf.tmpl
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "testdata/*.conf.tmpl"))

// writeTemplate writes the configuration file path from the template of
// its name (nginx.conf, tinyproxy.conf) filled with data.
func writeTemplate(path string, data any) error {
	var b bytes.Buffer
	name := filepath.Base(path) + ".tmpl"
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Errorf("testenv: %s: %w", name, err)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// CI reports whether the tests run in continuous integration (the
// environment variable CI is "true"), where a missing peer program fails
// the test instead of skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// sbinDirs are searched after PATH: Debian installs servers there, and a
// user's PATH often lacks them.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/nginx/sbin"}

// ErrNotInstalled is matched by the error of LookBinary for a program
// that is not installed.
var ErrNotInstalled = errors.New("testenv: program not installed")

// LookBinary returns the path of the program name: bin when it is not
// empty (which must then exist), else name on PATH, else name in
// /usr/sbin, /usr/local/sbin, /sbin or /usr/local/nginx/sbin (nginx built
// from source). A missing program is an error
// matching ErrNotInstalled.
func LookBinary(name, bin string) (string, error) {
	if bin != "" {
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return "", fmt.Errorf("%w: %s: %s is not a file", ErrNotInstalled, name, bin)
		}
		return bin, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s is neither on PATH nor in %v", ErrNotInstalled, name, sbinDirs)
}

// RequireBinary returns the path of the program name (see LookBinary).
// When it is missing, the test fails in CI and is skipped elsewhere, with
// the reason and the Debian package to install.
func RequireBinary(t testing.TB, name, bin string) string {
	t.Helper()
	p, err := LookBinary(name, bin)
	if err == nil {
		return p
	}
	hint := ""
	if pkg, ok := debianPackages[name]; ok {
		hint = " (apt-get install " + pkg + ")"
	}
	if CI() {
		t.Fatalf("%v%s; CI=true requires it", err, hint)
	}
	t.Skipf("%v%s", err, hint)
	return ""
}

// debianPackages names the package of each peer program.
var debianPackages = map[string]string{
	"nginx":      "nginx",
	"tinyproxy":  "tinyproxy",
	"microsocks": "microsocks",
	"danted":     "dante-server",
	"nghttpd":    "nghttp2-server",
	"h2load":     "nghttp2-client",
	"wrk":        "wrk",
}

// WriteFile writes body to dir/name with exactly mode (whatever the
// umask) and returns the path; it fails t on error. Tests of plugin
// discovery and verification use it for files that are not plugins.
func WriteFile(t testing.TB, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePort returns a loopback address (127.0.0.1:PORT) whose port was free
// a moment ago, for a server the test starts.
func FreePort(t testing.TB) string {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct loopback addresses whose ports were free a
// moment ago. The ports are held open together while they are picked, so
// they differ.
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	addrs, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// freePorts is FreePorts with an error.
func freePorts(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := listen()
		if err != nil {
			return nil, fmt.Errorf("testenv: free port: %w", err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// listen listens on a free loopback port; tests replace it to see
// failures.
var listen = func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// PollInterval is how often Eventually and the launchers check again.
const PollInterval = 5 * time.Millisecond

// Eventually waits until cond returns true, checking every PollInterval,
// and fails the test if it still returns false after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !poll(context.Background(), timeout, cond) {
		t.Fatalf("testenv: condition not met within %v", timeout)
	}
}

// poll checks cond until it is true (true), or timeout passes or ctx ends
// (false).
func poll(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
}
