package registry

import (
	"fmt"
	"sort"
	"sync"

	"github.com/transportkit/transportkit/transport"
)

// Kind says where a backend's code runs.
type Kind string

// Kinds of backend.
const (
	// KindInTree is a backend compiled into the program.
	KindInTree Kind = "in-tree"
	// KindPlugin is a backend run out of process as a plugin binary.
	KindPlugin Kind = "plugin"
)

// Capability is something a backend can do, as listings show it (a
// string in JSON). The Cap* constants are the known ones; a backend may
// add words of its own.
type Capability string

// Capabilities a driver can advertise in Driver.Capabilities.
const (
	CapTCP      Capability = "tcp"      // dials tcp, tcp4 and tcp6
	CapUnix     Capability = "unix"     // dials unix stream sockets
	CapFD       Capability = "fd"       // streams expose a kernel file descriptor (InfoFD)
	CapTLS      Capability = "tls"      // does its own TLS (transport.TLSDialer)
	CapReadable Capability = "readable" // IsReadable needs no syscall
	CapInMemory Capability = "inmemory" // no sockets at all (tests)
)

// Driver describes a backend to the registry.
type Driver struct {
	// Name selects the backend ("epoll", "stdnet", "mock",
	// "plugin:NAME"). It must be non-empty and unique.
	Name string
	// Kind says where the backend runs. If empty, KindInTree.
	Kind Kind
	// Description is one line for listings.
	Description string
	// Capabilities lists what the backend can do (the Cap* constants, or
	// the backend's own words).
	Capabilities []Capability
	// Available reports nil when the backend can run here, or an error
	// wrapping transport.ErrUnavailable that says why not. If nil, the
	// backend is always available.
	Available func() error
	// Open creates a backend with the given options. It must not be nil.
	Open func(opts transport.Options) (transport.Backend, error)
	// Details holds extra facts for listings (a plugin's path, version and
	// checksum status). It may be nil.
	Details map[string]string
}

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
)

// Register makes a backend selectable by name. It is meant to be called
// from the init function of the backend's package. It panics if the name is
// empty, Open is nil, or the name is already registered.
func Register(d Driver) {
	if d.Name == "" {
		panic("registry: Register with an empty name")
	}
	if d.Open == nil {
		panic("registry: Register " + d.Name + " with a nil Open")
	}
	if d.Kind == "" {
		d.Kind = KindInTree
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := drivers[d.Name]; dup {
		panic(fmt.Sprintf("registry: Register called twice for backend %q", d.Name))
	}
	drivers[d.Name] = d
}

// lookup returns the driver registered under name.
func lookup(name string) (Driver, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := drivers[name]
	return d, ok
}

// Names returns the names of the registered backends, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
