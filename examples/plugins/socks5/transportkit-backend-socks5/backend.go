package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/proxy"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// name is the plugin's short name: the backend is "plugin:socks5".
const name = "socks5"

func serveConfig() plugins.ServeConfig {
	return plugins.ServeConfig{
		Name:         name,
		Description:  "dials through a SOCKS5 proxy; streams are handed to the host",
		Capabilities: []string{registry.CapTCP, registry.CapFD},
		Open:         open,
	}
}

// config is the backend's section of the config file.
type config struct {
	// Proxy is the proxy's host:port. Required.
	Proxy string `json:"proxy"`
	// Username and Password authenticate to the proxy. If Username is
	// empty, no authentication is offered.
	Username string `json:"username"`
	Password string `json:"password"`
}

func parseConfig(raw json.RawMessage) (config, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("socks5 config: %w", err)
	}
	if c.Proxy == "" {
		return c, errors.New(`socks5 config: "proxy" is required`)
	}
	if _, _, err := net.SplitHostPort(c.Proxy); err != nil {
		return c, fmt.Errorf("socks5 config: proxy: %w", err)
	}
	return c, nil
}

// backend dials the proxy with stdnet (so the host's options apply to
// the socket) and asks it to connect.
type backend struct {
	cfg   config
	proxy transport.Backend
}

var _ transport.Backend = (*backend)(nil)

func open(opts transport.Options) (transport.Backend, error) {
	cfg, err := parseConfig(opts.Config)
	if err != nil {
		return nil, err
	}
	base := opts
	base.Config = nil
	sb, err := stdnet.New(base)
	if err != nil {
		return nil, err
	}
	opts.Log().Info("socks5 backend opened", "proxy", cfg.Proxy)
	return &backend{cfg: cfg, proxy: sb}, nil
}

func (b *backend) Name() string { return registry.PluginPrefix + name }

func (b *backend) Close() error { return b.proxy.Close() }

// Dial connects to address through the proxy and returns the socket to
// the proxy, reporting address as its remote address.
func (b *backend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, b.dialError(network, address, fmt.Errorf("network %q: %w", network, transport.ErrUnsupported))
	}
	var toProxy transport.Stream
	forward := dialerFunc(func(ctx context.Context, _, addr string) (net.Conn, error) {
		s, err := b.proxy.Dial(ctx, "tcp", addr)
		toProxy = s
		return s, err
	})
	var auth *proxy.Auth
	if b.cfg.Username != "" {
		auth = &proxy.Auth{User: b.cfg.Username, Password: b.cfg.Password}
	}
	d, err := proxy.SOCKS5("tcp", b.cfg.Proxy, auth, forward)
	if err != nil {
		return nil, b.dialError(network, address, err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, b.dialError(network, address, fmt.Errorf("%T cannot dial with a context: %w", d, transport.ErrUnsupported))
	}
	if _, err := cd.DialContext(ctx, network, address); err != nil {
		// The SOCKS dialer closes the socket to the proxy on failure.
		return nil, b.dialError(network, address, err)
	}
	return &proxied{Stream: toProxy, target: targetAddr(network, address)}, nil
}

func (b *backend) dialError(network, address string, err error) error {
	return &transport.OpError{Op: "dial", Backend: b.Name(), Network: network, Address: address, Err: err}
}

// dialerFunc is a proxy.ContextDialer made of a function.
type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) Dial(network, address string) (net.Conn, error) {
	return f(context.Background(), network, address)
}

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// targetAddr is address as a net.Addr: a *net.TCPAddr for an IP literal,
// else a name the proxy resolved.
func targetAddr(network, address string) net.Addr {
	if ap, err := netip.ParseAddrPort(address); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return hostAddr{network, address}
}

type hostAddr struct{ network, address string }

func (a hostAddr) Network() string { return a.network }
func (a hostAddr) String() string  { return a.address }

// proxied is the socket to the proxy, seen as a stream to the target. Its
// descriptor (InfoFD) carries the target's bytes as they are, so the SDK
// hands it to the host.
type proxied struct {
	transport.Stream
	target net.Addr
}

func (p *proxied) RemoteAddr() net.Addr { return p.target }

func (p *proxied) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoRemoteAddr:
		return p.target, true
	case transport.InfoBackend:
		return registry.PluginPrefix + name, true
	}
	return p.Stream.Info(key)
}
