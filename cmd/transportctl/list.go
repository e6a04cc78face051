package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/transportkit/transportkit/registry"
)

func newListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backends, whether they can run here, and what they can do",
		Long: `list shows every backend compiled into transportctl and every plugin found
in the config file's plugin dirs and TRANSPORTKIT_PLUGIN_PATH: its kind
(in-tree or plugin), whether it is available here (and if not, why), the
one the default chain picks (DEFAULT *), its capabilities and a description.

Plugins get a second table: their version (from the binary's Go build
information), checksum status against the config file's plugins.checksums
pin (ok, mismatch, unpinned or unreadable), path ("PATH -> REAL" when
symbolic links lead elsewhere), and why the host refuses to start one.
It refuses a plugin that someone other than root and you could replace:
the binary, or a directory or link on the way to it, writable by group or
others (sticky directories such as /tmp aside, except the one that holds
the binary) or owned by another user; one found through a relative
TRANSPORTKIT_PLUGIN_PATH entry; and one whose checksum does not match its
pin. Refused plugins are listed as unavailable and are never started.
Plugins are not started by list, so their capabilities show as "-": run
"transportctl plugin verify PATH" to ask one.

With --json it prints an array of objects with the keys name, kind,
available, reason (when unavailable), default, capabilities, description
and, for plugins, details: path, real_path (when links lead elsewhere),
version, checksum, sha256 (when pinned) and refused (when the host refuses
to start it).

A backend chosen with --backend, TRANSPORTKIT_BACKEND or the config file
must exist: an unknown name is a usage error (exit 2), as with every
command. It exits 1 when plugin discovery failed (after listing what it
found).`,
		Example: `  transportctl list
  transportctl list --json
  TRANSPORTKIT_PLUGIN_PATH=$HOME/.transportkit/plugins transportctl list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.chooseBackends(); err != nil {
				return err
			}
			infos, derr := registry.List(a.cfg)
			var err error
			if asJSON {
				err = printListJSON(a, infos)
			} else {
				err = printListTable(a, infos)
			}
			if err != nil {
				return &failure{err}
			}
			if derr != nil {
				return &failure{derr}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func printListJSON(a *app, infos []registry.Info) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(infos)
}

func printListTable(a *app, infos []registry.Info) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tAVAILABLE\tDEFAULT\tCAPABILITIES\tDESCRIPTION")
	for _, in := range infos {
		avail, def, desc := "yes", "", in.Description
		if !in.Available {
			avail = "no"
			desc = "unavailable: " + in.Reason
		}
		if in.Default {
			def = "*"
		}
		caps := strings.Join(capStrings(in.Capabilities), ",")
		if caps == "" {
			caps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Kind, avail, def, caps, desc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printPluginTable(a, infos)
}

// printPluginTable writes the details of the plugins among infos, if
// any, as a second table.
func printPluginTable(a *app, infos []registry.Info) error {
	var ps []registry.Info
	for _, in := range infos {
		if in.Kind == registry.KindPlugin {
			ps = append(ps, in)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLUGIN\tVERSION\tCHECKSUM\tPATH\tREFUSED")
	for _, in := range ps {
		d := in.Details
		path := orDash(d["path"])
		if real := d["real_path"]; real != "" {
			path += " -> " + real
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Name, orDash(d["version"]), orDash(d["checksum"]), path, orDash(d["refused"]))
	}
	return tw.Flush()
}
