package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// goPlugin is the one package among transportctl's dependencies allowed to
// import package testing: go-plugin's testing.go is a non-test file of its
// main package, with no build tag (docs/ARCHITECTURE.md, "Dependencies").
const goPlugin = "github.com/hashicorp/go-plugin"

// TestNoTestingInTheBinary: no package that transportctl links imports
// package testing (test helpers live in *test packages: transporttest,
// pluginstest) except go-plugin, and the only way to testing is the chain
// cmd/transportctl -> plugins -> go-plugin -> testing. A new importer, or a
// new path to go-plugin, fails the test with the chain that leads to it.
func TestNoTestingInTheBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{}
	var root string // go list -deps prints the package itself last
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		imports[f[0]], root = f[1:], f[0]
	}
	var importers []string
	for pkg, imps := range imports {
		if slices.Contains(imps, "testing") {
			importers = append(importers, pkg)
		}
	}
	slices.Sort(importers)
	for _, pkg := range importers {
		if pkg != goPlugin {
			t.Errorf("%s imports testing, and transportctl links it: %s", pkg, strings.Join(chain(imports, root, pkg), " -> "))
		}
	}
	if !slices.Contains(importers, goPlugin) {
		t.Logf("go-plugin no longer imports testing (importers: %q): drop the allowance and the note in docs/ARCHITECTURE.md", importers)
		return
	}
	// go-plugin is reached through package plugins only.
	const plugins = "github.com/transportkit/transportkit/plugins"
	for pkg, imps := range imports {
		if pkg != plugins && strings.HasPrefix(pkg, "github.com/transportkit/transportkit/") && slices.Contains(imps, goPlugin) {
			t.Errorf("%s imports go-plugin (and with it testing): only plugins should", pkg)
		}
	}
	if got, want := chain(imports, root, goPlugin), []string{root, plugins, goPlugin}; !slices.Equal(got, want) {
		t.Errorf("the chain to go-plugin is %q, want %q as docs/ARCHITECTURE.md says", got, want)
	}
}

// chain returns a shortest import path from root to pkg.
func chain(imports map[string][]string, root, pkg string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == pkg {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, imp := range imports[p] {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return []string{root, "?", pkg}
}
