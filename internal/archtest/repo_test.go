package archtest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
