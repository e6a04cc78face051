package registry

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnknownBackend is matched (errors.Is) by every *UnknownBackendError:
	// a name was asked for that no registered driver or plugin discoverer
	// provides.
	ErrUnknownBackend = errors.New("registry: unknown backend")

	// ErrNoBackend is returned by Select when no backend was named anywhere
	// and no backend of the default chain is available here. The error
	// says why each one was skipped.
	ErrNoBackend = errors.New("registry: no backend available")

	// ErrUnknownField is the cause of a *ConfigError for a config file key
	// the registry does not know.
	ErrUnknownField = errors.New("unknown field")
)

// UnknownBackendError reports a backend name that is neither registered
// nor found by a plugin discoverer. Its message says how to fix it, in the
// manner of database/sql: the backend's package was probably not imported.
type UnknownBackendError struct {
	// Name is the name that was asked for.
	Name string
	// Known lists the names that were available instead, sorted. It is
	// empty when nothing is registered.
	Known []string
	// NoDiscoverer reports, for a plugin name (PluginPrefix), that no
	// plugin discoverer is registered: the program does not import the
	// plugins package, so no plugin can be found.
	NoDiscoverer bool
}

// Error names the unknown backend and lists the known ones.
func (e *UnknownBackendError) Error() string {
	known := "none registered"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	hint := "forgotten import?"
	switch {
	case e.NoDiscoverer:
		hint = `forgotten import? plugin backends need import _ "github.com/transportkit/transportkit/plugins"`
	case strings.HasPrefix(e.Name, PluginPrefix):
		hint = "no plugin binary transportkit-backend-" + strings.TrimPrefix(e.Name, PluginPrefix) +
			" in the plugin directories (TRANSPORTKIT_PLUGIN_PATH, the config file's plugins.dirs)"
	}
	return fmt.Sprintf("registry: unknown backend %q (%s); known backends: %s", e.Name, hint, known)
}

// Is reports whether target is ErrUnknownBackend.
func (e *UnknownBackendError) Is(target error) bool { return target == ErrUnknownBackend }

// ConfigError reports a config file that cannot be used: unreadable, not
// JSON, a key the registry does not know, or a value of the wrong form.
type ConfigError struct {
	// Path is the config file's path. It is empty for a config that did
	// not come from a file.
	Path string
	// Field is the dotted path of the offending key, such as
	// "options.connect_timeout" or "plugins.checksums.socks5". It is empty
	// when the error is about the file as a whole.
	Field string
	// Err is the cause: ErrUnknownField, a parse error from the time or
	// encoding/json packages, an *UnknownBackendError for a "backend" that
	// does not exist, an fs error, ...
	Err error
}

// Error says which file and which field are wrong, and why.
func (e *ConfigError) Error() string {
	s := "registry: config"
	if e.Path != "" {
		s += " file " + e.Path
	}
	if e.Field != "" {
		s += fmt.Sprintf(": field %q", e.Field)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }
