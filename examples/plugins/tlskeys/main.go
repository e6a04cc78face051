// Command tlskeys connects to a TLS server that asks for a client
// certificate, through the tlskeys plugin backend: the plugin loads the
// certificate and key and runs the handshake, and this program only ever
// sees the decrypted stream. It prints the negotiated ALPN protocol, the
// server certificate's subject and the stream's data path ("bytes": the
// bytes are decrypted in the plugin and copied to the host).
//
// The plugin binary is found by the registry in TRANSPORTKIT_PLUGIN_PATH;
// see README.md for the commands.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the program with its arguments and output; it returns the exit
// code: 2 for bad arguments, 1 if the connection failed.
func run(args []string, stdout, stderr io.Writer) int {
	var c config
	flags := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&c.CertFile, "cert", "", "client certificate (PEM), read by the plugin only")
	flags.StringVar(&c.KeyFile, "key", "", "client key (PEM), read by the plugin only")
	flags.StringVar(&c.CAFile, "ca", "", "roots to verify the server with (PEM); the system's if empty")
	target := flags.String("target", "", "the server's host:port")
	alpn := flags.String("alpn", "h2,http/1.1", "ALPN protocols to offer, comma-separated")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h, as flag.ExitOnError does
		}
		return 2
	}
	if *target == "" || c.CertFile == "" || c.KeyFile == "" {
		flags.Usage()
		return 2
	}
	defer plugins.Cleanup()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := connect(ctx, c, *target, strings.Split(*alpn, ","))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "ALPN %q, server %q, data path %s\n", r.alpn, r.server, r.path)
	return 0
}

// config is the plugin's config section: file names only.
type config struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	CAFile   string `json:"ca_file,omitempty"`
}

// result is what connect learned about the connection.
type result struct {
	alpn, server, path string
}

// connect opens plugin:tlskeys with c, completes a TLS handshake with
// target in the plugin and reports it.
func connect(ctx context.Context, c config, target string, alpn []string) (result, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return result{}, err
	}
	b, err := registry.Open("plugin:tlskeys", transport.Options{Config: raw})
	if err != nil {
		return result{}, err
	}
	defer b.Close()
	s, err := transport.DialTLS(ctx, b, "tcp", target, &tls.Config{NextProtos: alpn})
	if err != nil {
		return result{}, err
	}
	defer s.Close()
	r := result{alpn: transport.NegotiatedProtocol(s)}
	if v, ok := s.Info(transport.InfoTLS); ok {
		if cs, ok := v.(tls.ConnectionState); ok && len(cs.PeerCertificates) > 0 {
			r.server = cs.PeerCertificates[0].Subject.String()
		}
	}
	v, _ := s.Info(plugins.InfoDataPath)
	r.path, _ = v.(string)
	return r, nil
}
