package registry

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// Environment variables the registry reads.
const (
	// EnvBackend names the backend to use when the code or the command
	// line names none. It beats the config file's "backend".
	EnvBackend = "TRANSPORTKIT_BACKEND"
	// EnvConfig is the path of the config file to use when the code or the
	// command line gives none.
	EnvConfig = "TRANSPORTKIT_CONFIG"
	// EnvPluginPath lists directories to search for plugin binaries,
	// separated like PATH (filepath.SplitList). They are searched before
	// the config file's plugins.dirs.
	EnvPluginPath = "TRANSPORTKIT_PLUGIN_PATH"
)

// Config is the config file, a JSON object such as
//
//	{
//	  "backend": "epoll",
//	  "options": {"connect_timeout": "5s", "keepalive": "30s",
//	              "no_delay": true, "local_addr": "127.0.0.1:0"},
//	  "backends": {"epoll": {"loops": 2}},
//	  "plugins": {"dirs": ["/opt/transportkit/plugins"],
//	              "checksums": {"socks5": "<sha256 hex>"},
//	              "start_timeout": "10s"}
//	}
//
// Every key is optional. Keys are matched exactly (lower case) and a key
// the registry does not know is an error naming it. Durations are Go
// duration strings ("250ms", "5s", "1m30s").
//
// The json tags below document the file format; LoadConfig does the
// decoding and the checking, so do not rely on encoding/json alone.
type Config struct {
	// Path is the file the config was loaded from. It is empty for a
	// Config built in code.
	Path string `json:"-"`

	// Backend names the backend to open when neither the code, a flag nor
	// TRANSPORTKIT_BACKEND names one. If empty, the default chain applies.
	Backend string `json:"backend"`

	// Options are the transport.Options every backend is opened with.
	// Values set in code win over these.
	Options ConfigOptions `json:"options"`

	// Backends holds one JSON object per backend name; the object is
	// handed, as transport.Options.Config, to that backend when it is
	// opened, and the backend checks it. Sections naming backends this
	// program does not have are ignored, so one file can serve several
	// builds. If nil, no backend gets a section.
	Backends map[string]json.RawMessage `json:"backends"`

	// Plugins says where and how to find plugin backends.
	Plugins PluginConfig `json:"plugins"`
}

// ConfigOptions is the "options" section of the config file: the subset of
// transport.Options that can be written down.
type ConfigOptions struct {
	// ConnectTimeout ("connect_timeout") bounds each dial. If zero, only
	// the caller's context does. Must not be negative.
	ConnectTimeout time.Duration `json:"connect_timeout"`

	// KeepAlive ("keepalive") is the TCP keep-alive period. If zero, the
	// transport default; negative ("-1s") turns keep-alive probes off.
	KeepAlive time.Duration `json:"keepalive"`

	// NoDelay ("no_delay") set to false turns Nagle's algorithm back on.
	// If nil, TCP_NODELAY stays on.
	NoDelay *bool `json:"no_delay"`

	// LocalAddr ("local_addr") is the local IP:port to bind before
	// connecting, an IP literal such as "127.0.0.1:0" or "[::1]:0". If
	// empty, the system picks.
	LocalAddr string `json:"local_addr"`
}

// PluginConfig is the "plugins" section of the config file, and what a
// Discoverer is given.
type PluginConfig struct {
	// Dirs are searched in order for plugin binaries. LoadConfig resolves
	// relative entries against the config file's directory, into absolute
	// paths (the plugins package refuses relative ones). A
	// Discoverer receives the TRANSPORTKIT_PLUGIN_PATH directories first,
	// then these. If empty, only TRANSPORTKIT_PLUGIN_PATH is searched.
	Dirs []string `json:"dirs"`

	// Checksums maps a plugin's short name (socks5 for "plugin:socks5")
	// to the lower-case hex SHA-256 its binary must have. A plugin without
	// an entry is unverified; the plugins package says what it does then.
	Checksums map[string]string `json:"checksums"`

	// StartTimeout ("start_timeout") bounds the launch of a plugin
	// process. If zero, the plugins package's default applies.
	StartTimeout time.Duration `json:"start_timeout"`
}

