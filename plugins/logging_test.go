package plugins

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestChatterLevels(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, Name: "host"})
	q := quiet(log, "transportkit-backend-x", "plugin:x")
	q.Debug("d")
	q.Info("i")
	q.Warn("w")
	q.Log(hclog.Info, "li")
	q.Log(hclog.Error, "le")
	q.Log(hclog.Warn, "lw")
	q.Error("e")
	q.With("k", "v").Info("with")
	q.Named("stdio").Debug("named")
	q.ResetNamed("other").Info("reset")
	q.Named("transportkit-backend-x").Info("from the plugin")
	for _, want := range []string{
		"[TRACE] host: d", "[TRACE] host: i", "[DEBUG] host: w", "[TRACE] host: li", "[DEBUG] host: le", "[DEBUG] host: lw", "[DEBUG] host: e",
		"[TRACE] host: with: k=v", "[TRACE] host.stdio: named", "[TRACE] other: reset", "[INFO]  host.plugin:x: from the plugin",
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
	if !q.IsDebug() || !q.IsInfo() {
		t.Error("a Trace logger does not log go-plugin's Debug and Info")
	}
	info := quiet(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info}), "", "")
	if info.IsDebug() || info.IsInfo() || info.IsWarn() || info.IsError() {
		t.Error("an Info logger takes go-plugin's Debug, Info, Warn and Error, which it would drop")
	}
	if named := info.Named("transportkit-backend-x"); named.Name() != "transportkit-backend-x" {
		t.Errorf("in a plugin, Named is just named: %q", named.Name())
	}
}
