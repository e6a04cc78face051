package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCI(t *testing.T) {
	t.Setenv("CI", "true")
	if !CI() {
		t.Error("CI() = false with CI=true")
	}
	t.Setenv("CI", "")
	if CI() {
		t.Error("CI() = true with CI empty")
	}
}

func TestLookBinary(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := LookBinary("prog", prog); err != nil || p != prog {
		t.Errorf("LookBinary(explicit) = %q, %v", p, err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), dir} {
		if _, err := LookBinary("prog", bad); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("LookBinary(%q) error = %v, want ErrNotInstalled", bad, err)
		}
	}
	t.Setenv("PATH", dir)
	if p, err := LookBinary("prog", ""); err != nil || p != prog {
		t.Errorf("LookBinary on PATH = %q, %v", p, err)
	}
	if _, err := LookBinary("transportkit-no-such-program", ""); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("missing program: error = %v, want ErrNotInstalled", err)
	}
	// A program found in an sbin folder though PATH lacks it.
	sbin := t.TempDir()
	if err := os.WriteFile(filepath.Join(sbin, "daemon"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := sbinDirs
	sbinDirs = []string{t.TempDir(), sbin}
	defer func() { sbinDirs = old }()
	if p, err := LookBinary("daemon", ""); err != nil || p != filepath.Join(sbin, "daemon") {
		t.Errorf("LookBinary in sbin = %q, %v", p, err)
	}
}

func TestRequireBinary(t *testing.T) {
	t.Setenv("CI", "true")
	fatal, skip := capture(t, func(tb testing.TB) { RequireBinary(tb, "nginx", "/nonexistent/nginx") })
	if !strings.Contains(fatal, "CI=true") || !strings.Contains(fatal, "apt-get install nginx") || skip != "" {
		t.Errorf("in CI: fatal %q, skip %q", fatal, skip)
	}
	t.Setenv("CI", "")
	fatal, skip = capture(t, func(tb testing.TB) { RequireBinary(tb, "transportkit-no-such-program", "") })
	if fatal != "" || !strings.Contains(skip, "transportkit-no-such-program") {
		t.Errorf("outside CI: fatal %q, skip %q", fatal, skip)
	}
	sh, err := LookBinary("sh", "")
	if err != nil {
		t.Skip(err)
	}
	if got := RequireBinary(t, "sh", ""); got != sh {
		t.Errorf("RequireBinary(sh) = %q, want %q", got, sh)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := WriteFile(t, dir, "x", "body", 0o751)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o751 || filepath.Dir(p) != dir {
		t.Fatalf("WriteFile: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "body" {
		t.Errorf("content %q", b)
	}
	if fatal, _ := capture(t, func(tb testing.TB) { WriteFile(tb, filepath.Join(dir, "none"), "x", "", 0o600) }); fatal == "" {
		t.Error("WriteFile into a missing directory did not fail the test")
	}
}

func TestFreePorts(t *testing.T) {
	addrs := FreePorts(t, 5)
	seen := map[string]bool{}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" || seen[a] {
			t.Errorf("address %q (duplicate %v, err %v)", a, seen[a], err)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("port of %s not free: %v", a, err)
			continue
		}
		ln.Close()
	}
	if a := FreePort(t); a == "" {
		t.Error("FreePort returned nothing")
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	Eventually(t, time.Second, func() bool { return n.Add(1) >= 3 })
	if n.Load() < 3 {
		t.Errorf("cond called %d times", n.Load())
	}
	start := time.Now()
	fatal, _ := capture(t, func(tb testing.TB) { Eventually(tb, 30*time.Millisecond, func() bool { return false }) })
	if !strings.Contains(fatal, "not met within 30ms") {
		t.Errorf("fatal = %q", fatal)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
	// A condition that comes true exactly at the deadline counts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	if !poll(ctx, time.Hour, func() bool { calls++; return calls > 1 }) {
		t.Error("poll ignored the last check")
	}
}
