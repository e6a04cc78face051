package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func newPluginCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Check plugin backends (out-of-process binaries), or start writing one",
		Long: `plugin groups the commands about plugin backends: binaries named
transportkit-backend-NAME, found in the config file's plugins.dirs and in
TRANSPORTKIT_PLUGIN_PATH, listed by "transportctl list" as plugin:NAME and
run out of process. "plugin verify" checks and starts a built plugin;
"plugin new" writes the module of a new one.`,
		Example: `  transportctl plugin verify ./transportkit-backend-socks5
  transportctl plugin verify --sha256 <hex> --json /opt/transportkit/plugins/transportkit-backend-socks5
  transportctl plugin new relay`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newVerifyCmd(a), newNewCmd(a))
	return cmd
}

const verifyLong = `verify checks the plugin binary at PATH the way every launch does, then
runs it. A relative PATH is taken from the working directory (never looked
up in $PATH). The binary must be one that nobody but root and you could
replace: it, every directory on the way to it and every symbolic link
followed (checked at the real location) must be owned by root or you, and
none may be writable by group or others (sticky directories such as /tmp
aside, except the one that holds the binary). It must have the pinned
SHA-256 when one is pinned (--sha256, else the config file's
plugins.checksums entry for its NAME). verify then launches the very file
it checked, runs the go-plugin handshake (protocol version negotiation,
mutual TLS), asks the plugin to describe itself and stops it.

It prints the plugin's name, version, description, capabilities, whether
it hands sockets to the host (handoff) or carries bytes itself, the
protocol version agreed on, the path, its real location when symbolic
links lead elsewhere, and the SHA-256 of the binary that ran. With --json
it prints one object with the keys name, version, description,
capabilities, handoff, protocol, path, real_path and sha256.

The file name need not follow the transportkit-backend-NAME pattern.

It opens the plugin's backend as a launch does, with the options and the
section of the config file (--config or TRANSPORTKIT_CONFIG) for its
backend name, backends."plugin:NAME" (NAME from the file name
transportkit-backend-NAME, else the file name itself): a plugin that
refuses its config (an unknown key, a missing or malformed value) fails.

Exit codes: 0 when the plugin passed; 1 when it was refused (replaceable
by another user, checksum mismatch) or did not start or answer in time;
2 for bad usage, a config the plugin refuses, and a PATH that is not a
plugin at all (a directory, a file that cannot be executed, a program
without the transportkit plugin handshake, such as /bin/true).`

// verifyFlags are the plugin verify command's flags.
type verifyFlags struct {
	asJSON  bool
	sha256  string
	timeout time.Duration
}

func newVerifyCmd(a *app) *cobra.Command {
	var vf verifyFlags
	cmd := &cobra.Command{
		Use:   "verify PATH",
		Short: "Check a plugin binary, launch it and print what it offers",
		Long:  verifyLong,
		Example: `  transportctl plugin verify ./transportkit-backend-socks5
  transportctl plugin verify --json ./transportkit-backend-socks5
  transportctl plugin verify --sha256 $(sha256sum transportkit-backend-socks5 | cut -d' ' -f1) ./transportkit-backend-socks5
  transportctl plugin verify --timeout 30s --log-level debug /opt/transportkit/plugins/transportkit-backend-tlskeys`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.verify(cmd.Context(), vf, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&vf.asJSON, "json", false, "print a JSON object instead of text")
	f.StringVar(&vf.sha256, "sha256", "", "the hex SHA-256 the binary must have (default: the config file's pin for the plugin, else none)")
	f.DurationVar(&vf.timeout, "timeout", plugins.DefaultStartTimeout, "bound for the launch and handshake, and again for the plugin's answer")
	return cmd
}

func (a *app) verify(ctx context.Context, vf verifyFlags, path string) error {
	if vf.timeout <= 0 {
		return fmt.Errorf("--timeout %v: want a positive duration", vf.timeout)
	}
	// The backend's name, as a launch from a plugin directory names it:
	// NAME of transportkit-backend-NAME, else the file's name.
	name, ok := strings.CutPrefix(filepath.Base(path), registry.PluginBinaryPrefix)
	if !ok {
		name = filepath.Base(path)
	}
	sum := strings.ToLower(vf.sha256)
	if sum == "" {
		if ok {
			sum = strings.ToLower(a.cfg.Plugins.Checksums[name])
		}
	} else if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("--sha256 %q: want 64 hex digits", vf.sha256)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*vf.timeout)
	defer cancel()
	backend := registry.PluginPrefix + name
	desc, err := plugins.Verify(ctx, path, plugins.VerifyOptions{
		Checksum:     sum,
		StartTimeout: vf.timeout,
		Logger:       a.log.Named("plugin"),
		Options:      a.cfg.BackendOptions(backend, transport.Options{}),
	})
	var oe *plugins.OpenError
	switch {
	case errors.As(err, &oe):
		// The plugin ran and refused its config: bad config, exit 2.
		where := "no config file, so no section"
		if a.cfg != nil && a.cfg.Path != "" {
			where = fmt.Sprintf("config file %s, section backends.%q", a.cfg.Path, backend)
			if _, given := a.cfg.Backends[backend]; !given {
				where += " (absent)"
			}
		}
		return fmt.Errorf("plugin %s failed verification: it refused its config (%s): %w", path, where, oe.Err)
	case errors.Is(err, plugins.ErrNotPlugin), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("plugin %s failed verification: %w", path, err) // bad usage, exit 2
	case err != nil:
		return &failure{fmt.Errorf("plugin %s failed verification: %w", path, err)}
	}
	if vf.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(desc)
	} else {
		err = printDescription(a, desc, sum != "")
	}
	if err != nil {
		return &failure{err}
	}
	return nil
}

// printDescription writes what verify found, one fact a line.
func printDescription(a *app, d *plugins.Description, pinned bool) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	caps := strings.Join(capStrings(d.Capabilities), ",")
	if caps == "" {
		caps = "-"
	}
	path := "byte path (the plugin carries each stream's bytes)"
	if d.Handoff {
		path = "handoff (sockets cross to the host)"
	}
	sum := d.SHA256 + " (unpinned)"
	if pinned {
		sum = d.SHA256 + " (matches the pin)"
	}
	for _, kv := range [][2]string{
		{"backend", registry.PluginPrefix + d.Name},
		{"name", d.Name},
		{"version", orDash(d.Version)},
		{"description", orDash(d.Description)},
		{"capabilities", caps},
		{"data path", path},
		{"protocol", fmt.Sprint(d.Protocol)},
		{"path", d.Path},
		{"real path", realPath(d)},
		{"sha256", sum},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "\nplugin %s verified: trusted (owners and permissions ok), started, answered\n", d.Name)
	return err
}

// realPath is d's real location, or "same" when links lead nowhere else.
func realPath(d *plugins.Description) string {
	if d.RealPath == "" || d.RealPath == d.Path {
		return "same"
	}
	return d.RealPath
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
