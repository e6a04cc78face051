package epoll

import (
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

var (
	_ transport.Backend = (*Backend)(nil)
	_ transport.Adopter = (*Backend)(nil)
)

func init() {
	registry.Register(registry.Driver{
		Name:        Name,
		Description: "Linux epoll engine: event loops on golang.org/x/sys/unix, no goroutine per idle stream",
		Capabilities: []registry.Capability{
			registry.CapTCP, registry.CapUnix, registry.CapFD, registry.CapReadable,
		},
		Available: Available,
		Open: func(opts transport.Options) (transport.Backend, error) {
			b, err := Open(opts)
			if err != nil {
				return nil, err
			}
			return b, nil
		},
	})
}
