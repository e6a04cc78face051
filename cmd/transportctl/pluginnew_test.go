package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestPluginNewBadInput(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(full, "x")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plugin", "new", "bad name"}, "use letters, digits"},
		{[]string{"plugin", "new", "a/b"}, "use letters, digits"},
		{[]string{"plugin", "new", "relay", full}, "not empty"},
		{[]string{"plugin", "new", "relay", file}, "directory"},
		{[]string{"plugin", "new", "--module", "has space", "relay", filepath.Join(t.TempDir(), "m")}, "not a module path"},
		{[]string{"plugin", "new", "--replace", t.TempDir(), "relay", filepath.Join(t.TempDir(), "r")}, "no go.mod"},
		{[]string{"plugin", "new"}, "accepts between 1 and 2 arg"},
	} {
		code, out, errOut := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 saying %q (stdout %q)", tc.args, code, errOut, tc.want, out)
		}
	}
	// Nothing was written where the input was refused.
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("%s has %d entries after refusals", full, len(entries))
	}
}

// TestPluginNewFiles checks what plugin new writes, without building it.
func TestPluginNewFiles(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "new")
	code, out, errOut := cli(t, "plugin", "new", "--no-tidy", "--module", "github.com/me/relay", "relay", dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module github.com/me/relay\n", "require github.com/transportkit/transportkit " + placeholderVersion, "replace github.com/transportkit/transportkit => " + root} {
		if !strings.Contains(string(mod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, mod)
		}
	}
	for _, f := range []string{"main.go", "backend.go", "plugin_test.go", "README.md"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "{{") || !strings.Contains(string(b), "relay") {
			t.Errorf("%s is not filled in:\n%s", f, b)
		}
	}
	// An empty directory is fine too; the default directory is named
	// after the binary.
	empty := t.TempDir()
	if code, _, errOut := cli(t, "plugin", "new", "--no-tidy", "relay", empty); code != exitOK {
		t.Errorf("into an empty directory: exit %d, %s", code, errOut)
	}
	t.Chdir(t.TempDir())
	if code, _, errOut := cli(t, "plugin", "new", "--no-tidy", "--replace", root, "relay"); code != exitOK {
		t.Errorf("into the default directory: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat("transportkit-backend-relay/go.mod"); err != nil {
		t.Error(err)
	}
	// Outside a clone, a development build knows no release to require.
	if code, _, errOut := cli(t, "plugin", "new", "--no-tidy", "relay", "other"); code != exitUsage || !strings.Contains(errOut, "--replace") {
		t.Errorf("outside a clone: exit %d, %s; want 2 and a hint to use --replace", code, errOut)
	}
}

func TestReleaseOf(t *testing.T) {
	main := func(v string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: v}}
	}
	dep := func(v string, replaced bool) *debug.BuildInfo {
		d := &debug.Module{Path: modulePath, Version: v}
		if replaced {
			d.Replace = &debug.Module{Path: "../transportkit"}
		}
		return &debug.BuildInfo{Main: debug.Module{Path: "example.com/tool", Version: "v9.0.0"}, Deps: []*debug.Module{d}}
	}
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, ""},
		{main("v1.2.3"), "v1.2.3"},
		{main("(devel)"), ""},
		{main("v0.0.0-20261203180000-9cb53e2abcde+dirty"), ""},
		{main("v0.0.0-20261203180000-9cb53e2abcde"), "v0.0.0-20261203180000-9cb53e2abcde"},
		{dep("v1.4.0", false), "v1.4.0"},
		{dep("v1.4.0", true), ""},
	} {
		if got := releaseOf(tc.bi); got != tc.want {
			t.Errorf("releaseOf(%+v) = %q, want %q", tc.bi, got, tc.want)
		}
	}
}

func TestTransportkitDependency(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	for _, tc := range []struct {
		release, replace, wd string
		version, dir         string
		fails                bool
	}{
		{"v1.2.3", "", outside, "v1.2.3", "", false},
		{"", "", outside, "", "", true},
		{"", "", filepath.Join(root, "plugins"), placeholderVersion, root, false},
		{"v1.2.3", "", root, "v1.2.3", root, false},
		{"", root, outside, placeholderVersion, root, false},
		{"v1.2.3", outside, outside, "", "", true},
	} {
		v, d, err := transportkitDependency(tc.release, tc.replace, tc.wd)
		if v != tc.version || d != tc.dir || (err != nil) != tc.fails {
			t.Errorf("transportkitDependency(%q, %q, %q) = %q, %q, %v; want %q, %q, failing %v",
				tc.release, tc.replace, tc.wd, v, d, err, tc.version, tc.dir, tc.fails)
		}
	}
}

// TestPluginNewNameMakesBadModule: a plugin name that makes a default
// module path go rejects ("x." makes example.com/transportkit-backend-x.,
// with a trailing dot) is bad usage, exit 2, and nothing is written; so
// is a --module go rejects.
func TestPluginNewNameMakesBadModule(t *testing.T) {
	noEnv(t)
	for _, args := range [][]string{
		{"x."}, {"."}, {"--module", "example.com/a/", "relay"}, {"--module", "example.com//a", "relay"},
		{"--module", "example.com/..", "relay"}, {"--module", "example.com/con.x", "relay"},
		{"--module", "-x.com/relay", "relay"}, {"--module", "example.com/a@b", "relay"},
		{"--module", "example.com/ab~1", "relay"},
	} {
		dir := filepath.Join(t.TempDir(), "p")
		code, _, errOut := cli(t, append(append([]string{"plugin", "new", "--no-tidy"}, args...), dir)...)
		if _, err := os.Stat(dir); code != exitUsage || err == nil {
			t.Errorf("plugin new %q: exit %d, %s written: %v; want exit 2 and nothing written (stderr %q)", args, code, dir, err, errOut)
		}
	}
	for _, ok := range []string{"example.com/transportkit-backend-x.y", "relay", "github.com/me/relay/v2", "example.com/a_b~c+d", "example.com/.relay"} {
		if err := checkModulePath(ok); err != nil {
			t.Errorf("checkModulePath(%q) = %v, want nil", ok, err)
		}
	}
	if err := checkModulePath(""); err == nil {
		t.Error("checkModulePath(\"\") = nil")
	}
}