// LoadConfig reads and checks the config file at path. Errors are
// *ConfigError values naming the file and, where one is to blame, the
// field (for an unknown key the cause is ErrUnknownField).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Path: path, Err: err}
	}
	cfg := &Config{}
	if err := decodeConfig(data, cfg); err != nil {
		err.Path = path
		return nil, err
	}
	cfg.Path = path
	// Absolute, so that a plugin path never depends on the working
	// directory of a later call (and is never looked up in $PATH).
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &ConfigError{Path: path, Err: err}
	}
	for i, d := range cfg.Plugins.Dirs {
		if !filepath.IsAbs(d) {
			cfg.Plugins.Dirs[i] = filepath.Join(base, d)
		}
	}
	return cfg, nil
}

// ResolveConfig loads the config file at path or, if path is empty, the
// one TRANSPORTKIT_CONFIG names. With neither it returns an empty Config,
// which changes nothing.
func ResolveConfig(path string) (*Config, error) {
	if path == "" {
		path = os.Getenv(EnvConfig)
	}
	if path == "" {
		return &Config{}, nil
	}
	return LoadConfig(path)
}

// decodeConfig decodes data into cfg strictly and checks the values. It
// uses the module's one config decoder (DecodeConfig's), with keys matched
// exactly; an empty file is an error, where an empty backend section is
// not.
func decodeConfig(data []byte, cfg *Config) *ConfigError {
	if len(bytes.TrimSpace(data)) == 0 {
		return &ConfigError{Err: errors.New("unexpected end of JSON input")}
	}
	d := decoder{exact: true}
	if err := d.value(data, "", reflect.ValueOf(cfg).Elem()); err != nil {
		return err
	}
	return cfg.check()
}

// check validates the values that decoding alone does not.
func (c *Config) check() *ConfigError {
	fail := func(field string, format string, args ...any) *ConfigError {
		return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	if c.Options.ConnectTimeout < 0 {
		return fail("options.connect_timeout", "must not be negative")
	}
	if a := c.Options.LocalAddr; a != "" {
		if _, err := netip.ParseAddrPort(a); err != nil {
			return fail("options.local_addr", "want an IP:port literal: %w", err)
		}
	}
	for name, raw := range c.Backends {
		if name == "" {
			return fail("backends", "empty backend name")
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return fail("backends."+name, "want a JSON object, got %s", t)
		}
	}
	for i, d := range c.Plugins.Dirs {
		if d == "" {
			return fail(fmt.Sprintf("plugins.dirs[%d]", i), "empty directory")
		}
	}
	for name, sum := range c.Plugins.Checksums {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return fail("plugins.checksums."+name, "want 64 hex digits of SHA-256, got %q", sum)
		}
	}
	if c.Plugins.StartTimeout < 0 {
		return fail("plugins.start_timeout", "must not be negative")
	}
	return nil
}

// options returns base completed by the config file: fields left zero in
// base take the file's values, and Options.Config takes the file's section
// for the backend name. A nil c changes nothing.
func (c *Config) options(name string, base transport.Options) transport.Options {
	if c == nil {
		return base
	}
	o := base
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = c.Options.ConnectTimeout
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = c.Options.KeepAlive
	}
	if !o.DisableNoDelay && c.Options.NoDelay != nil {
		o.DisableNoDelay = !*c.Options.NoDelay
	}
	if o.LocalAddr == nil && c.Options.LocalAddr != "" {
		if ap, err := netip.ParseAddrPort(c.Options.LocalAddr); err == nil {
			o.LocalAddr = net.TCPAddrFromAddrPort(ap)
		}
	}
	if len(o.Config) == 0 {
		o.Config = c.Backends[name]
	}
	return o
}

// pluginConfig returns what discoverers are given: the plugins section
// with the TRANSPORTKIT_PLUGIN_PATH directories in front. A nil c gives
// just those directories.
func (c *Config) pluginConfig() PluginConfig {
	var pc PluginConfig
	if c != nil {
		pc = c.Plugins
	}
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(EnvPluginPath)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	pc.Dirs = append(dirs, pc.Dirs...)
	return pc
}

// BackendOptions returns base completed by the config file as the
// registry completes the options of backend name when it opens it: fields
// left zero in base take the "options" section's values, and
// Options.Config takes the file's section for name (backends.NAME). A
// tool that opens a backend by other means than the registry, such as a
// plugin binary given by its path, calls it to open it the same way. A
// nil c returns base.
func (c *Config) BackendOptions(name string, base transport.Options) transport.Options {
	return c.options(name, base)
}
