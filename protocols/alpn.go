package protocols

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"

	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/transport"
)

// This file is the one place where the transport decides which protocol
// a connection speaks: what it offers by ALPN, and which client
// connection it builds over the negotiated stream.

// Protocol IDs for ALPN (RFC 7301).
const (
	// ProtoHTTP11 is HTTP/1.1's ALPN ID.
	ProtoHTTP11 = "http/1.1"
	// ProtoH2 is HTTP/2 over TLS's ALPN ID.
	ProtoH2 = h2.NextProtoTLS
	// ProtoH2C names HTTP/2 over clear text with prior knowledge. It is
	// never sent by ALPN; Response.Proto tells it apart.
	ProtoH2C = "h2c"
)

// ErrUnsupportedProtocol is returned when a server negotiated an
// application protocol the transport does not speak, or when
// Transport.NextProtos offers one.
var ErrUnsupportedProtocol = errors.New("protocols: unsupported application protocol")

// defaultNextProtos returns the ALPN IDs a Transport offers by default, most
// preferred first: h2, then http/1.1.
func defaultNextProtos() []string { return []string{ProtoH2, ProtoHTTP11} }

// nextProtos returns what t offers by ALPN: Transport.NextProtos, or the
// default; only http/1.1 when keep-alives are off, since an HTTP/2
// connection exists to be shared.
func (t *Transport) nextProtos() ([]string, error) {
	if t.DisableKeepAlives {
		return []string{ProtoHTTP11}, nil
	}
	if t.NextProtos == nil {
		return defaultNextProtos(), nil
	}
	for _, p := range t.NextProtos {
		if p != ProtoH2 && p != ProtoHTTP11 {
			return nil, fmt.Errorf("%w %q in Transport.NextProtos", ErrUnsupportedProtocol, p)
		}
	}
	if len(t.NextProtos) == 0 {
		return nil, fmt.Errorf("%w: Transport.NextProtos is empty", ErrUnsupportedProtocol)
	}
	return slices.Clone(t.NextProtos), nil
}

// tlsConfigFor returns a copy of base (or an empty config) that offers
// protos by ALPN.
func tlsConfigFor(base *tls.Config, protos []string) *tls.Config {
	var cfg *tls.Config
	if base == nil {
		cfg = &tls.Config{}
	} else {
		cfg = base.Clone()
	}
	cfg.NextProtos = protos
	return cfg
}

// negotiated returns the application protocol of s: the ALPN result of a
// TLS stream, or ProtoHTTP11 when ALPN chose none or s is clear text.
func negotiated(s transport.Stream) string {
	if p := transport.NegotiatedProtocol(s); p != "" {
		return p
	}
	return ProtoHTTP11
}

// mayShareDial reports whether a dial to p's origin may give an HTTP/2
// connection, which callers arriving during the dial can share.
func (p *hostPool) mayShareDial() bool {
	if p.h1only {
		return false
	}
	if p.key.scheme == "http" {
		return p.t.H2C
	}
	return p.t.offersH2
}

// newConn builds the pooled connection for the protocol s negotiated: by
// ALPN over TLS, and over clear text HTTP/2 with prior knowledge when
// Transport.H2C asks for it, else HTTP/1.1. For HTTP/2 it waits (within
// ctx) for the peer's SETTINGS, so that the connection is shared only up
// to the peer's limit.
func (p *hostPool) newConn(ctx context.Context, s transport.Stream) (conn, error) {
	proto := negotiated(s)
	if p.key.scheme == "http" && p.t.H2C {
		proto = ProtoH2C
	}
	switch proto {
	case ProtoHTTP11:
		pc := &pconn{pool: p, s: s}
		pc.h1 = h1.NewConn(s, p.t.h1Options(pc.done, p.h1Error))
		return pc, nil
	case ProtoH2, ProtoH2C:
		hc := &h2conn{pool: p, s: s}
		opts := p.t.h2Options(hc.idle)
		c, err := h2.NewConn(s, opts)
		if err != nil {
			return nil, &Error{Op: "handshake", Proto: protoNameHTTP2, Addr: p.addr, Err: err}
		}
		hc.c = c
		select {
		case <-c.Ready():
		case <-ctx.Done():
			c.Close()
			return nil, &Error{Op: "handshake", Proto: protoNameHTTP2, Addr: p.addr, Err: transport.ContextError(ctx.Err())}
		}
		return hc, nil
	default:
		s.Close()
		return nil, &Error{Op: "tls", Addr: p.addr, Err: fmt.Errorf("%w %q", ErrUnsupportedProtocol, proto)}
	}
}

// h1Error gives an HTTP/1.1 connection's errors the transport's shape.
func (p *hostPool) h1Error(e *h1.Error) error {
	return &Error{Op: e.Op, Proto: protoNameHTTP11, Addr: p.addr, Err: e}
}
