//go:build linux

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/registry"
)

// TestProbeTotalExcludesLaunch: probe starts a plugin's process before
// its first fetch (plugins.Launch), so that a fetch on loopback through a
// plugin that takes 1.5 s to start has a TOTAL of its own, and the launch
// is reported apart ("launch_ms", and in the table's NOTE).
func TestProbeTotalExcludesLaunch(t *testing.T) {
	noEnv(t)
	dir, _ := slowBuild(t)
	t.Setenv(registry.EnvPluginPath, dir)
	t.Setenv("SLOWSTART_INIT", "1500ms")
	code, out, errOut := cli(t, "probe", "--json", "--backend", "plugin:slowstart")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var rows []probeRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].Total == nil {
		t.Fatalf("rows %s: %v", out, err)
	}
	r := rows[0]
	if *r.Total >= 1000 {
		t.Errorf("total_ms %.1f for one fetch on loopback: the plugin's 1.5 s launch is counted in the fetch", *r.Total)
	}
	if r.Launch == nil || *r.Launch < 1500 {
		t.Errorf("launch_ms %v, want the launch's 1.5 s or more", r.Launch)
	}
	code, out, _ = cli(t, "probe", "--backend", "plugin:slowstart")
	if code != exitOK || !strings.Contains(out, "plugin launched in ") {
		t.Errorf("table: exit %d, want the launch in NOTE:\n%s", code, out)
	}
	code, out, _ = cli(t, "probe", "--json", "--backend", "stdnet")
	if code != exitOK || strings.Contains(out, "launch_ms") {
		t.Errorf("stdnet: exit %d, want no launch_ms:\n%s", code, out)
	}
	noChildren(t)
}
