// Command transportkit-backend-socks5 is a transportkit plugin backend
// that dials through a SOCKS5 proxy (RFC 1928, with the username and
// password authentication of RFC 1929). It is written on package plugins'
// SDK: the plugin is a dial function, and plugins.ServeDialer makes the
// rest of the backend. Once the proxy has connected, the connection is a
// plain TCP socket carrying the target's bytes, so the plugin hands it to
// the host, which runs it in-process: the plugin costs nothing per byte.
//
// It is configured by the host's config file, in the section of backend
// "plugin:socks5":
//
//	{"proxy": "127.0.0.1:1080", "username": "u", "password": "p"}
//
// proxy is required; username and password are for proxies that ask for
// them. Names are resolved by the proxy. Unix sockets are local and are
// dialed directly.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/transportkit/transportkit/plugins"
)

func main() { plugins.ServeDialer("socks5", open) }

// config is the backend's section of the host's config file.
type config struct{ Proxy, Username, Password string }

// replies maps the proxy's reply codes to the errors a direct connect
// gets, so that callers can tell a refused port (reply 5) from the rest;
// unassigned codes count as 1.
var replies = map[byte]error{1: errors.New("general SOCKS server failure"), 2: syscall.EACCES, 3: syscall.ENETUNREACH,
	4: syscall.EHOSTUNREACH, 5: syscall.ECONNREFUSED, 6: syscall.EHOSTUNREACH, 7: syscall.EOPNOTSUPP, 8: syscall.EAFNOSUPPORT}

// open makes the dial function; direct connects with the host's options.
func open(cfg config, direct plugins.DialFunc) (plugins.DialFunc, error) {
	if cfg.Proxy == "" {
		return nil, errors.New(`socks5 config: "proxy" is required`)
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if network == "unix" {
			return direct(ctx, network, address)
		}
		c, err := direct(ctx, "tcp", cfg.Proxy)
		if err == nil {
			err = handshake(c, cfg, address)
		}
		return c, err // on error, the SDK closes c
	}, nil
}

// handshake asks the proxy on c to connect to address (host:port); the
// proxy resolves the host, IP addresses included.
func handshake(c net.Conn, cfg config, address string) error {
	method := byte(2 * min(len(cfg.Username), 1)) // 0: no authentication, 2: username and password
	if r, err := send(c, 2, 5, 1, method); err != nil || r[1] != method {
		return fmt.Errorf("socks5: the proxy refused authentication method %d (%v): %w", method, err, syscall.EACCES)
	}
	if method == 2 {
		auth := append(append([]byte{1, byte(len(cfg.Username))}, cfg.Username...), byte(len(cfg.Password)))
		if r, err := send(c, 2, append(auth, cfg.Password...)...); err != nil || r[1] != 0 {
			return fmt.Errorf("socks5: the proxy refused the credentials (%v): %w", err, syscall.EACCES)
		}
	}
	host, port, _ := net.SplitHostPort(address) // the SDK checked it, and made the port a number
	p, _ := net.LookupPort("tcp", port)
	r, err := send(c, 5, append(append([]byte{5, 1, 0, 3, byte(len(host))}, host...), byte(p>>8), byte(p))...)
	if err == nil && r[1] != 0 {
		err = fmt.Errorf("socks5: proxy reply %d: %w", r[1], cmp.Or(replies[r[1]], replies[1]))
	}
	if err == nil { // read the rest of the bound address (IPv4, IPv6 or a name of r[4] bytes) and port
		_, err = io.ReadFull(c, make([]byte, map[byte]int{1: 3, 4: 15, 3: int(r[4])}[r[3]]+2))
	}
	return err
}

// send writes msg to c and reads an n-byte answer. (A failed write fails
// the read too.)
func send(c net.Conn, n int, msg ...byte) ([]byte, error) {
	c.Write(msg)
	r := make([]byte, n)
	_, err := io.ReadFull(c, r)
	return r, err
}
