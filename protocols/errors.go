package protocols

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/transportkit/transportkit/protocols/internal/httperr"
	"github.com/transportkit/transportkit/transport"
)

// Sentinels shared by HTTP/1.1 and HTTP/2, matched with errors.Is against
// the errors of RoundTrip.
var (
	// ErrNotProcessed is matched by the error of a request that the
	// server certainly did not process: an HTTP/2 stream it refused
	// (REFUSED_STREAM) or that was above the last stream of its GOAWAY, a
	// request never sent because its connection was going away, or an
	// HTTP/1.1 request of which no byte could be written. The transport
	// sends such a request again by itself (see Transport.RoundTrip); a
	// caller sees this error only once the attempts are used up or the
	// body cannot be had again.
	ErrNotProcessed = httperr.ErrNotProcessed

	// ErrServerClosed is matched by the error of an exchange whose
	// connection the server closed before any byte of a response arrived.
	// It also matches io.EOF, as net/http's error does in that case.
	ErrServerClosed = httperr.ErrServerClosed
)

// Protocol names of Error.Proto, as in http.Response.Proto.
const (
	protoNameHTTP11 = "HTTP/1.1"
	protoNameHTTP2  = "HTTP/2.0"
)

// Error is the error of a failed RoundTrip, and of a failed Read of a
// response body, whatever protocol ran: the step that failed, the
// protocol, the origin's address, and the cause.
//
// Whatever the protocol, errors.Is matches:
//
//   - os.ErrDeadlineExceeded and context.DeadlineExceeded for every
//     timeout (the request's deadline, TLSHandshakeTimeout,
//     ResponseHeaderTimeout); Timeout reports true;
//   - context.Canceled when the request's context was canceled;
//   - ErrServerClosed (and io.EOF) when the server closed the connection
//     before any byte of a response;
//   - ErrNotProcessed when the server certainly did not process the
//     request.
//
// The cause keeps the protocol's own error for errors.As: an *h1.Error,
// *h1.ProtocolError, a *transport.OpError, http2.StreamError, ...
type Error struct {
	// Op is the step that failed:
	//
	//	"request"    the request cannot be sent by this Transport (no URL
	//	             or host, a scheme other than http and https, a closed
	//	             Transport, a bad NextProtos)
	//	"proxy"      choosing the proxy (an error of Transport.Proxy), or
	//	             dialing through it (the cause is a *ProxyError)
	//	"dial"       getting a connection: opening the backend, dialing,
	//	             or waiting for a connection or a stream slot
	//	"tls"        the TLS handshake, or an unknown protocol chosen by ALPN
	//	"handshake"  the HTTP/2 connection preface and the server's SETTINGS
	//	"write"      writing the request (HTTP/1.1)
	//	"read"       reading the response head (HTTP/1.1)
	//	"roundtrip"  an HTTP/2 exchange up to the response head (HTTP/2
	//	             does not tell writing the request from awaiting its
	//	             answer)
	//	"body"       reading the response body
	Op string
	// Proto is the protocol of the connection: "HTTP/1.1", "HTTP/2.0",
	// or empty when it was not known yet (an https dial before ALPN).
	Proto string
	// Addr is the origin's host:port.
	Addr string
	// Err is the cause. It is never nil.
	Err error
}

// Error describes the failure in one line, such as
// "protocols: HTTP/1.1 read example.com:80: h1: read: server closed the
// connection before responding".
func (e *Error) Error() string {
	s := "protocols: "
	if e.Proto != "" {
		s += e.Proto + " "
	}
	s += e.Op
	if e.Addr != "" {
		s += " " + e.Addr
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout.
func (e *Error) Timeout() bool {
	if errors.Is(e.Err, os.ErrDeadlineExceeded) || errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// Is makes every timeout match both os.ErrDeadlineExceeded and
// context.DeadlineExceeded, whichever the layer below reported.
func (e *Error) Is(target error) bool {
	return (target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded) && e.Timeout()
}

// h2Cause classifies err, from an HTTP/2 exchange before its response
// head, with the shared sentinels when the h2 package has not already. The
// h2 package marks a request the server did not process with
// ErrNotProcessed itself (its ErrRetryable is that value); what is left is
// a bare end of file from the connection, which means the server closed it
// before the response began.
func h2Cause(err error) error {
	switch {
	case errors.Is(err, ErrNotProcessed) || errors.Is(err, ErrServerClosed):
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		err = fmt.Errorf("%w: %w", ErrServerClosed, err)
	}
	return err
}

// dialOp is the Op of a failed dial: "tls" when the TLS handshake failed.
func dialOp(err error) string {
	var oe *transport.OpError
	if errors.As(err, &oe) && oe.Op == "tls" {
		return "tls"
	}
	return "dial"
}
