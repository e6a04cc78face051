package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
)

// StartTLS runs a TLS client handshake over s and returns the encrypted
// stream. It works over a Stream from any backend.
//
// cfg must not be nil. Its NextProtos list is offered by ALPN and the
// chosen protocol is reported by the returned stream's Info(InfoALPN).
// Certificate and host name verification are on unless cfg turns them off;
// cfg.ServerName must be set unless cfg.InsecureSkipVerify is (DialTLS sets
// it from the address). The handshake honours ctx's deadline and
// cancellation, and is reported to the httptrace.ClientTrace in ctx
// (TLSHandshakeStart, TLSHandshakeDone), as net/http reports it.
//
// On failure s is closed, since it is then in no state to be used, and the
// error is an *OpError with Op "tls" whose cause says what failed (for
// example an x509.HostnameError or a tls.AlertError).
func StartTLS(ctx context.Context, s Stream, cfg *tls.Config) (Stream, error) {
	if cfg == nil {
		s.Close()
		return nil, tlsError(s, errors.New("nil tls.Config"))
	}
	tc := tls.Client(s, cfg)
	traced := traceTLS(ctx)
	if err := tc.HandshakeContext(ctx); err != nil {
		if traced != nil {
			traced(tls.ConnectionState{}, err)
		}
		s.Close()
		if cerr := ctx.Err(); cerr != nil {
			err = ContextError(cerr)
		}
		return nil, tlsError(s, err)
	}
	if traced != nil {
		traced(tc.ConnectionState(), nil)
	}
	return &tlsStream{Conn: tc, raw: s}, nil
}

func tlsError(s Stream, err error) error {
	e := &OpError{Op: "tls", Err: err}
	if v, ok := s.Info(InfoBackend); ok {
		e.Backend, _ = v.(string)
	}
	if a := s.RemoteAddr(); a != nil {
		e.Network, e.Address = a.Network(), a.String()
	}
	return e
}

// tlsStream is a Stream encrypted by crypto/tls over another Stream.
type tlsStream struct {
	*tls.Conn
	raw Stream
}

var _ Stream = (*tlsStream)(nil)

// CloseWrite sends close_notify and then shuts down the raw stream's
// writing side, so the peer sees both the alert and EOF.
func (t *tlsStream) CloseWrite() error {
	if err := t.Conn.CloseWrite(); err != nil {
		return err
	}
	return t.raw.CloseWrite()
}

// IsReadable reports whether encrypted bytes (or EOF) wait on the raw
// stream. It can be wrong both ways, since crypto/tls keeps its own
// buffers: records it has already buffered are not seen (false where a
// Read would not block), and records that carry no application data are
// (true where a Read would block): with TLS 1.3 the server's session
// tickets wait unread from the handshake until the first Read. A
// connection pool is not misled by either, since a connection that served
// a response has read past the tickets, and a stale true only costs a
// fresh dial.
func (t *tlsStream) IsReadable() bool { return t.raw.IsReadable() }

// Info answers InfoTLS and InfoALPN itself and every other key from the
// raw stream.
func (t *tlsStream) Info(key InfoKey) (any, bool) {
	switch key {
	case InfoTLS:
		return t.Conn.ConnectionState(), true
	case InfoALPN:
		return t.Conn.ConnectionState().NegotiatedProtocol, true
	}
	return t.raw.Info(key)
}

// NetConn returns the raw stream under the TLS layer.
func (t *tlsStream) NetConn() net.Conn { return t.raw }
