package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	_ "github.com/transportkit/transportkit/backends/all"
	_ "github.com/transportkit/transportkit/plugins" // discovers plugin backends: plugin:NAME
	"github.com/transportkit/transportkit/registry"
)

// app holds what every command shares: the global flags, the logger and
// the config file.
type app struct {
	stdout, stderr io.Writer

	backend    string // --backend
	configPath string // --config
	logLevel   string // --log-level

	log hclog.Logger
	cfg *registry.Config
}

const rootLong = `transportctl lists the transportkit network backends and probes an
HTTPS target with each of them, side by side.

Plugin backends are binaries named transportkit-backend-NAME in the
directories of TRANSPORTKIT_PLUGIN_PATH (a list like PATH) and of the
config file's plugins.dirs; they appear as backends plugin:NAME, are
launched only when used and ended before transportctl exits.
"transportctl plugin verify PATH" checks and starts one; "transportctl
plugin new NAME" writes the module of a new one.

Backend selection, strongest first:
  1. --backend NAME
  2. the TRANSPORTKIT_BACKEND environment variable
  3. the "backend" key of the config file
  4. the default chain (on Linux stdnet, then epoll; elsewhere stdnet)
A backend named by 1-3 is used or fails with the reason; only the default
chain falls back, and only past backends that cannot run here.

The config file (--config, or TRANSPORTKIT_CONFIG) is JSON:
  {"backend": "stdnet",
   "options": {"connect_timeout": "5s", "keepalive": "30s",
               "no_delay": true, "local_addr": "127.0.0.1:0"},
   "backends": {"epoll": {"loops": 2}},
   "plugins": {"dirs": ["/opt/transportkit/plugins"],
               "checksums": {"socks5": "<sha256 hex>"},
               "start_timeout": "10s"}}
Unknown keys are errors that name the key.

Exit codes:
  0  success
  1  a probe failed, a chosen backend could not be opened, plugin
     discovery failed, or a plugin failed verification
  2  bad usage: unknown command or flag, bad config file (a plugin's
     section the plugin refuses included), unknown backend, a plugin
     binary that is not a plugin at all
  130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: the command stops,
      prints no report, and ends the plugins it launched before exiting`

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "transportctl",
		Short: "List transportkit backends and probe a target with each",
		Long:  rootLong,
		Example: `  transportctl list
  transportctl probe
  transportctl probe --backend stdnet https://example.com/
  TRANSPORTKIT_PLUGIN_PATH=./plugins transportctl list
  transportctl plugin verify ./plugins/transportkit-backend-socks5
  TRANSPORTKIT_BACKEND=mock transportctl probe --json
  transportctl version
  source <(transportctl completion bash)   # or zsh, fish, powershell`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.setup(cmd) },
	}
	root.Version = buildInfo().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	f := root.PersistentFlags()
	f.StringVar(&a.backend, "backend", "", "use this backend only (beats TRANSPORTKIT_BACKEND and the config file)")
	f.StringVar(&a.configPath, "config", "", "JSON config file (default: $TRANSPORTKIT_CONFIG, else none)")
	f.StringVar(&a.logLevel, "log-level", "warn", "log level on stderr: trace, debug, info, warn, error or off")
	root.RegisterFlagCompletionFunc("backend", completeBackends)
	root.AddCommand(newListCmd(a), newProbeCmd(a), newPluginCmd(a), newVersionCmd(a), newBenchCmd(a))
	strictHelpAndCompletion(root)
	return root
}

// strictHelpAndCompletion makes "help TOPIC" and "completion SHELL" exit
// 2 for an unknown topic or shell, as an unknown command does: cobra's
// own print help and return no error.
func strictHelpAndCompletion(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			show := c.Run
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				found, rest, err := cmd.Root().Find(args)
				if err != nil {
					return err
				}
				if found == nil || len(rest) > 0 {
					return fmt.Errorf("unknown help topic %q for %q", strings.Join(args, " "), cmd.Root().Name())
				}
				show(cmd, args)
				return nil
			}
		case "completion":
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
}

// completeBackends completes --backend with the names the registry knows,
// plugins found in TRANSPORTKIT_PLUGIN_PATH included (none is launched),
// after the last comma of a list.
func completeBackends(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done, last := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	cfg, _ := registry.ResolveConfig("")
	infos, _ := registry.List(cfg)
	var names []string
	for _, in := range infos {
		if strings.HasPrefix(in.Name, last) {
			names = append(names, done+in.Name+"\t"+in.Description)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// setup makes the logger and loads the config file. For the commands
// that run no backend (version, completion, plugin), it checks that a
// backend named by --backend, TRANSPORTKIT_BACKEND or the config file is
// one the registry knows, so that an unknown name is exit 2 everywhere;
// list, probe and bench check it when they choose their backends.
func (a *app) setup(cmd *cobra.Command) error {
	level := hclog.LevelFromString(a.logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("--log-level %q: want trace, debug, info, warn, error or off", a.logLevel)
	}
	a.log = hclog.New(&hclog.LoggerOptions{Name: "transportctl", Level: level, Output: a.stderr})
	cfg, err := registry.ResolveConfig(a.configPath)
	if err != nil {
		return err
	}
	a.cfg = cfg
	switch cmd.Name() {
	case "list", "probe", "bench":
		return nil
	}
	if a.backend == "" && os.Getenv(registry.EnvBackend) == "" && (cfg == nil || cfg.Backend == "") {
		return nil
	}
	_, err = a.chooseBackends()
	return err
}
