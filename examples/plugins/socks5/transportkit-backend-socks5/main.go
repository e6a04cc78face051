// Command transportkit-backend-socks5 is a transportkit plugin backend
// that dials through a SOCKS5 proxy. Once the proxy has connected, the
// stream is the plain TCP socket to the proxy, so the plugin hands it to
// the host, which runs it in-process: the plugin costs nothing per byte.
//
// It is configured by the host's config file, in the section of backend
// "plugin:socks5":
//
//	{"proxy": "127.0.0.1:1080", "username": "u", "password": "p"}
//
// proxy is required; username and password are for proxies that ask for
// them (RFC 1929). Names are resolved by the proxy.
package main

import (
	"fmt"
	"os"

	"github.com/transportkit/transportkit/plugins"
)

func main() {
	if err := plugins.Serve(serveConfig()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
