package archtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const sampleRules = "# Doc\n\n" + RulesBegin + `
| package | role | may import |
| --- | --- | --- |
| ` + "`core`" + ` | the core | nothing |
| ` + "`lib/...`" + ` | libraries | ` + "`core`" + ` |
| ` + "`lib/special`" + ` | one library | ` + "`core`, `lib/base`, `testing`" + ` |
| ` + "`app`, `tool`" + ` | programs | ` + "`lib/...`, `core`" + ` |
| ` + "`gone`" + ` | removed | ` + "`core`" + ` |

` + OutsidePrefix + " `testing`, `example.com/heavy/...`\n" + RulesEnd + "\n"

func TestParseRules(t *testing.T) {
	r, err := ParseRules([]byte(sampleRules))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 5 {
		t.Fatalf("rows = %d, want 5: %+v", len(r.Rows), r.Rows)
	}
	if got := r.Rows[3].Packages; !slices.Equal(got, []string{"app", "tool"}) {
		t.Errorf("row 3 packages = %q", got)
	}
	if got := r.Rows[0].Allowed; len(got) != 0 {
		t.Errorf("row 0 allows %q, want nothing", got)
	}
	if got := r.Rows[2].Allowed; !slices.Equal(got, []string{"core", "lib/base", "testing"}) {
		t.Errorf("row 2 allows %q", got)
	}
	if !slices.Equal(r.Outside, []string{"testing", "example.com/heavy/..."}) {
		t.Errorf("outside = %q", r.Outside)
	}
	if r.Rows[0].Line != 6 {
		t.Errorf("row 0 at line %d, want 6", r.Rows[0].Line)
	}
}

func TestParseRulesErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"no markers":    "| package | may import |\n| --- | --- |\n| `a` | `b` |\n",
		"end first":     RulesEnd + "\n" + RulesBegin + "\n",
		"bad header":    RulesBegin + "\n| name | imports |\n| --- | --- |\n| `a` | `b` |\n" + RulesEnd,
		"no rows":       RulesBegin + "\n| package | may import |\n| --- | --- |\n" + RulesEnd,
		"short row":     RulesBegin + "\n| package | role | may import |\n| --- | --- | --- |\n| `a` |\n" + RulesEnd,
		"no package":    RulesBegin + "\n| package | may import |\n| --- | --- |\n| a | `b` |\n" + RulesEnd,
		"unclosed code": RulesBegin + "\n| package | may import |\n| --- | --- |\n| `a | b |\n" + RulesEnd,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRules([]byte(doc))
			if err == nil {
				t.Fatal("no error")
			}
			wantNoRules := name == "no markers" || name == "end first" || name == "bad header" || name == "no rows"
			if errors.Is(err, ErrNoRules) != wantNoRules {
				t.Errorf("errors.Is(%v, ErrNoRules) = %v, want %v", err, !wantNoRules, wantNoRules)
			}
		})
	}
}

func TestMatchAndRuleFor(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"a", "a", true},
		{"a", "a/b", false},
		{"a/...", "a", true},
		{"a/...", "a/b/c", true},
		{"a/...", "ab", false},
	} {
		if got := Match(c.pattern, c.path); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
	r, err := ParseRules([]byte(sampleRules))
	if err != nil {
		t.Fatal(err)
	}
	for pkg, want := range map[string]string{
		"lib/special": "lib/special", // exact beats lib/...
		"lib/base":    "lib/...",
		"lib":         "lib/...",
		"tool":        "app",
	} {
		row, ok := r.RuleFor(pkg)
		if !ok || row.Packages[0] != want {
			t.Errorf("RuleFor(%q) = %q, %v; want the row of %q", pkg, row.Packages, ok, want)
		}
	}
	if _, ok := r.RuleFor("other"); ok {
		t.Error("RuleFor(other) found a row")
	}
}

func TestCheckImports(t *testing.T) {
	r, err := ParseRules([]byte(sampleRules))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := "package app\n\nimport (\n\t\"fmt\"\n\t\"m/lib/special\"\n\t\"testing\"\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "app.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.go"), []byte("not go"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs := []Package{
		{ImportPath: "m/core", Imports: []string{"fmt", "example.org/free"}},
		{ImportPath: "m/lib/base", Imports: []string{"m/core"}},
		{ImportPath: "m/lib/special", Imports: []string{"m/core", "m/lib/base", "testing"}},
		// app: lib/special allowed by lib/...; testing is not allowed.
		{ImportPath: "m/app", Dir: dir, GoFiles: []string{"broken.go", "app.go"}, Imports: []string{"fmt", "m/lib/special", "testing"}},
		// tool: imports core and a covered outside package.
		{ImportPath: "m/tool", Imports: []string{"m/core", "example.com/heavy/sub"}},
		// core importing upward, with no file to point at.
		{ImportPath: "m/lib/extra", Imports: []string{"m/app"}},
		{ImportPath: "m/new"},
		{ImportPath: "m", Imports: []string{"m/core"}},
		{ImportPath: "other/pkg", Imports: []string{"m/app"}}, // not the module's: ignored
	}
	var msgs []string
	for _, v := range CheckImports("m", pkgs, r) {
		msgs = append(msgs, v.String())
	}
	want := []string{
		"app imports testing (" + filepath.Join(dir, "app.go") + ":6)",
		"tool imports example.com/heavy/sub (position unknown)",
		"lib/extra imports app (position unknown)",
		"package new is not in the import rules",
		"package . is not in the import rules",
		"no package is governed by the row gone",
	}
	if len(msgs) != len(want) {
		t.Errorf("%d violations, want %d:\n%s", len(msgs), len(want), strings.Join(msgs, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, w) }) {
			t.Errorf("no violation says %q:\n%s", w, strings.Join(msgs, "\n"))
		}
	}
	// An allowance nobody uses.
	pkgs[1].Imports = nil // lib/base no longer imports core; lib/special still does
	pkgs[2].Imports = []string{"m/lib/base"}
	var unused []string
	for _, v := range CheckImports("m", pkgs, r) {
		if strings.Contains(v.Msg, "but none does") {
			unused = append(unused, v.Msg)
		}
	}
	if len(unused) != 3 { // lib/... core, lib/special core and testing
		t.Errorf("unused allowances: %q, want 3", unused)
	}
}

