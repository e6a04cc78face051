package h2

import (
	"context"
	"errors"
	"fmt"
	_ "unsafe" // for go:linkname to the engine's retry sentinels

	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

var (
	// ErrRetryable is matched (with errors.Is) by RoundTrip errors for
	// requests the server has certainly not processed, so that sending
	// them again on another connection is safe whatever their method:
	// the server refused the stream (RST_STREAM with REFUSED_STREAM), its
	// GOAWAY named a last stream below the request's, or the connection
	// was going away or closed before the request was sent. Whether the
	// request can be replayed (its body is nil, http.NoBody, or GetBody is
	// set) is for the caller to check.
	ErrRetryable = errors.New("h2: request not processed by the server; safe to retry")

	// ErrFlood is matched by the errors of a connection that was closed
	// because the peer sent more control frames (PING, SETTINGS,
	// RST_STREAM, PRIORITY, unknown or empty frames) than
	// Options.MaxControlFrames allows in a second, or split a header block
	// into more CONTINUATION frames than its size limit could need. The
	// error also matches http2.ConnectionError with ENHANCE_YOUR_CALM.
	ErrFlood = errors.New("h2: peer flooded the connection")

	// errGoingAway is the cause behind ErrRetryable when RoundTrip is
	// called on a Conn that takes no new requests.
	errGoingAway = errors.New("h2: connection is going away")
)

// The engine reports the requests it knows the server did not process
// with unexported sentinels (the ones its own Transport retries on). They
// are read here, in one place, and pinned by tests that provoke each
// case: an x/net upgrade that renames them fails to link, and one that
// stops returning them fails those tests.
var (
	//go:linkname errEngineGotGoAway golang.org/x/net/http2.errClientConnGotGoAway
	errEngineGotGoAway error
	//go:linkname errEngineUnusable golang.org/x/net/http2.errClientConnUnusable
	errEngineUnusable error
	//go:linkname errEngineNotEstablished golang.org/x/net/http2.errClientConnNotEstablished
	errEngineNotEstablished error
)

// IsRetryable reports whether err says that the request was not processed
// by the server, so that it may be sent again on another connection; it
// is errors.Is(err, ErrRetryable).
func IsRetryable(err error) bool { return errors.Is(err, ErrRetryable) }

// notProcessed reports whether the engine's error err means that the
// server did not process the request.
func notProcessed(err error) bool {
	var se http2.StreamError
	if errors.As(err, &se) {
		return se.Code == http2.ErrCodeRefusedStream
	}
	return err == errEngineGotGoAway || err == errEngineUnusable || err == errEngineNotEstablished
}

// opError wraps err, the cause of a failed op, with the stream's identity.
// A context's error becomes what transport.ContextError makes of it.
func (c *Conn) opError(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = transport.ContextError(err)
	}
	return &transport.OpError{Op: op, Backend: c.backend, Network: c.network, Address: c.address, Err: err}
}

// roundTripError classifies and wraps an error from the engine's
// RoundTrip.
func (c *Conn) roundTripError(err error) error {
	switch {
	case notProcessed(err):
		if err == errEngineUnusable || err == errEngineNotEstablished {
			c.setGoingAway() // the engine takes no new requests
		}
		err = fmt.Errorf("%w: %w", ErrRetryable, err)
	case c.guard.err() != nil:
		err = fmt.Errorf("%w: %w", c.guard.err(), err)
	}
	return c.opError("roundtrip", err)
}
