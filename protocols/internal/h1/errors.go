package h1

import (
	"context"
	"errors"
	"os"
	"strconv"

	"github.com/transportkit/transportkit/protocols/internal/httperr"
)

// Rules a response can break. Each is the Rule of a *ProtocolError, so
// errors.Is(err, h1.ErrBadChunk) tells which rule a failed exchange broke.
var (
	// ErrHeaderTooLarge: the response head (status line and header
	// fields, 1xx responses included) is longer than
	// Options.MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("response head too large")

	// ErrBadStatusLine: the status line is not "HTTP/x.y NNN reason".
	ErrBadStatusLine = errors.New("malformed status line")

	// ErrInvalidHeader: a header or trailer line has no colon, an empty
	// or invalid field name (whitespace before the colon included), or
	// control bytes in its value; or the first line is a continuation.
	ErrInvalidHeader = errors.New("invalid header field")

	// ErrConflictingLength: several Content-Length fields with different
	// values.
	ErrConflictingLength = errors.New("conflicting Content-Length")

	// ErrBadContentLength: a Content-Length that is not a decimal number
	// below 2^63.
	ErrBadContentLength = errors.New("invalid Content-Length")

	// ErrUnsupportedTransferEncoding: a Transfer-Encoding other than a
	// single field whose value is exactly "chunked".
	ErrUnsupportedTransferEncoding = errors.New("unsupported Transfer-Encoding")

	// ErrBadChunk: a chunk-size line that does not end in CRLF (a bare LF
	// or a stray CR), an invalid or too large chunk size, chunk data not
	// followed by CRLF, or far more framing than data.
	ErrBadChunk = errors.New("malformed chunked encoding")

	// ErrChunkLineTooLong: a chunk-size line (extensions included) longer
	// than 4096 bytes.
	ErrChunkLineTooLong = errors.New("chunk line too long")

	// ErrBadTrailer: a Trailer field that announces a forbidden key, or a
	// trailer section that is malformed or longer than 4096 bytes.
	ErrBadTrailer = errors.New("malformed trailer")
)

// Failures of an exchange that are not broken rules. They appear as the
// Err of an *Error.
var (
	// ErrServerClosed: the server closed the connection before the first
	// byte of a response. It also matches io.EOF, as net/http's error
	// does, and is protocols.ErrServerClosed.
	ErrServerClosed = httperr.ErrServerClosed

	// ErrNotProcessed is matched by the *Error of an exchange that failed
	// before any byte of the request reached the connection: RoundTrip on
	// a connection that was closed or busy (ErrConnClosed, ErrConnBusy),
	// or a first write that failed (the server had closed or reset the
	// connection). The server cannot have seen the request, so sending it
	// again on another connection is safe whatever its method. It is
	// protocols.ErrNotProcessed.
	ErrNotProcessed = httperr.ErrNotProcessed

	// ErrBodyClosed: a Read on a response body after its Close.
	ErrBodyClosed = errors.New("read on closed response body")

	// ErrConnBusy: RoundTrip called while the previous exchange on the
	// connection has not ended (its body is still being read).
	ErrConnBusy = errors.New("connection busy with another request")

	// ErrConnClosed: RoundTrip called on a connection that is closed or
	// was left unusable by an earlier exchange.
	ErrConnClosed = errors.New("connection closed")

	// ErrResponseHeaderTimeout: the response head did not arrive within
	// Options.ResponseHeaderTimeout. It is a net.Error with Timeout() true
	// and, like every timeout of transportkit, matches
	// os.ErrDeadlineExceeded and context.DeadlineExceeded.
	ErrResponseHeaderTimeout error = headerTimeoutError{}
)

type headerTimeoutError struct{}

func (headerTimeoutError) Error() string   { return "timeout awaiting response headers" }
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return true }
func (headerTimeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}

// ProtocolError reports a response that breaks a rule of HTTP/1.1
// framing. The connection it came on is closed, never reused.
type ProtocolError struct {
	// Rule is the rule broken: one of the Err* rule sentinels of this
	// package (ErrBadChunk, ErrConflictingLength, ...).
	Rule error
	// Detail quotes the offending input, shortened.
	Detail string
}

// Error describes the broken rule and quotes the input.
func (e *ProtocolError) Error() string {
	if e.Detail == "" {
		return "h1: " + e.Rule.Error()
	}
	return "h1: " + e.Rule.Error() + ": " + e.Detail
}

// Unwrap returns the rule, so errors.Is matches the sentinel.
func (e *ProtocolError) Unwrap() error { return e.Rule }

// Error is the error of a failed exchange, from RoundTrip or from a
// response body's Read: what was being done and why it failed.
type Error struct {
	// Op is what failed: "write" (the request), "read" (the response
	// head) or "body" (the response body).
	Op string
	// Err is the cause: a *ProtocolError, a context error
	// (context.Canceled, or transport.ErrTimeout for an expired deadline),
	// ErrResponseHeaderTimeout, a sentinel of this package, a transport
	// error or an error from the request body. It is never nil.
	Err error
	// NoResponse reports that no byte of a response had arrived when the
	// exchange failed: a caller may replay an idempotent request on
	// another connection when the failure was the connection's.
	NoResponse bool

	notSent bool // no byte of the request was written: see Is
}

// Is reports whether the error matches target beyond its cause: an
// exchange that failed before any byte of the request was written, for a
// reason of the connection's, matches ErrNotProcessed.
func (e *Error) Is(target error) bool { return target == ErrNotProcessed && e.notSent }

// Error describes the failure in one line.
func (e *Error) Error() string { return "h1: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout.
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// protoErr builds a *ProtocolError quoting at most 64 bytes of input.
func protoErr(rule error, input []byte) *ProtocolError {
	return &ProtocolError{Rule: rule, Detail: quote(input)}
}

func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// Errors about the request, found before anything is sent or while its
// body is read. They appear as the Err of an *Error, wrapped with details.
var (
	// ErrInvalidRequest: the request cannot be written: no URL or host,
	// an invalid method, control bytes in the target, or an invalid header
	// field name or value.
	ErrInvalidRequest = errors.New("invalid request")

	// ErrBodyLength: the request body ended before ContentLength bytes,
	// or went on after them.
	ErrBodyLength = errors.New("request body length differs from ContentLength")
)
