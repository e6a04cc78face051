package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNoTestingInTheBinary: no package of this module that transportctl
// links imports package testing (test helpers live in *test packages:
// transporttest, pluginstest). The one importer left is
// github.com/hashicorp/go-plugin, whose testing.go is part of its
// package; it is allowed by name, so a new importer fails the test.
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
	allowed := map[string]bool{"github.com/hashicorp/go-plugin": true}
	found := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp != "testing" {
				continue
			}
			found++
			if !allowed[f[0]] {
				t.Errorf("%s imports testing, and transportctl links it", f[0])
			}
		}
	}
	if found == 0 {
		t.Log("nothing imports testing any more: go list -deps ./cmd/transportctl | grep -x testing is empty; drop the allowance")
	}
}
