// Command bytesplugin is the plugin backend of the reliability tests' byte
// path column: stdnet in a plugin process, with every stream's descriptor
// hidden, so that its bytes are copied through the plugin instead of its
// socket being handed to the host. The tests build it with pluginstest.Build.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func main() {
	err := plugins.Serve(plugins.ServeConfig{
		Name:         "relbytes",
		Description:  "stdnet whose streams take the byte path, for the reliability tests",
		Capabilities: []registry.Capability{registry.CapTCP},
		Open: func(opts transport.Options) (transport.Backend, error) {
			b, err := stdnet.Open(opts)
			if err != nil {
				return nil, err
			}
			return bytesBackend{b}, nil
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// bytesBackend is stdnet with its streams' descriptors hidden.
type bytesBackend struct{ transport.Backend }

func (b bytesBackend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	s, err := b.Backend.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return noFD{s}, nil
}

// noFD hides a stream's descriptor, which sends it down the byte path.
type noFD struct{ transport.Stream }

func (s noFD) Info(key transport.InfoKey) (any, bool) {
	if key == transport.InfoFD {
		return nil, false
	}
	return s.Stream.Info(key)
}
