package plugins

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// VerifyOptions configure Verify. The zero value checks permissions only,
// with the default start timeout and no logging.
type VerifyOptions struct {
	// Checksum is the hex SHA-256 the binary must have. If empty, the
	// checksum is computed and reported but not checked.
	Checksum string
	// StartTimeout bounds the launch. If zero, DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives the plugin's logs and stderr. If nil, they are
	// dropped (the end of its stderr still reaches an *ExitError).
	Logger hclog.Logger
	// Options are what the plugin's backend is opened with, as a launch
	// opens it; Options.Config is its section of the config file. A
	// plugin that refuses them fails Verify with an *OpenError. If zero,
	// the backend is opened with no options and no config, as a launch
	// without a config file opens it, so a plugin that needs config fails.
	// Options.Logger is not used (see Logger).
	Options transport.Options
}

// Verify checks the plugin binary at path the way a launch does (the
// trust rules, and its checksum when opts pins one), launches it from the
// file it checked, runs go-plugin's handshake, asks the plugin to
// describe itself and to open its backend with opts.Options (its config
// section included), as every launch does, then ends it. A relative path is taken from the
// working directory, as any file named on a command line, and is never
// searched for in $PATH. The Description says what the plugin offers,
// with the protocol version agreed on, the path (made absolute), its real
// location and the SHA-256 of the binary that ran. The binary's name need
// not follow the transportkit-backend-NAME pattern. Errors are those of a
// launch: *NotPluginError, *PermissionError, *ChecksumError,
// ErrStartTimeout, *ExitError, *OpenError, or the context's, which also
// ends the launch at once.
func Verify(ctx context.Context, path string, opts VerifyOptions) (*Description, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	name, ok := pluginName(filepath.Base(abs))
	if !ok {
		name = filepath.Base(abs)
	}
	p := Plugin{Name: name, Path: abs, Checksum: opts.Checksum, StartTimeout: opts.StartTimeout}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := checkOptions(opts.Options); err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	inst, err := launchProcess(ctx, p, registry.PluginPrefix+name, log)
	if err != nil {
		return nil, err
	}
	defer inst.stop()
	b := &Backend{name: registry.PluginPrefix + name, opts: opts.Options, log: log}
	if err := b.openInstance(ctx, inst); err != nil {
		return nil, fmt.Errorf("plugins: opening %s: %w", abs, err)
	}
	desc := new(Description)
	*desc = inst.desc
	return desc, nil
}