func TestListPackages(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pkgs, err := ListPackages(ctx, ".", ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || !strings.HasSuffix(pkgs[0].ImportPath, "/internal/archtest") || !slices.Contains(pkgs[0].GoFiles, "rules.go") {
		t.Errorf("go list . = %+v", pkgs)
	}
	if _, err := ListPackages(ctx, ".", "./no/such/dir"); err == nil {
		t.Error("go list of a missing directory: no error")
	}
	if _, err := decodePackages([]byte(`{"ImportPath": "a"} {`)); err == nil {
		t.Error("decodePackages of a truncated stream: no error")
	}
}

// writeTree writes files (path -> content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCheckLinks(t *testing.T) {
	root := writeTree(t, map[string]string{
		"README.md": "# Top\n\n" +
			"See [arch](docs/ARCH.md#the-layers), [dup](docs/ARCH.md#notes-1), [self](#top), [dir](pkg/).\n" +
			"Broken: [missing](docs/NOPE.md), [bad anchor](docs/ARCH.md#nowhere), [bad self](#nope).\n" +
			"[ref]: docs/GONE.md\n" +
			"[web](https://example.com/x.md) [mail](mailto:a@b.c) [abs](/docs/ARCH.md)\n" +
			"Files: `pkg/a.go`, pkg/missing.go, `pkg/sub/` and `pkg/nothere`, `backends/NAME`, `pkg/*.go`, `pkg/*.none`.\n" +
			"```\nignored [x](nowhere.md) pkg/nowhere.go\n```\n" +
			"Bare: a.go (below), zz.go (nowhere), _test.go (a suffix), theirs.go (outside), *_linux.go (a pattern), https://h/x.go.\n",
		"docs/ARCH.md": "# Arch\n\n## The layers\n\n## Notes\n\n## Notes\n\n" +
			"~~~\n# not a heading\n~~~\n#nospace\n####### seven\n" +
			"Back: [top](../README.md#top) and `pkg/a.go` from the root, [link heading](#arch).\n",
		"pkg/a.go": "// Package pkg is documented in docs/ARCH.md and README.md; see a.go,\n" +
			"// b.go and docs/MISSING.md.\npackage pkg\n\n/* block:\nsecond line cites gone.go */\nvar X = 1\n",
		"pkg/sub/b.go": "package sub\n",
	})
	problems, err := CheckLinks(root, "theirs.go")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"README.md:4: docs/NOPE.md: no such file or directory",
		"README.md:4: docs/ARCH.md#nowhere: no heading with the anchor #nowhere in ARCH.md",
		"README.md:4: #nope: no heading with the anchor #nope in README.md",
		"README.md:5: docs/GONE.md: no such file or directory",
		"README.md:7: pkg/missing.go: names a file that does not exist",
		"README.md:7: pkg/nothere: names a file that does not exist",
		"README.md:7: pkg/*.none: names a file that does not exist",
		"README.md:11: zz.go: names a file that does not exist",
		"pkg/a.go:2: docs/MISSING.md: names a file that does not exist",
		"pkg/a.go:6: gone.go: names a file that does not exist",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckLinksErrors(t *testing.T) {
	if _, err := CheckLinks(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing root: no error")
	}
	root := writeTree(t, map[string]string{"bad.go": "package"})
	if _, err := CheckLinks(root); err == nil {
		t.Error("a Go file that does not parse: no error")
	}
	root = writeTree(t, map[string]string{"a.md": "[x](b.md#y)\n", "b.md/c": ""})
	problems, err := CheckLinks(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Msg, "is a directory") {
		t.Errorf("an anchor into a directory named .md: %v", problems)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"The HTTP/2 engine":                    "the-http2-engine",
		"Proxies, httptrace and limits (2026)": "proxies-httptrace-and-limits-2026",
		"`protocols/h1` and [h2](h2.md)":       "protocolsh1-and-h2",
		"W6: plugin data_paths":                "w6-plugin-data_paths",
		"Écrit à la main":                      "écrit-à-la-main",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
