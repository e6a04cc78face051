package plugins_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

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
			return stdnet.New(opts)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleDiscover() {
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
	found, err := plugins.Discover(registry.PluginConfig{Dirs: []string{dir}})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range found {
		d := p.Driver()
		fmt.Println(d.Name, d.Kind, filepath.Base(d.Details["path"]), d.Details["checksum"])
	}
	// Output:
	// plugin:socks5 plugin transportkit-backend-socks5 unpinned
	// plugin:tlskeys plugin transportkit-backend-tlskeys unpinned
}
