//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/registry"
)

// evilPlugin writes, into dir, a script named transportkit-backend-NAME
// that creates marker when it runs, and returns its path.
func evilPlugin(t *testing.T, dir, name, marker string) string {
	t.Helper()
	path := filepath.Join(dir, registry.PluginBinaryPrefix+name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho ran > "+marker+"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// openDir makes a directory that others can write, holding a directory
// that they cannot: the plugin directory, which it returns.
func openDir(t *testing.T) string {
	t.Helper()
	open := filepath.Join(t.TempDir(), "open")
	dir := filepath.Join(open, "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestListRefusesUntrusted lists plugins that the trust rules refuse,
// each with the reason, and starts none of them: under a directory
// others can write, owned by another user, and found through a relative
// TRANSPORTKIT_PLUGIN_PATH entry.
func TestListRefusesUntrusted(t *testing.T) {
	noEnv(t)
	marker := filepath.Join(t.TempDir(), "ran")
	unsafeDir := openDir(t)
	evilPlugin(t, unsafeDir, "opendir", marker)
	foreignDir := t.TempDir()
	foreign := evilPlugin(t, foreignDir, "foreign", marker)
	if os.Geteuid() == 0 {
		if err := os.Chown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	evilPlugin(t, work, "relative", marker)
	t.Chdir(work)
	t.Setenv(registry.EnvPluginPath, strings.Join([]string{unsafeDir, foreignDir, "."}, string(filepath.ListSeparator)))

	want := map[string]string{
		"plugin:opendir":  "lets group or others replace the plugin",
		"plugin:relative": "relative",
	}
	if os.Geteuid() == 0 {
		want["plugin:foreign"] = "owned by uid 65534"
	}
	infos := listJSON(t)
	code, out, _ := cli(t, "list")
	if code != exitOK {
		t.Fatalf("list: exit %d", code)
	}
	for name, reason := range want {
		in := infos[name]
		if in.Name == "" || in.Available || !strings.Contains(in.Details["refused"], reason) || !strings.Contains(in.Reason, reason) {
			t.Errorf("list --json: %s is %+v, want unavailable and refused with %q", name, in, reason)
		}
		if row := tableRow(out, name, 1); !strings.Contains(row, reason) {
			t.Errorf("list: plugin row of %s is %q, want the reason %q:\n%s", name, row, reason, out)
		}
		if row := strings.Fields(tableRow(out, name, 0)); len(row) < 3 || row[2] != "no" {
			t.Errorf("list: backend row of %s is %q, want it unavailable", name, row)
		}
	}
	code, out, errOut := cli(t, "probe", "--json")
	rows := decodeRows(t, out)
	for name := range want {
		if r := rows[name]; !r.Skipped || r.OK || !strings.Contains(r.Note, "unavailable") {
			t.Errorf("probe: %s row %+v, want it skipped as unavailable (exit %d, stderr %s)", name, r, code, errOut)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a refused plugin ran")
	}
	noChildren(t)
}

// TestListRealPath lists a plugin reached through a symbolic link with
// its real location, and verify prints it.
func TestListRealPath(t *testing.T) {
	noEnv(t)
	socks5Config(t)
	_, path := testPlugin(t)
	dir := t.TempDir()
	link := filepath.Join(dir, filepath.Base(path))
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv(registry.EnvPluginPath, dir)
	in := listJSON(t)["plugin:socks5"]
	if !in.Available || in.Details["path"] != link || in.Details["real_path"] != path {
		t.Errorf("list --json: %+v, want available, path %s, real_path %s", in, link, path)
	}
	code, out, _ := cli(t, "list")
	if row := tableRow(out, "plugin:socks5", 1); code != exitOK || !strings.Contains(row, link+" -> "+path) {
		t.Errorf("list: exit %d, plugin row %q, want %s -> %s", code, row, link, path)
	}
	code, out, errOut := cli(t, "plugin", "verify", link)
	if code != exitOK || !strings.Contains(out, "real path:") || !strings.Contains(out, path) {
		t.Errorf("verify: exit %d, stdout %s, stderr %s; want the real path", code, out, errOut)
	}
	noChildren(t)
}

// TestPluginVerifyRelative verifies a plugin named by a relative path:
// the file in the working directory is the one checked and run, never
// one of the same name in $PATH.
func TestPluginVerifyRelative(t *testing.T) {
	noEnv(t)
	socks5Config(t)
	_, path := testPlugin(t)
	work, copied := copyPlugin(t, path, 0o755)
	marker := filepath.Join(t.TempDir(), "ran")
	evilDir := t.TempDir()
	evilPlugin(t, evilDir, "socks5", marker)
	t.Setenv("PATH", evilDir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	t.Chdir(work)
	code, out, errOut := cli(t, "plugin", "verify", filepath.Base(path))
	if code != exitOK || !strings.Contains(out, copied) || !strings.Contains(out, "verified") {
		t.Errorf("verify %s: exit %d, stdout %s, stderr %s; want %s verified", filepath.Base(path), code, out, errOut, copied)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("verify ran the binary of the same name in $PATH")
	}
	noChildren(t)
}
