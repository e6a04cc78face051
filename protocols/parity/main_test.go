package parity

import (
	"context"
	"os"
	"testing"

	"github.com/transportkit/transportkit/plugins/pluginstest"
)

// TestMain gives the plugin build a directory, and ends the plugin
// processes and removes the build after the tests, then fails the package
// if a goroutine outlived them (whatever their outcome: a difference must
// not hide a leak).
func TestMain(m *testing.M) {
	os.Exit(pluginstest.Main(m, func(_ context.Context, dir string) error {
		pluginBuild.dir = dir
		return nil
	}))
}
