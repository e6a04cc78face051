package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/transportkit/transportkit/protocols/internal/httperr"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

var (
	// ErrRetryable is matched (with errors.Is) by RoundTrip errors for
	// requests the server has certainly not processed, so that sending
	// them again on another connection is safe whatever their method:
	// the server refused the stream (RST_STREAM with REFUSED_STREAM
	// before any response header), its GOAWAY named a last stream below
	// the request's, or the request was never written because the
	// connection was going away or closed. Whether the request can be
	// replayed (its body is nil, http.NoBody, or GetBody is set) is for
	// the caller to check. It is the value protocols.ErrNotProcessed, so
	// a caller sees one error whatever the protocol.
	ErrRetryable = httperr.ErrNotProcessed

	// ErrFlood is matched by the errors of a connection that was closed
	// because the peer sent more control frames (PING, SETTINGS,
	// RST_STREAM, PRIORITY, WINDOW_UPDATE, unknown or empty frames) than
	// Options.MaxControlFrames allows in a second, or split a header block
	// into more CONTINUATION frames than its size limit could need. The
	// error also matches http2.ConnectionError with ENHANCE_YOUR_CALM.
	ErrFlood = errors.New("h2: peer flooded the connection")

	// ErrNoStreams is matched, together with the context's error, by the
	// error of a RoundTrip that waited for a stream until its context
	// ended on a connection whose peer allows no streams at all
	// (SETTINGS_MAX_CONCURRENT_STREAMS 0).
	ErrNoStreams = errors.New("h2: peer allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0)")

	// ErrInvalidRequest is matched by the error of a request that cannot
	// be sent: no URL or host, an invalid method, host or :path, an
	// invalid header or trailer field name or value, a connection-specific
	// header with a value HTTP/2 cannot carry, or a forbidden trailer key.
	// Nothing was sent.
	ErrInvalidRequest = errors.New("h2: invalid request")

	// ErrHeaderListSize is matched by the error of a request whose header
	// list is larger than the peer's SETTINGS_MAX_HEADER_LIST_SIZE.
	// Nothing was sent.
	ErrHeaderListSize = errors.New("h2: request header list larger than the peer's SETTINGS_MAX_HEADER_LIST_SIZE")

	// ErrBodyLength is matched by the error of a request whose body was
	// shorter or longer than its ContentLength. The stream is reset.
	ErrBodyLength = errors.New("h2: request body length differs from ContentLength")

	// ErrBodyClosed is returned by a Read on a response body after its
	// Close.
	ErrBodyClosed = errors.New("h2: read on closed response body")

	// ErrResponseHeaderTimeout is the cause of a RoundTrip error when the
	// response head did not arrive within Options.ResponseHeaderTimeout
	// after the request was written. It is a net.Error with Timeout()
	// true and matches os.ErrDeadlineExceeded; the stream is reset.
	ErrResponseHeaderTimeout error = headerTimeoutError{}
)

type headerTimeoutError struct{}

