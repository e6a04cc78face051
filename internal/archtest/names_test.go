package archtest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckNames(t *testing.T) {
	root := writeTree(t, map[string]string{
		"a/a.go": `// Package a is [T], [*T], [T.F], [T.Nope] (T embeds), [Nope], [U.Nope], [I.M], [I.Reader], x[Index].
//
// Also a.T.Meth, a.T.Whatever (T embeds), a.U.F2, a.U.X, a.C*, a.Z*, a.Fn, a.V, a.Gone,
// see https://a.Example/a.Gone, and x.Gone of another package.
package a

import "io"

type T struct {
	F int
	Embedded
	*io.PipeReader
}

type Embedded struct{}

type I interface {
	M()
	io.Reader
}

func (t *T) Meth() {}

type G[K any] struct{}

func (g G[K]) X() {}

type H[K, V any] struct{}

func (h *H[K, V]) Y() {}

type U struct{ F2, f3 int }

func (u (U)) Z() {}

func Fn() {}

var V, v2 = 1, 2

const C = 1

type alias = int
`,
		"a/a_test.go":      "package a\n\nfunc TestOnly() {}\n",
		"a/testdata/x.go":  "// Not loaded, but read: a.FromTestdata.\npackage a\n\nfunc FromTestdata() {}\n",
		"main/main.go":     "// Package main: main.Hidden is not checked.\npackage main\n\nfunc Hidden() {}\n",
		"doc.md":           "# a\n\n`a.T.F`, `a.G.X`, `a.H.Y`, `a.Gone`, a.TestOnly, `a.U.Z`.\n```\na.Fenced\n```\n" + HistoryBegin + "\nRemoved: `a.Old`.\n" + HistoryEnd + "\nStill checked: a.Old.\n",
		".hidden/gone.md":  "a.Gone",
		"a/testdata/ok.md": "`a.T`",
	})
	names, err := LoadNames(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := names["main"]; ok {
		t.Error("package main was loaded")
	}
	for _, n := range []string{"T", "T.F", "T.Embedded", "T.PipeReader", "T.Meth", "G.X", "H.Y", "U.F2", "U.Z", "I.M", "I.Reader", "Fn", "V", "C"} {
		if !names["a"][n] {
			t.Errorf("name %s not loaded", n)
		}
	}
	for _, n := range []string{"v2", "U.f3", "alias", "TestOnly", "FromTestdata"} {
		if names["a"][n] {
			t.Errorf("name %s loaded", n)
		}
	}
	problems, err := CheckNames(root, names)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"a/a.go:1: [Nope]: doc link: package a declares no Nope",
		"a/a.go:1: [U.Nope]: doc link: a.U has no field or method Nope",
		"a/a.go:3: a.U.X: a.U has no field or method X",
		"a/a.go:3: a.Z*: package a declares no name starting with Z",
		"a/a.go:3: a.Gone: package a declares no Gone",
		"a/testdata/x.go:1: a.FromTestdata: package a declares no FromTestdata",
		"doc.md:3: a.Gone: package a declares no Gone",
		"doc.md:3: a.TestOnly: package a declares no TestOnly",
		"doc.md:10: a.Old: package a declares no Old",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNamesErrors(t *testing.T) {
	if _, err := LoadNames(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("LoadNames of a missing root: no error")
	}
	if _, err := CheckNames(filepath.Join(t.TempDir(), "none"), Names{}); err == nil {
		t.Error("CheckNames of a missing root: no error")
	}
	root := writeTree(t, map[string]string{"a/a.go": "package"})
	if _, err := LoadNames(root); err == nil {
		t.Error("LoadNames of a file that does not parse: no error")
	}
	if _, err := CheckNames(root, Names{}); err == nil {
		t.Error("CheckNames of a file that does not parse: no error")
	}
}
