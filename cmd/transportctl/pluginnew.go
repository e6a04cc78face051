package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
)

// modulePath is transportkit's module, which generated plugins require.
const modulePath = "github.com/transportkit/transportkit"

// goVersion is the go directive of generated modules: transportkit's own
// (its go.mod), the oldest Go that builds it.
const goVersion = "1.26"

// placeholderVersion is required when a replace directive gives the code
// and the binary's build info no release.
const placeholderVersion = "v0.0.0-00010101000000-000000000000"

//go:embed newplugin/*.tmpl
var newPluginFiles embed.FS

// newPluginTemplates are the generated files, by the name of their
// template.
var newPluginTemplates = template.Must(template.ParseFS(newPluginFiles, "newplugin/*.tmpl"))

const newLong = `new writes a plugin backend module, ready to build and test, in DIR
(default: ./transportkit-backend-NAME, which must not exist or be empty):

  go.mod          requires github.com/transportkit/transportkit
  main.go         plugins.ServeDialer("NAME", open)
  backend.go      the config section and the dial function: the part to write
  plugin_test.go  the conformance suites, in process and through the binary
  README.md       how to build, test, install and configure it

The backend is a dial function on package plugins' SDK: it connects to an
address its way (through a relay, a proxy, a tunnel) and returns a
net.Conn; the SDK makes the rest of a transport.Stream backend. As
generated it dials directly, and its tests pass.

go.mod requires the transportkit release this transportctl was built
from. Run inside a clone of transportkit (or with --replace DIR), it also
replaces the module with that clone, for plugins developed beside it. A
transportctl built from a clone that is run elsewhere knows no release to
require: use --replace. new then runs go mod tidy in DIR (--no-tidy skips
it), which needs the go command and transportkit's dependencies (from the
module cache or the network).

NAME is letters, digits, '.', '_' and '-', not ending with '.': the
backend is plugin:NAME and the binary transportkit-backend-NAME. The
module path (--module, else the one NAME makes) must be one go accepts;
otherwise nothing is written.

Exit codes: 0 when the module was written (and tidied), 1 when go mod
tidy failed (the files are written), 2 for a bad NAME or --module, a DIR
that exists and is not empty, or no transportkit version to require.`

// newFlags are plugin new's flags.
type newFlags struct {
	module  string
	replace string
	noTidy  bool
}

func newNewCmd(a *app) *cobra.Command {
	var nf newFlags
	cmd := &cobra.Command{
		Use:   "new NAME [DIR]",
		Short: "Write a new plugin backend module, ready to build and test",
		Long:  newLong,
		Example: `  transportctl plugin new relay
  transportctl plugin new --module github.com/me/relay relay ./relay
  transportctl plugin new --replace ~/src/transportkit relay`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 2 {
				dir = args[1]
			}
			return a.newPlugin(cmd.Context(), nf, args[0], dir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&nf.module, "module", "", "module path of the new plugin (default example.com/transportkit-backend-NAME)")
	f.StringVar(&nf.replace, "replace", "", "a transportkit clone to build against, with a replace directive (default: the clone the working directory is in, if any)")
	f.BoolVar(&nf.noTidy, "no-tidy", false, "do not run go mod tidy in the new module")
	return cmd
}

// newPluginData fills the templates.
type newPluginData struct {
	Name, Binary, Module string
	Go, Version, Replace string
}

func (a *app) newPlugin(ctx context.Context, nf newFlags, name, dir string) error {
	if !plugins.ValidName(name) {
		return fmt.Errorf("plugin name %q: use letters, digits, '.', '_' and '-'", name)
	}
	d := newPluginData{Name: name, Binary: registry.PluginBinaryPrefix + name, Module: nf.module, Go: goVersion}
	if d.Module == "" {
		d.Module = "example.com/" + d.Binary
		if err := checkModulePath(d.Module); err != nil {
			return fmt.Errorf("plugin name %q: it makes the module path %q, which go rejects (%v): choose another name, or pass --module", name, d.Module, err)
		}
	}
	if err := checkModulePath(d.Module); err != nil {
		return fmt.Errorf("--module %q is not a module path: %v", d.Module, err)
	}
	if dir == "" {
		dir = d.Binary
	}
	if err := emptyDir(dir); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return &failure{err}
	}
	bi, _ := debug.ReadBuildInfo()
	if d.Version, d.Replace, err = transportkitDependency(releaseOf(bi), nf.replace, wd); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range newPluginTemplates.Templates() {
		var buf bytes.Buffer
		if err := t.Execute(&buf, d); err != nil {
			return err
		}
		file := filepath.Join(dir, strings.TrimSuffix(t.Name(), ".tmpl"))
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			return &failure{err}
		}
	}
	fmt.Fprintf(a.stdout, "wrote %s: module %s, backend plugin:%s, transportkit %s", dir, d.Module, name, d.Version)
	if d.Replace != "" {
		fmt.Fprintf(a.stdout, " (replaced by %s)", d.Replace)
	}
	fmt.Fprintln(a.stdout)
	if !nf.noTidy {
		if err := goModTidy(ctx, dir); err != nil {
			return &failure{err}
		}
		fmt.Fprintln(a.stdout, "ran go mod tidy")
	}
	fmt.Fprintf(a.stdout, "next: write the dial function in %s, then\n  cd %s && go test ./... && go build -o %s .\n",
		filepath.Join(dir, "backend.go"), dir, d.Binary)
	return nil
}

