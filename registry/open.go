package registry

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/transportkit/transportkit/transport"
)

// DefaultChain returns the backends tried, in order, when nothing names
// one: on Linux "epoll" then "stdnet", elsewhere "stdnet". The mock
// backend is never in it.
func DefaultChain() []string { return slices.Clone(defaultChain) }

// Open opens the backend registered (or discovered, for a "plugin:" name)
// under name with opts, and no config file.
//
// An unknown name fails with an *UnknownBackendError (matching
// ErrUnknownBackend) that lists the known names. A backend that cannot
// run here fails with an *transport.OpError (Op "open") whose cause
// matches transport.ErrUnavailable and says why: a named backend never
// falls back to another. Use Select for the configured choice with its
// fallback chain.
func Open(name string, opts transport.Options) (transport.Backend, error) {
	return openNamed(name, opts, nil)
}

// Source says where the choice of a backend came from.
type Source string

// Sources of a Choice, strongest first.
const (
	SourceExplicit Source = "explicit" // Selection.Name: code or a flag
	SourceEnv      Source = "env"      // TRANSPORTKIT_BACKEND
	SourceConfig   Source = "config"   // the config file's "backend"
	SourceDefault  Source = "default"  // the default chain
)

// Selection is what Select chooses from. The zero value selects by
// TRANSPORTKIT_BACKEND, then TRANSPORTKIT_CONFIG's file, then the default
// chain, with default options and no logging.
type Selection struct {
	// Name is a backend named in code or on the command line. If empty,
	// TRANSPORTKIT_BACKEND, the config file and the default chain decide,
	// in that order.
	Name string

	// Reason says why Name was chosen, for the Choice and the debug log,
	// such as "--backend flag" or "probing every backend". If empty,
	// "named explicitly". It is ignored when Name is empty.
	Reason string

	// Config is a config already loaded. If nil, the file at ConfigPath
	// is loaded, or TRANSPORTKIT_CONFIG's if ConfigPath is empty, or none.
	Config *Config

	// ConfigPath is the config file to load when Config is nil.
	ConfigPath string

	// Options are given to the backend, completed by the config file's
	// "options" for fields left zero and its "backends" section for
	// Options.Config. If Options.Logger is nil, Logger is used.
	Options transport.Options

	// Logger receives the choice and its reason at Debug level. If nil,
	// Options.Logger is used, and if that is nil too nothing is logged.
	Logger hclog.Logger
}

// Choice says which backend Select chose and why.
type Choice struct {
	// Name is the backend chosen, or being tried when Select failed.
	Name string
	// Source is where the choice came from.
	Source Source
	// Reason says it in words, such as "env TRANSPORTKIT_BACKEND" or
	// "default chain; skipped stdnet: ...".
	Reason string
}

// Select opens the backend that sel, the environment and the config file
// choose, strongest first: sel.Name (code or flag), TRANSPORTKIT_BACKEND,
// the config file's "backend", and last the DefaultChain.
//
// A backend chosen by name, from any of the first three sources, is
// opened or fails: unknown names fail with an *UnknownBackendError, and
// an unavailable backend fails with the reason. Only the default chain
// falls back, and only past backends that are not registered or are
// unavailable (their Available or Open fails with an error matching
// transport.ErrUnavailable); any other error stops it. When the whole
// chain is unavailable the error matches ErrNoBackend.
//
// Config file problems are *ConfigError values; a config "backend" that
// fails is reported as a *ConfigError for the field "backend" wrapping
// the failure.
func Select(sel Selection) (transport.Backend, Choice, error) {
	log := sel.Logger
	if log == nil {
		log = sel.Options.Log()
	}
	opts := sel.Options
	if opts.Logger == nil && sel.Logger != nil {
		opts.Logger = sel.Logger
	}
	cfg := sel.Config
	if cfg == nil {
		var err error
		if cfg, err = ResolveConfig(sel.ConfigPath); err != nil {
			return nil, Choice{}, err
		}
	}

	var c Choice
	switch env := os.Getenv(EnvBackend); {
	case sel.Name != "":
		c = Choice{Name: sel.Name, Source: SourceExplicit, Reason: sel.Reason}
		if c.Reason == "" {
			c.Reason = "named explicitly"
		}
	case env != "":
		c = Choice{Name: env, Source: SourceEnv, Reason: "env " + EnvBackend}
	case cfg.Backend != "":
		c = Choice{Name: cfg.Backend, Source: SourceConfig, Reason: "config file " + cfg.Path}
	default:
		return selectDefault(cfg, opts, log)
	}
	b, err := openNamed(c.Name, opts, cfg)
	if err != nil {
		switch c.Source {
		case SourceEnv:
			err = fmt.Errorf("%s=%s: %w", EnvBackend, c.Name, err)
		case SourceConfig:
			err = &ConfigError{Path: cfg.Path, Field: "backend", Err: err}
		}
		log.Debug("backend selection failed", "backend", c.Name, "source", c.Source, "reason", c.Reason, "error", err)
		return nil, c, err
	}
	log.Debug("backend selected", "backend", c.Name, "source", c.Source, "reason", c.Reason)
	return b, c, nil
}

