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

// Verify checks the plugin binary at path the way a launch does (its
// permissions, and its checksum when opts pins one), launches it, runs
// go-plugin's handshake and asks the plugin to describe itself, then ends
// it. The Description says what the plugin offers, with the protocol
// version agreed on, the path and the binary's SHA-256. The binary's name
// need not follow the transportkit-backend-NAME pattern. Errors are those
// of a launch: *PermissionError, *ChecksumError, ErrStartTimeout,
// *ExitError, or the context's.
func Verify(ctx context.Context, path string, opts VerifyOptions) (*Description, error) {
	name, ok := pluginName(filepath.Base(path))
	if !ok {
		name = filepath.Base(path)
	}
	p := Plugin{Name: name, Path: path, Checksum: opts.Checksum, StartTimeout: opts.StartTimeout}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	type result struct {
		inst *instance
		err  error
	}
	launched := make(chan result, 1)
	go func() {
		inst, err := launchProcess(p, registry.PluginPrefix+name, log)
		launched <- result{inst, err}
	}()
	var r result
	select {
	case r = <-launched:
	case <-ctx.Done():
		go func() {
			if r := <-launched; r.inst != nil {
				r.inst.stop()
			}
		}()
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	defer r.inst.stop()
	desc := new(Description)
	if err := r.inst.call(ctx, methodDescribe, &describeRequest{}, desc); err != nil {
		return nil, fmt.Errorf("plugins: describing %s: %w", path, r.inst.callError(ctx, err))
	}
	desc.Protocol = r.inst.protocol
	desc.Path = path
	sum, err := FileSHA256(path)
	if err != nil {
		return nil, err
	}
	desc.SHA256 = sum
	return desc, nil
}
