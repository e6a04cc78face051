// Command transportkit-backend-tlskeys is a transportkit plugin backend
// that owns a TLS client certificate and its key and does the TLS
// handshake itself, so the key never enters the host process. The host
// gets the decrypted byte stream (the plugin's byte path) and reads the
// negotiated ALPN and the server's certificate through Info.
//
// It is configured by the host's config file, in the section of backend
// "plugin:tlskeys":
//
//	{"cert_file": "client.pem", "key_file": "client-key.pem", "ca_file": "ca.pem"}
//
// cert_file and key_file are required; ca_file holds the roots that
// servers are verified against (the system's when empty). Plain dials
// (without TLS) are served too, and handed to the host as sockets.
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
