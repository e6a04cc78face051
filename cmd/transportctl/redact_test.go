package main

import (
	"strings"
	"testing"
)

// TestURLPasswordRedacted: probe and bench print the target URL (table
// header, --json "url", bench's header) with its password replaced, as
// net/http's errors do (url.URL.Redacted), never the password itself.
func TestURLPasswordRedacted(t *testing.T) {
	noEnv(t)
	target := "http://user:s3cret@127.0.0.1:1/"
	for _, args := range [][]string{
		{"probe", "--backend", "stdnet", target},
		{"probe", "--json", "--backend", "stdnet", target},
		{"bench", "-n", "2", "-c", "1", "--rounds", "1", "--backend", "stdnet", target},
		{"bench", "--json", "-n", "2", "-c", "1", "--rounds", "1", "--backend", "stdnet", target},
	} {
		_, out, errOut := cli(t, args...)
		if strings.Contains(out+errOut, "s3cret") || !strings.Contains(out, "user:xxxxx@127.0.0.1:1") {
			t.Errorf("%v: want the URL printed as user:xxxxx@, never the password:\n%s%s", args, out, errOut)
		}
	}
}
