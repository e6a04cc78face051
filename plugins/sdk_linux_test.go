//go:build linux

package plugins_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
)

// TestServeDialer launches a plugin whose main is ServeDialer, dials
// through it, and closes it (ServeDialer then exits the plugin).
func TestServeDialer(t *testing.T) {
	t.Setenv(envDialer, "dialer")
	b, err := plugins.Open(plugins.Plugin{Name: "dialer", Path: testPluginPath}, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ln := listenTCP(t)
	echoServer(t, ln)
	s, err := b.Dial(dialCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if dataPath(s) != plugins.DataPathHandoff {
		t.Errorf("data path %q, want the handoff of the direct socket", dataPath(s))
	}
	roundTrip(t, s, "through ServeDialer")
	desc, err := b.Describe(dialCtx(t))
	if err != nil || desc.Name != "dialer" {
		t.Errorf("Describe = %+v, %v", desc, err)
	}
	b.Close()
	eventually(t, "the plugin exited", func() bool { return len(descendants(t)) == 0 })

	// open's refusal, and an unknown config key, fail the Dial.
	for cfg, want := range map[string]string{`{"refuse": "no dialing today"}`: "no dialing today", `{"nope": 1}`: `"nope"`} {
		r, err := plugins.Open(plugins.Plugin{Name: "dialer", Path: testPluginPath}, transport.Options{Config: []byte(cfg)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Dial(dialCtx(t), "tcp", ln.Addr().String())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: Dial error %v, want one saying %s", cfg, err, want)
		}
		r.Close()
	}

	// A name ServeDialer cannot serve: status 1 and the reason on stderr.
	cmd := exec.Command(testPluginPath)
	cmd.Env = append(os.Environ(), envDialer+"=bad name")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "ServeConfig.Name") {
		t.Errorf("ServeDialer with a bad name: %v, output %q; want status 1 and the reason", err, out)
	}
}
