package mock

import (
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func init() {
	registry.Register(registry.Driver{
		Name:        Name,
		Description: "deterministic in-memory backend for tests: scripted peers, handler peers, fault injection",
		Capabilities: []registry.Capability{
			registry.CapTCP,
			registry.CapUnix,
			registry.CapTLS,
			registry.CapReadable,
			registry.CapInMemory,
		},
		Open: func(opts transport.Options) (transport.Backend, error) {
			b, err := Open(opts)
			if err != nil {
				return nil, err
			}
			return b, nil
		},
	})
}
