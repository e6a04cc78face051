package registry

import (
	"slices"
	"strings"
)

// Info describes a backend for listings. The json tags are the format
// `transportctl list --json` prints.
type Info struct {
	// Name is the registry name.
	Name string `json:"name"`
	// Kind says whether the backend is compiled in or a plugin.
	Kind Kind `json:"kind"`
	// Available reports whether the backend can run here.
	Available bool `json:"available"`
	// Reason says why the backend is unavailable; empty when it is
	// available.
	Reason string `json:"reason,omitempty"`
	// Default marks the backend the default chain picks: the first
	// available one of DefaultChain. At most one Info has it.
	Default bool `json:"default"`
	// Capabilities lists what the backend can do; never nil.
	Capabilities []Capability `json:"capabilities"`
	// Description is one line about the backend.
	Description string `json:"description"`
	// Details holds extra facts (for plugins: path, version, checksum
	// status). It may be nil.
	Details map[string]string `json:"details,omitempty"`
}

// List describes every registered backend and every plugin the
// discoverers find with cfg's plugin settings (cfg may be nil), sorted by
// name. It checks availability but opens nothing. The error, if any,
// reports discovery failures; the list is complete apart from them.
func List(cfg *Config) ([]Info, error) {
	mu.RLock()
	all := make([]Driver, 0, len(drivers))
	for _, d := range drivers {
		all = append(all, d)
	}
	mu.RUnlock()
	found, err := discover(cfg)
	all = append(all, found...)
	slices.SortFunc(all, func(a, b Driver) int { return strings.Compare(a.Name, b.Name) })

	infos := make([]Info, len(all))
	for i, d := range all {
		infos[i] = Info{
			Name:         d.Name,
			Kind:         d.Kind,
			Available:    true,
			Capabilities: append([]Capability{}, d.Capabilities...),
			Description:  d.Description,
			Details:      d.Details,
		}
		if d.Available != nil {
			if aerr := d.Available(); aerr != nil {
				infos[i].Available = false
				infos[i].Reason = aerr.Error()
			}
		}
	}
	for _, name := range defaultChain {
		i := slices.IndexFunc(infos, func(in Info) bool { return in.Name == name })
		if i >= 0 && infos[i].Available {
			infos[i].Default = true
			break
		}
	}
	return infos, err
}
