package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// name is the plugin's short name: the backend is "plugin:tlskeys".
const name = "tlskeys"

func serveConfig() plugins.ServeConfig {
	return plugins.ServeConfig{
		Name:         name,
		Description:  "TLS with a client certificate whose key stays in the plugin",
		Capabilities: []registry.Capability{registry.CapTCP, registry.CapUnix, registry.CapTLS},
		Open:         open,
	}
}

// config is the backend's section of the config file.
type config struct {
	// CertFile and KeyFile are the client certificate (with its chain)
	// and its private key, PEM. Required.
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// CAFile holds the PEM roots servers are verified against. If empty,
	// the system's roots.
	CAFile string `json:"ca_file"`
}

// backend dials with stdnet and runs the TLS handshake with its own
// certificate and roots.
type backend struct {
	transport.Backend // stdnet, for the sockets
	cert              tls.Certificate
	roots             *x509.CertPool // nil: the system's
}

var (
	_ transport.Backend   = (*backend)(nil)
	_ transport.TLSDialer = (*backend)(nil)
)

func open(opts transport.Options) (transport.Backend, error) {
	c, err := registry.DecodeConfig[config](opts.Config)
	if err != nil {
		return nil, err
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New(`tlskeys config: "cert_file" and "key_file" are required`)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlskeys config: %w", err)
	}
	b := &backend{cert: cert}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tlskeys config: %w", err)
		}
		b.roots = x509.NewCertPool()
		if !b.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tlskeys config: no certificate in %s", c.CAFile)
		}
	}
	base := opts
	base.Config = nil
	if b.Backend, err = stdnet.Open(base); err != nil {
		return nil, err
	}
	opts.Log().Info("tlskeys backend opened", "cert", c.CertFile)
	return b, nil
}

// Name returns "plugin:tlskeys".
func (b *backend) Name() string { return registry.PluginPrefix + name }

// DialTLS dials address and completes a handshake with the plugin's
// certificate and roots. From the host's cfg it takes the server name,
// the ALPN protocols, the version bounds and InsecureSkipVerify.
func (b *backend) DialTLS(ctx context.Context, network, address string, cfg *tls.Config) (transport.Stream, error) {
	s, err := b.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return transport.StartTLS(ctx, s, &tls.Config{
		Certificates:       []tls.Certificate{b.cert},
		RootCAs:            b.roots,
		ServerName:         cfg.ServerName,
		NextProtos:         cfg.NextProtos,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		MinVersion:         max(cfg.MinVersion, tls.VersionTLS12),
		MaxVersion:         cfg.MaxVersion,
	})
}
