package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Plugin naming: a plugin binary named PluginBinaryPrefix+NAME (such as
// transportkit-backend-socks5) is the backend PluginPrefix+NAME
// ("plugin:socks5").
const (
	// PluginPrefix starts the registry name of every plugin backend.
	PluginPrefix = "plugin:"
	// PluginBinaryPrefix starts the file name of every plugin binary.
	PluginBinaryPrefix = "transportkit-backend-"
)

// A Discoverer finds backends that are not compiled in, such as plugin
// binaries in the directories of cfg.Dirs. It returns one Driver per
// backend found, named PluginPrefix+NAME, with Kind KindPlugin (an empty
// Kind is taken as KindPlugin), Open not nil, and Details saying where the
// backend came from (for plugins: "path", "version", "checksum").
//
// A backend that was found but cannot be used (say its checksum does not
// match) is best returned as a Driver whose Available reports why, so that
// listings show it. The error is for failures of the search itself, such as
// an unreadable directory; drivers found before it are still used.
//
// Discoverers are called by List and by Open or Select for a name that
// starts with PluginPrefix and is not registered, every time: they must be
// cheap (no process launched until Open) and safe for concurrent use.
type Discoverer func(cfg PluginConfig) ([]Driver, error)

var discoverers []Discoverer // guarded by mu

// RegisterDiscoverer adds a Discoverer, normally from the init function of
// the package that implements plugins. It panics if d is nil.
func RegisterDiscoverer(d Discoverer) {
	if d == nil {
		panic("registry: RegisterDiscoverer with a nil Discoverer")
	}
	mu.Lock()
	defer mu.Unlock()
	discoverers = append(discoverers, d)
}

// discover runs every discoverer with cfg's plugin settings and returns
// the valid drivers found, sorted by name, leaving out names that are
// registered or were found by an earlier discoverer. Invalid drivers and
// search failures are joined in the error.
func discover(cfg *Config) ([]Driver, error) {
	mu.RLock()
	ds := slices.Clone(discoverers)
	mu.RUnlock()
	if len(ds) == 0 {
		return nil, nil
	}
	pc := cfg.pluginConfig()
	var (
		found []Driver
		errs  []error
		seen  = map[string]bool{}
	)
	for _, n := range Names() {
		seen[n] = true
	}
	for _, disc := range ds {
		drivers, err := disc(pc)
		if err != nil {
			errs = append(errs, fmt.Errorf("registry: plugin discovery: %w", err))
		}
		for _, d := range drivers {
			switch {
			case !strings.HasPrefix(d.Name, PluginPrefix) || d.Name == PluginPrefix:
				errs = append(errs, fmt.Errorf("registry: discovered backend %q: name must start with %q", d.Name, PluginPrefix))
				continue
			case d.Open == nil:
				errs = append(errs, fmt.Errorf("registry: discovered backend %q: nil Open", d.Name))
				continue
			case seen[d.Name]:
				continue
			}
			if d.Kind == "" {
				d.Kind = KindPlugin
			}
			seen[d.Name] = true
			found = append(found, d)
		}
	}
	slices.SortFunc(found, func(a, b Driver) int { return strings.Compare(a.Name, b.Name) })
	return found, errors.Join(errs...)
}
