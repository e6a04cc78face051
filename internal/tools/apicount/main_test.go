package main

import (
	"bytes"
	"errors"
	"go/scanner"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture copies testdata/tree to a temporary folder and gives its nested
// folder a go.mod, so that it is another module (kept out of testdata's
// tree: a go.mod there would cut the folder out of this module's zip).
func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", "tree"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "nested", "go.mod"), []byte("module example.com/nested\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// wantAPI is what apicount finds in the fixture: the packages plain and
// shapes, and none of the main package, the test-only, testdata, hidden,
// underscore and other-module folders.
var wantAPI = map[string]map[string]string{
	"plain": {"C": "const", "F": "func", "T": "type", "V": "var"},
	"shapes": {
		// functions, variables, constants; Platform is declared in two
		// platform files and counts once
		"Area": "func", "Platform": "func", "Unit": "var", "Pi": "const",
		// types, alias, generic, constraint and func types included
		"Area2": "type", "Box": "type", "Corner": "type", "Edge": "type",
		"Mapper": "type", "Number": "type", "Pair": "type", "Shape": "type",
		"Square": "type",
		// methods of exported types (generic receivers included, Native
		// once though two platform files declare it) and of the exported
		// interface; not those of inner, nor the unexported ones
		"Box.Open": "method", "Pair.Swap": "method", "Square.Grow": "method",
		"Square.Native": "method", "Square.Scale": "method",
		"Shape.Area": "method", "Shape.Name": "method",
		// exported fields of exported structs, embedded ones by their type
		// name; not inner's, nor unexported ones
		"Box.Item": "field", "Corner.X": "field", "Corner.Y": "field",
		"Pair.Key": "field", "Square.Side": "field", "Square.Depth": "field",
		"Square.Corner": "field", "Square.Edge": "field",
		"Square.Reader": "field", "Square.Box": "field",
	},
}

func TestScanFixture(t *testing.T) {
	pkgs, err := scan(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, p := range pkgs {
		dirs = append(dirs, p.dir)
	}
	if want := []string{"plain", "shapes"}; !slices.Equal(dirs, want) {
		t.Fatalf("packages %q, want %q", dirs, want)
	}
	for _, p := range pkgs {
		want := wantAPI[p.dir]
		for n, k := range p.names {
			if want[n] != k {
				t.Errorf("%s: %s counted as %q, want %q", p.dir, n, k, want[n])
			}
		}
		for n, k := range want {
			if _, ok := p.names[n]; !ok {
				t.Errorf("%s: %s (%s) not counted", p.dir, n, k)
			}
		}
	}
}

// TestRunTable checks the table: one row per package and the total, in
// the column order of the header.
func TestRunTable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{fixture(t)}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr %q, want nothing", errOut.String())
	}
	want := [][]string{
		{"package", "func", "type", "var", "const", "method", "field", "total"},
		{"plain", "1", "1", "1", "1", "0", "0", "4"},
		{"shapes", "2", "9", "1", "1", "7", "10", "30"},
		{"TOTAL", "3", "10", "2", "2", "7", "10", "34"},
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d: %q, want %q", i+1, got, want[i])
		}
	}
}

// TestRunList checks -list: after the table, each package's folder and
// its names, sorted, with their kinds.
func TestRunList(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-list", fixture(t)}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	_, list, ok := strings.Cut(out.String(), "\n\n")
	if !ok {
		t.Fatalf("no list after the table:\n%s", out.String())
	}
	var (
		dirs []string
		got  = map[string]map[string]string{}
		last = map[string]string{}
	)
	for l := range strings.Lines(list) {
		l = strings.TrimSuffix(l, "\n")
		switch f := strings.Fields(l); {
		case l == "":
		case !strings.HasPrefix(l, "  ") && len(f) == 1:
			dirs = append(dirs, f[0])
			got[f[0]] = map[string]string{}
		case len(f) == 2 && len(dirs) > 0:
			dir := dirs[len(dirs)-1]
			if f[1] < last[dir] {
				t.Errorf("%s: %s listed after %s, want sorted", dir, f[1], last[dir])
			}
			last[dir] = f[1]
			got[dir][f[1]] = f[0]
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	if want := []string{"plain", "shapes"}; !slices.Equal(dirs, want) {
		t.Errorf("listed packages %q, want %q", dirs, want)
	}
	for dir, want := range wantAPI {
		if !maps.Equal(got[dir], want) {
			t.Errorf("%s listed %v, want %v", dir, got[dir], want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("missing root", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		if _, err := scan(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("scan: %v, want fs.ErrNotExist", err)
		}
		var out, errOut bytes.Buffer
		if code := run([]string{missing}, &out, &errOut); code != 1 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, the error", code, out.String(), errOut.String())
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		root := fixture(t)
		if err := os.WriteFile(filepath.Join(root, "plain", "broken.go"), []byte("package plain\n\nfunc {\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var list scanner.ErrorList
		if _, err := scan(root); !errors.As(err, &list) {
			t.Errorf("scan: %v, want a scanner.ErrorList", err)
		}
		var out, errOut bytes.Buffer
		if code := run([]string{root}, &out, &errOut); code != 1 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, the error", code, out.String(), errOut.String())
		}
	})
	t.Run("unknown flag", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := run([]string{"-bogus"}, &out, &errOut); code != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), "-list") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, the usage", code, out.String(), errOut.String())
		}
	})
}

// TestModule counts this module from its root, the way the command is
// run: its library packages are there, and none of its commands, the
// bench module or anything under testdata.
func TestModule(t *testing.T) {
	pkgs, err := scan(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]pkgAPI{}
	for _, p := range pkgs {
		found[p.dir] = p
		if p.dir == "bench" || strings.HasPrefix(p.dir, "bench/") || strings.Contains(p.dir, "testdata") {
			t.Errorf("%s counted", p.dir)
		}
	}
	for _, dir := range []string{"cmd/transportctl", "internal/tools/apicount"} {
		if _, ok := found[dir]; ok {
			t.Errorf("main package %s counted", dir)
		}
	}
	if k := found["transport"].names["Stream"]; k != "type" {
		t.Errorf("transport.Stream counted as %q, want type", k)
	}
}
