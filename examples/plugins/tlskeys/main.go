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
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

func main() {
	var c config
	flag.StringVar(&c.CertFile, "cert", "", "client certificate (PEM), read by the plugin only")
	flag.StringVar(&c.KeyFile, "key", "", "client key (PEM), read by the plugin only")
	flag.StringVar(&c.CAFile, "ca", "", "roots to verify the server with (PEM); the system's if empty")
	target := flag.String("target", "", "the server's host:port")
	alpn := flag.String("alpn", "h2,http/1.1", "ALPN protocols to offer, comma-separated")
	flag.Parse()
	if *target == "" || c.CertFile == "" || c.KeyFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	defer plugins.Cleanup()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := connect(ctx, c, *target, strings.Split(*alpn, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ALPN %q, server %q, data path %s\n", r.alpn, r.server, r.path)
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
