//go:build linux

package plugins

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/transportkit/transportkit/transport"
)

// TestResolveTrusted follows paths the way the kernel does: ".", "..",
// relative and absolute links, and refuses what cannot be a binary.
func TestResolveTrusted(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "plugins")
	sub := filepath.Join(base, "vendor", "bin")
	for _, d := range []string{dir, sub} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(sub, "transportkit-backend-x")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bin, 0o755)
	// plugins/x -> ../vendor/./bin/transportkit-backend-x, and
	// plugins/abs -> an absolute link to the same.
	if err := os.Symlink("../vendor/./bin/transportkit-backend-x", filepath.Join(dir, "transportkit-backend-x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "transportkit-backend-abs")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		bin,
		filepath.Join(dir, "transportkit-backend-x"),
		filepath.Join(dir, "transportkit-backend-abs"),
		dir + "/./../plugins//transportkit-backend-x",
	} {
		if real, err := resolveTrusted(path); err != nil || real != bin {
			t.Errorf("resolveTrusted(%s) = %q, %v; want %s", path, real, err, bin)
		}
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{"transportkit-backend-x", ErrRelativePath},
		{filepath.Join(dir, "missing"), fs.ErrNotExist},
		{filepath.Join(bin, "more"), syscall.ENOTDIR},
	} {
		if _, err := resolveTrusted(tc.path); !errors.Is(err, tc.want) {
			t.Errorf("resolveTrusted(%s): %v, want %v", tc.path, err, tc.want)
		}
	}
	if _, err := resolveTrusted("/"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf(`resolveTrusted("/"): %v, want "not a regular file"`, err)
	}
	if err := (Plugin{Name: "d", Path: sub}).Check(); err == nil || errors.Is(err, ErrInsecureBinary) {
		t.Errorf("Check of a directory: %v, want it refused as not a regular file", err)
	}
	if _, err := openBinary(Plugin{Name: "x", Path: bin, Checksum: "xyz"}); err == nil || errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("openBinary with a malformed pin: %v", err)
	}
	if _, err := openBinary(Plugin{Name: "x", Path: filepath.Join(dir, "missing")}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("openBinary of a missing file: %v", err)
	}
	if _, err := launchProcess(context.Background(), Plugin{Name: "x", Path: sub}, "plugin:x", nil); err == nil {
		t.Error("a directory was launched")
	}
}

// TestProcRunnerAddresses: host and plugin share the file system, so
// addresses cross unchanged; Diagnose says what usually went wrong.
func TestProcRunnerAddresses(t *testing.T) {
	var r procRunner
	for _, f := range []func(string, string) (string, string, error){r.PluginToHost, r.HostToPlugin} {
		if n, a, err := f("unix", "/x/y"); n != "unix" || a != "/x/y" || err != nil {
			t.Errorf("address translated to %s %s %v", n, a, err)
		}
	}
	if d := r.Diagnose(context.Background()); !strings.Contains(d, "plugins.Serve") {
		t.Errorf("Diagnose = %q", d)
	}
	if r.ID() != "" {
		t.Errorf("ID of a runner that never started = %q", r.ID())
	}
}

func TestCheckErrors(t *testing.T) {
	dir := t.TempDir()
	if err := (Plugin{Name: "d", Path: dir}).Check(); err == nil {
		t.Error("a directory passed the check")
	}
	missing := Plugin{Name: "m", Path: dir + "/missing", Checksum: "00"}
	if status, _ := missing.ChecksumStatus(); status != ChecksumUnreadable {
		t.Errorf("status of a missing binary = %q", status)
	}
	if _, err := cachedSHA256(dir + "/missing"); err == nil {
		t.Error("hashing a missing file succeeded")
	}
	if _, err := FileSHA256(dir); err == nil {
		t.Error("hashing a directory succeeded")
	}
	if err := checkOptions(transport.Options{Control: func(string, string, syscall.RawConn) error { return nil }}); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("Control: %v", err)
	}
}
