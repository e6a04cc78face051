package main

import (
	"strings"
	"testing"
)

// TestUnknownHelpTopicExit: "help TOPIC" and "completion SHELL" exit 2
// for an unknown topic or shell, as an unknown command does (the root
// help says so), and say what was unknown; known ones still exit 0.
func TestUnknownHelpTopicExit(t *testing.T) {
	noEnv(t)
	for _, args := range [][]string{{"help", "nosuch"}, {"completion", "nosuch"}, {"help", "plugin", "nosuch"}} {
		code, out, errOut := cli(t, args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "nosuch") {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q; want exit 2 naming nosuch", args, code, len(out), errOut)
		}
	}
	for _, args := range [][]string{{"help"}, {"help", "plugin", "verify"}, {"completion"}, {"help", "completion"}} {
		if code, out, errOut := cli(t, args...); code != exitOK || out == "" {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q; want help and exit 0", args, code, len(out), errOut)
		}
	}
}
