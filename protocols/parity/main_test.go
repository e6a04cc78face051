package parity

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/plugins"
)

func TestMain(m *testing.M) {
	code := m.Run()
	plugins.Cleanup()
	if pluginBuild.dir != "" {
		os.RemoveAll(pluginBuild.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
