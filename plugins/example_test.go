package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// A plugin's main: an ordinary transport.Backend (here the standard
// library's) served with one call.
func ExampleServe() {
	err := plugins.Serve(plugins.ServeConfig{
		Name:        "mine",
		Description: "stdnet, out of process",
		Open: func(opts transport.Options) (transport.Backend, error) {
			return stdnet.Open(opts)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}

// The registry finds plugins (registry.List, Open and Select) in the
// directories of TRANSPORTKIT_PLUGIN_PATH and the config file's
// plugins.dirs.
func Example_discovery() {
	dir, err := os.MkdirTemp("", "plugins-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"transportkit-backend-socks5", "transportkit-backend-tlskeys", "README"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			log.Fatal(err)
		}
	}
	list, err := registry.List(&registry.Config{Plugins: registry.PluginConfig{Dirs: []string{dir}}})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range list {
		if in.Kind == registry.KindPlugin {
			fmt.Println(in.Name, in.Kind, filepath.Base(in.Details["path"]), in.Details["checksum"])
		}
	}
	// Output:
	// plugin:socks5 plugin transportkit-backend-socks5 unpinned
	// plugin:tlskeys plugin transportkit-backend-tlskeys unpinned
}

// A plugin whose backend is a dial function: ServeDialer is all of main.
// This one dials through a relay named in its config section, which
// answers "OK\n" once it has connected.
func ExampleServeDialer() {
	type config struct {
		Relay string `json:"relay"`
	}
	open := func(cfg config, direct plugins.DialFunc) (plugins.DialFunc, error) {
		if cfg.Relay == "" {
			return nil, errors.New(`"relay" is required`)
		}
		return func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := direct(ctx, "tcp", cfg.Relay)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(c, "CONNECT %s\n", address)
			ok := make([]byte, 3)
			if _, err := io.ReadFull(c, ok); err != nil || string(ok) != "OK\n" {
				return c, fmt.Errorf("relay refused %s: %w", address, syscall.ECONNREFUSED)
			}
			return c, nil
		}, nil
	}
	plugins.ServeDialer("relay", open) // serves, then exits the process
}
