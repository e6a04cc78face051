package plugins

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/registry"
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
}

// Verify checks the plugin binary at path the way a launch does (the
// trust rules, and its checksum when opts pins one), launches it from the
// file it checked, runs go-plugin's handshake and asks the plugin to
// describe itself, then ends it. A relative path is taken from the
// working directory, as any file named on a command line, and is never
// searched for in $PATH. The Description says what the plugin offers,
// with the protocol version agreed on, the path (made absolute), its real
// location and the SHA-256 of the binary that ran. The binary's name need
// not follow the transportkit-backend-NAME pattern. Errors are those of a
// launch: *PermissionError, *ChecksumError, ErrStartTimeout, *ExitError,
// or the context's, which also ends the launch at once.
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
	inst, err := launchProcess(ctx, p, registry.PluginPrefix+name, log)
	if err != nil {
		return nil, err
	}
	defer inst.stop()
	desc := new(Description)
	if err := inst.call(ctx, methodDescribe, &describeRequest{}, desc); err != nil {
		return nil, fmt.Errorf("plugins: describing %s: %w", abs, inst.callError(ctx, err))
	}
	desc.Protocol = inst.protocol
	desc.Path, desc.RealPath, desc.SHA256 = abs, inst.realPath, inst.sum
	return desc, nil
}
