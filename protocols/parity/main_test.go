package parity

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/plugins"
)

// TestMain ends the plugin processes and removes the plugin build, then
// fails the package if a goroutine outlived the tests (whatever their
// outcome: a difference must not hide a leak).
func TestMain(m *testing.M) {
	code := m.Run()
	plugins.Cleanup()
	if pluginBuild.dir != "" {
		os.RemoveAll(pluginBuild.dir)
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
		code = 1
	}
	os.Exit(code)
}