func (headerTimeoutError) Error() string        { return "h2: timeout awaiting response headers" }
func (headerTimeoutError) Timeout() bool        { return true }
func (headerTimeoutError) Temporary() bool      { return true }
func (headerTimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// GoAwayError reports the peer's GOAWAY frame. It is the cause of the
// errors of requests the GOAWAY concerns: together with ErrRetryable for
// a stream above LastStreamID (the server did not process it) or a
// request that could not start because of it, and alone (with
// protocols.ErrServerClosed when no response byte had arrived) for a
// stream at or below LastStreamID that the server then left unanswered by
// closing the connection. Reach it with errors.As.
//
// x/net's http2.GoAwayError is deprecated, so this package has its own.
type GoAwayError struct {
	// LastStreamID is the last stream the peer may have processed.
	LastStreamID uint32
	// ErrCode is the GOAWAY's error code (ErrCodeNo for a graceful
	// shutdown).
	ErrCode http2.ErrCode
	// DebugData is the opaque debug data the peer sent, if any.
	DebugData string
}

// Error describes the GOAWAY.
func (e *GoAwayError) Error() string {
	s := fmt.Sprintf("h2: peer sent GOAWAY (last stream %d, %v)", e.LastStreamID, e.ErrCode)
	if e.DebugData != "" {
		s += fmt.Sprintf(": %q", e.DebugData)
	}
	return s
}

// Internal causes.
var (
	errNilStream = errors.New("h2: nil stream")
	errGoingAway = errors.New("h2: connection is going away")
	errShutdown  = errors.New("h2: connection shut down")
	// errCloseRequested: a request asked for the connection to close
	// ("Connection: close"), and it became idle.
	errCloseRequested = errors.New("h2: connection closed after a request asked for it")
	errResetByPeer    = errors.New("h2: stream reset by the peer")
	errPingTimeout    = fmt.Errorf("h2: health check PING got no reply: %w", transport.ErrTimeout)

	// errConnClosed is the cause when Close was called.
	errConnClosed = fmt.Errorf("h2: connection closed: %w", transport.ErrClosed)
)

// IsRetryable reports whether err says that the request was not processed
// by the server, so that it may be sent again on another connection; it
// is errors.Is(err, ErrRetryable).
func IsRetryable(err error) bool { return errors.Is(err, ErrRetryable) }

// IsResetByPeerProtocolError reports whether err is the error of a
// request whose stream the peer reset with RST_STREAM(PROTOCOL_ERROR)
// before any response. Such a request does not match ErrRetryable (the
// server may have processed it), but net/http sends it again on another
// connection whatever its method (golang/go#47635: servers answer so
// requests they did not process), and so does the protocols package.
func IsResetByPeerProtocolError(err error) bool {
	var se http2.StreamError
	return errors.As(err, &se) && se.Code == http2.ErrCodeProtocol && se.Cause == errResetByPeer
}

// opError wraps err, the cause of a failed op, with the stream's identity.
// A context's error becomes what transport.ContextError makes of it.
func (c *Conn) opError(op string, err error) error {
	if err == io.EOF {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = contextError(err)
	}
	return &transport.OpError{Op: op, Backend: c.backend, Network: c.network, Address: c.address, Err: err}
}

// contextError keeps what err says beside the context's error, turning a
// deadline into transport.ErrTimeout (which still matches
// context.DeadlineExceeded).
func contextError(err error) error {
	switch {
	case err == context.DeadlineExceeded:
		return transport.ErrTimeout
	case errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, transport.ErrTimeout):
		return fmt.Errorf("%w: %w", err, transport.ErrTimeout)
	}
	return err
}

// notSent is the error of a request that was never written because the
// connection was going away or closed: it matches ErrRetryable.
func notSent(cause error) error {
	return fmt.Errorf("%w: %w", ErrRetryable, cause)
}

// connError is the error of a connection-level protocol failure: code is
// what the GOAWAY sent to the peer says; detail is for people.
type connError struct {
	code   http2.ErrCode
	detail string
	cause  error // an extra cause (ErrFlood), or nil
}

func (e *connError) Error() string {
	s := "h2: " + http2.ConnectionError(e.code).Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

// Unwrap gives the http2.ConnectionError and the extra cause.
func (e *connError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.cause, http2.ConnectionError(e.code)}
	}
	return []error{http2.ConnectionError(e.code)}
}

func protocolError(detail string, args ...any) error {
	return &connError{code: http2.ErrCodeProtocol, detail: fmt.Sprintf(detail, args...)}
}

func floodError(detail string, args ...any) error {
	return &connError{code: http2.ErrCodeEnhanceYourCalm, detail: fmt.Sprintf(detail, args...), cause: ErrFlood}
}

// streamError is the error of a stream-level failure found on this side;
// it matches http2.StreamError through errors.As.
func streamError(id uint32, code http2.ErrCode, cause error) error {
	return http2.StreamError{StreamID: id, Code: code, Cause: cause}
}
