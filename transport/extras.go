package transport

import (
	"context"
	"crypto/tls"
	"net"
	"os"
)

// This file holds every optional interface a Backend may implement, and the
// only type assertions for them.

// TLSDialer is implemented by a backend that establishes TLS itself (in
// another process, in hardware, with keys the caller never sees). When a
// backend does not implement it, DialTLS dials a plain stream and runs
// StartTLS over it.
type TLSDialer interface {
	// DialTLS connects to address and completes a TLS client handshake
	// configured by cfg, whose ServerName is set. The returned stream
	// answers InfoTLS and InfoALPN.
	DialTLS(ctx context.Context, network, address string, cfg *tls.Config) (Stream, error)
}

// DialTLS connects to address through b and returns a TLS stream, using
// the backend's own TLS when it implements TLSDialer and StartTLS over a
// plain stream otherwise. If cfg is nil an empty config is used; if its
// ServerName is empty it is set from the host part of address. cfg is not
// modified.
func DialTLS(ctx context.Context, b Backend, network, address string, cfg *tls.Config) (Stream, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			host = address
		}
		cfg.ServerName = host
	}
	if d, ok := b.(TLSDialer); ok {
		return d.DialTLS(ctx, network, address, cfg)
	}
	s, err := b.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return StartTLS(ctx, s, cfg)
}

// Adopter is implemented by a backend that can take over a socket that is
// already connected, such as one handed over from another process. Adopt
// takes ownership of f: on success the returned Stream owns the socket (f
// may be closed by Adopt, since the stream keeps its own descriptor), and
// on failure f is closed. The plugin host uses it to run handed-off
// sockets on its in-process backend; a backend without it cannot take
// handed-off sockets, and the host falls back to one that can.
type Adopter interface {
	Adopt(f *os.File) (Stream, error)
}

// Adopt hands f to b when b implements Adopter, and otherwise closes f and
// returns an error matching ErrUnsupported.
func Adopt(b Backend, f *os.File) (Stream, error) {
	if a, ok := b.(Adopter); ok {
		return a.Adopt(f)
	}
	f.Close()
	return nil, &OpError{Op: "adopt", Backend: b.Name(), Err: ErrUnsupported}
}
