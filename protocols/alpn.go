package protocols

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/transportkit/transportkit/protocols/h1"
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
	ProtoH2 = "h2"
)

// ErrUnsupportedProtocol is returned when a server negotiated an
// application protocol the transport does not speak.
var ErrUnsupportedProtocol = errors.New("protocols: unsupported application protocol")

// NextProtos returns the ALPN IDs the transport offers, most preferred
// first. Only HTTP/1.1 for now; HTTP/2 joins when protocols/h2 is
// integrated.
func NextProtos() []string { return []string{ProtoHTTP11} }

// tlsConfigFor returns a copy of base (or an empty config) that offers
// NextProtos by ALPN.
func tlsConfigFor(base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base == nil {
		cfg = &tls.Config{}
	} else {
		cfg = base.Clone()
	}
	cfg.NextProtos = NextProtos()
	return cfg
}

// Negotiated returns the application protocol of s: the ALPN result of a
// TLS stream, or ProtoHTTP11 when ALPN chose none or s is clear text.
func Negotiated(s transport.Stream) string {
	if p := transport.NegotiatedProtocol(s); p != "" {
		return p
	}
	return ProtoHTTP11
}

// newConn builds the pooled connection for the protocol s negotiated.
// This is where an h2 connection will be built for ProtoH2.
func (p *hostPool) newConn(s transport.Stream) (*pconn, error) {
	switch proto := Negotiated(s); proto {
	case ProtoHTTP11:
		pc := &pconn{pool: p}
		pc.h1 = h1.NewConn(s, p.t.h1Options(pc.done))
		return pc, nil
	default:
		s.Close()
		return nil, fmt.Errorf("%w %q", ErrUnsupportedProtocol, proto)
	}
}