// selectDefault opens the first backend of the default chain that is
// registered and available.
func selectDefault(cfg *Config, opts transport.Options, log hclog.Logger) (transport.Backend, Choice, error) {
	var skipped []string
	for _, name := range defaultChain {
		c := Choice{Name: name, Source: SourceDefault, Reason: "default chain"}
		if len(skipped) > 0 {
			c.Reason += "; skipped " + strings.Join(skipped, "; ")
		}
		b, err := openNamed(name, opts, cfg)
		if err == nil {
			log.Debug("backend selected", "backend", name, "source", c.Source, "reason", c.Reason)
			return b, c, nil
		}
		if !errors.Is(err, ErrUnknownBackend) && !errors.Is(err, transport.ErrUnavailable) {
			log.Debug("backend selection failed", "backend", name, "source", c.Source, "error", err)
			return nil, c, err
		}
		reason := "not registered"
		var oe *transport.OpError
		if errors.As(err, &oe) {
			reason = oe.Err.Error()
		}
		log.Debug("backend unavailable, trying the next in the default chain", "backend", name, "reason", reason)
		skipped = append(skipped, name+": "+reason)
	}
	return nil, Choice{Source: SourceDefault, Reason: "default chain"},
		fmt.Errorf("%w: default chain %s: %s", ErrNoBackend, strings.Join(defaultChain, ", "), strings.Join(skipped, "; "))
}

// openNamed opens the backend name with opts completed by cfg.
func openNamed(name string, opts transport.Options, cfg *Config) (transport.Backend, error) {
	d, err := resolve(name, cfg)
	if err != nil {
		return nil, err
	}
	opts = cfg.options(name, opts)
	if d.Available != nil {
		if err := d.Available(); err != nil {
			return nil, &transport.OpError{Op: "open", Backend: name, Err: err}
		}
	}
	b, err := d.Open(opts)
	if err != nil {
		var oe *transport.OpError
		if !errors.As(err, &oe) {
			err = &transport.OpError{Op: "open", Backend: name, Err: err}
		}
		return nil, err
	}
	if b == nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: errors.New("driver returned a nil backend")}
	}
	return b, nil
}

// resolve finds the driver for name among the registered ones and, for a
// plugin name, among those the discoverers find.
func resolve(name string, cfg *Config) (Driver, error) {
	if d, ok := lookup(name); ok {
		return d, nil
	}
	known := Names()
	var derr error
	noDiscoverer := false
	if strings.HasPrefix(name, PluginPrefix) {
		mu.RLock()
		noDiscoverer = len(discoverers) == 0
		mu.RUnlock()
		var found []Driver
		found, derr = discover(cfg)
		for _, d := range found {
			if d.Name == name {
				return d, nil
			}
			known = append(known, d.Name)
		}
		slices.Sort(known)
	}
	return Driver{}, errors.Join(&UnknownBackendError{Name: name, Known: known, NoDiscoverer: noDiscoverer}, derr)
}
