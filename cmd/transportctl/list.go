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

With --json it prints an array of objects with the keys name, kind,
available, reason (when unavailable), default, capabilities, description
and details (plugins: path, version, checksum status).

It exits 1 when plugin discovery failed (after listing what it found).`,
		Example: `  transportctl list
  transportctl list --json
  TRANSPORTKIT_PLUGIN_PATH=$HOME/.transportkit/plugins transportctl list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
		caps := strings.Join(in.Capabilities, ",")
		if caps == "" {
			caps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Kind, avail, def, caps, desc)
	}
	return tw.Flush()
}