// emptyDir checks that dir does not exist or is an empty directory.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("directory %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("directory %s exists and is not empty; name a new or empty directory", dir)
	}
	return nil
}

// transportkitDependency returns the transportkit version the new module
// requires and the clone that replaces it, if any: replace when given,
// else the clone that holds wd, the working directory. release is the
// release this transportctl was built from ("" for a development build);
// without a clone, there must be one.
func transportkitDependency(release, replace, wd string) (version, dir string, err error) {
	version = release
	if replace != "" {
		dir, err = filepath.Abs(replace)
		if err == nil && !isTransportkitRoot(dir) {
			err = fmt.Errorf("--replace %s: no go.mod of module %s there", replace, modulePath)
		}
	} else {
		dir = findTransportkitRoot(wd)
	}
	switch {
	case err != nil:
		return "", "", err
	case dir != "" && version == "":
		version = placeholderVersion
	case version == "":
		return "", "", fmt.Errorf("this transportctl was built from a clone, so it knows no %s release to require: run it inside the clone, or pass --replace with the clone's path", modulePath)
	}
	return version, dir, nil
}

// releaseOf is the transportkit release a binary with build info bi was
// built from: its main module's version, or the version it depends on;
// "" for a development build ("(devel)", a tree with uncommitted changes)
// or a replaced dependency.
func releaseOf(bi *debug.BuildInfo) string {
	if bi == nil {
		return ""
	}
	v := ""
	if bi.Main.Path == modulePath {
		v = bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == modulePath && dep.Replace == nil {
			v = dep.Version
		}
	}
	if !strings.HasPrefix(v, "v") || strings.Contains(v, "+") {
		return "" // "(devel)", "", or a tree with uncommitted changes
	}
	return v
}

// findTransportkitRoot returns the root of the transportkit clone that
// holds dir, or "".
func findTransportkitRoot(dir string) string {
	for {
		if isTransportkitRoot(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// isTransportkitRoot reports whether dir holds transportkit's go.mod.
func isTransportkitRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first) == "module "+modulePath
}

// goModTidy runs go mod tidy in dir.
func goModTidy(ctx context.Context, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go mod tidy in %s: %w (the files are written)\n%s", dir, err, bytes.TrimSpace(out))
	}
	return nil
}

// checkModulePath returns why go would reject p as the path of a main
// module (go.mod's module line), or nil: the rules of
// golang.org/x/mod/module.CheckImportPath, which cmd/go applies and which
// is not a dependency here, so that plugin new writes nothing rather than
// a module that cannot build. p does not begin with '-'; its elements,
// separated by '/', are not empty, not all dots, do not end with '.', use
// ASCII letters, digits and "-._~+", and are neither a Windows reserved
// name nor like a Windows short name (ending in '~' and digits).
func checkModulePath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if p[0] == '-' {
		return errors.New("leading dash")
	}
	for _, e := range strings.Split(p, "/") {
		switch {
		case e == "":
			return errors.New("empty path element (leading, trailing or double slash)")
		case strings.Trim(e, ".") == "":
			return fmt.Errorf("invalid path element %q", e)
		case e[len(e)-1] == '.':
			return fmt.Errorf("trailing dot in path element %q", e)
		}
		for _, r := range e {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+", r)) {
				return fmt.Errorf("invalid char %q in path element %q", r, e)
			}
		}
		short, _, _ := strings.Cut(e, ".")
		if slices.ContainsFunc(windowsReserved, func(w string) bool { return strings.EqualFold(w, short) }) {
			return fmt.Errorf("%q is a reserved file name on Windows", short)
		}
		if i := strings.LastIndexByte(short, '~'); i >= 0 && i < len(short)-1 && strings.Trim(short[i+1:], "0123456789") == "" {
			return fmt.Errorf("trailing tilde and digits in path element %q", e)
		}
	}
	return nil
}

// windowsReserved are the file names Windows reserves, which go refuses
// as path elements (before any dot).
var windowsReserved = []string{"CON", "PRN", "AUX", "NUL",
	"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
	"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"}
