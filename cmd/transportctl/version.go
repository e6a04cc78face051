package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/transportkit/transportkit/registry"
)

// versionInfo is what "transportctl version" reports.
type versionInfo struct {
	Module   string   `json:"module"`
	Version  string   `json:"version"`            // module version, "(devel)" in a clone
	Revision string   `json:"revision,omitempty"` // VCS revision the binary was built from
	Time     string   `json:"time,omitempty"`     // its commit time
	Modified bool     `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string   `json:"go"`
	Platform string   `json:"platform"`
	Backends []string `json:"backends"` // compiled in, sorted
}

// buildInfo reads the version facts from the binary's build info.
func buildInfo() versionInfo {
	v := versionInfo{
		Module:   "github.com/transportkit/transportkit",
		Version:  "(unknown)",
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path != "" {
			v.Module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	infos, _ := registry.List(nil) // in-tree backends never fail to list
	for _, in := range infos {
		if in.Kind != registry.KindPlugin {
			v.Backends = append(v.Backends, in.Name)
		}
	}
	return v
}

// String is the one-line form, also what --version prints.
func (v versionInfo) String() string {
	s := fmt.Sprintf("transportctl %s", v.Version)
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + fmt.Sprintf(", %s %s, backends: %s", v.Go, v.Platform, strings.Join(v.Backends, ", "))
}

func newVersionCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go release and the backends compiled in",
		Long: `version prints the module version and the VCS revision transportctl was
built from (from the binary's build info), the Go release that built it,
the platform, and the backends compiled in. "transportctl --version"
prints the same line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVersion(a.stdout, buildInfo(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeVersion(w io.Writer, v versionInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintln(w, v)
	return err
}
