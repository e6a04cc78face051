package archtest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// repoRoot returns the directory of the module's go.mod and the module
// path.
func repoRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(sc.Text(), "module "); ok {
					return dir, strings.TrimSpace(m)
				}
			}
			t.Fatalf("%s/go.mod has no module line", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// TestImportRules checks the module's import graph against the table of
// docs/ARCHITECTURE.md.
func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	root, module := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := ParseRules(doc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pkgs, err := ListPackages(ctx, root, "./...")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list ./... found %d packages; expected the whole module", len(pkgs))
	}
	for _, v := range CheckImports(module, pkgs, rules) {
		t.Error(v)
	}
}

// outsideFiles are files of other projects that the module's texts name.
var outsideFiles = []string{
	"testing.go",                  // github.com/hashicorp/go-plugin's, which links package testing
	"generate_cert.go",            // the Go distribution's crypto/tls/generate_cert.go
	"crypto/tls/generate_cert.go", // the same
	"backend.go",                  // in the module transportctl plugin new writes (from cmd/transportctl/newplugin/backend.go.tmpl)
}

// TestLinks checks every relative link and file reference of the
// module's Markdown files and Go comments.
func TestLinks(t *testing.T) {
	root, _ := repoRoot(t)
	problems, err := CheckLinks(root, outsideFiles...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestNames checks that every pkg.Name of a module package that the
// Markdown files and Go comments mention exists.
func TestNames(t *testing.T) {
	root, _ := repoRoot(t)
	names, err := LoadNames(root)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := CheckNames(root, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// ciPackageArg is a package directory given to a command in .ci/run, such
// as ./protocols/internal/h1/ or ./cmd/transportctl.
var ciPackageArg = regexp.MustCompile(`(?:^|\s)\./([A-Za-z0-9_][A-Za-z0-9_./-]*)`)

// TestCIRunPaths: every package directory .ci/run names exists, so that a
// move or rename cannot leave CI running a step on nothing (its fuzz step
// named ./protocols/h1/ after the package moved, and only a CI run found
// it).
func TestCIRunPaths(t *testing.T) {
	root, _ := repoRoot(t)
	script, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i, line := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range ciPackageArg.FindAllStringSubmatch(line, -1) {
			rel := strings.TrimSuffix(strings.TrimSuffix(m[1], "..."), "/")
			if rel == "" || rel == "." {
				continue
			}
			checked++
			if fi, err := os.Stat(filepath.Join(root, rel)); err != nil || !fi.IsDir() {
				t.Errorf(".ci/run:%d names ./%s, which is not a directory of the repository", i+1, m[1])
			}
		}
	}
	if checked == 0 {
		t.Error("no package directory found in .ci/run: the pattern no longer matches its commands")
	}
}
