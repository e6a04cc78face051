package transport

import "net"

// Stream is a bidirectional byte stream returned by a Backend: a full
// net.Conn, deadlines included, plus a few extras.
//
// Read, Write, Close and the deadline setters may be called concurrently
// from different goroutines, as for any net.Conn. After Close, every call
// fails with an error matching net.ErrClosed (and so [ErrClosed]), and Close
// itself may be called again.
type Stream interface {
	net.Conn

	// CloseWrite shuts down the writing side: the peer reads EOF once it
	// has consumed what was written, while this side can still read.
	CloseWrite() error

	// IsReadable reports whether a Read would return without blocking
	// because data or EOF (or an error) is waiting. It consumes nothing,
	// never blocks and starts no goroutine. Connection pools use it to
	// find idle connections the peer has closed: an idle HTTP connection
	// that is readable is dead or out of protocol.
	IsReadable() bool

	// Info returns extra facts about the stream under a documented key
	// (see the Info* constants), as Python asyncio's
	// BaseTransport.get_extra_info does. The boolean is false when the
	// stream has no value for the key.
	Info(key InfoKey) (any, bool)
}

// InfoKey names a fact a Stream can report through Info.
type InfoKey string

// Keys understood by Stream.Info. Every stream answers InfoBackend,
// InfoLocalAddr, InfoRemoteAddr and InfoClosed; the others are present
// where they apply.
const (
	// InfoBackend is the name of the backend that made the stream (string).
	InfoBackend InfoKey = "backend"
	// InfoLocalAddr is the client-side address (net.Addr).
	InfoLocalAddr InfoKey = "local_addr"
	// InfoRemoteAddr is the server-side address (net.Addr).
	InfoRemoteAddr InfoKey = "remote_addr"
	// InfoClosed reports whether Close has been called (bool).
	InfoClosed InfoKey = "closed"
	// InfoFD is the operating system's file descriptor (int), present only
	// on streams backed by a kernel socket. It stays owned by the stream:
	// do not close it, and do not use it after the stream is closed.
	InfoFD InfoKey = "fd"
	// InfoTLS is the TLS connection state (tls.ConnectionState), present
	// after a TLS handshake.
	InfoTLS InfoKey = "tls"
	// InfoALPN is the application protocol negotiated by ALPN (string,
	// such as "h2" or "http/1.1"), present after a TLS handshake; empty
	// when the peer chose none.
	InfoALPN InfoKey = "alpn"
)

// IsClosed reports whether s has been closed, through its InfoClosed key.
func IsClosed(s Stream) bool {
	v, ok := s.Info(InfoClosed)
	closed, _ := v.(bool)
	return ok && closed
}

// NegotiatedProtocol returns the protocol ALPN chose on s, or "" when s is
// not a TLS stream or the peer chose none.
func NegotiatedProtocol(s Stream) string {
	v, _ := s.Info(InfoALPN)
	p, _ := v.(string)
	return p
}
