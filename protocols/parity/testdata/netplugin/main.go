// Command transportkit-backend-paritynet is the plugin backend of the
// parity suite: the standard library's net (backend stdnet) served out of
// process with every stream on the byte path (no socket handoff), so
// that each byte the suite sends crosses the plugin.
package main

import (
	"fmt"
	"os"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func main() {
	err := plugins.Serve(plugins.ServeConfig{
		Name:           "paritynet",
		Description:    "stdnet over the plugin byte path, for the parity suite",
		Capabilities:   []registry.Capability{registry.CapTCP},
		DisableHandoff: true,
		Open: func(opts transport.Options) (transport.Backend, error) {
			return stdnet.Open(opts)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
