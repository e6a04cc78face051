// Package httperr holds the error surface that protocols/internal/h1, protocols/internal/h2
// and protocols share, so that a caller of protocols.Transport sees one
// shape of error whatever protocol ran underneath. Package protocols
// re-exports every name here; h1 and h2 return these values.
package httperr

import (
	"errors"
	"io"
)

var (
	// ErrNotProcessed is matched (errors.Is) by the error of a request
	// that the server certainly did not process: an HTTP/2 stream the
	// server refused (REFUSED_STREAM), a stream above the last stream ID
	// of the server's GOAWAY, a request never written because its
	// connection was going away, or an HTTP/1.1 request on a reused
	// connection that the server had closed before reading it. Sending it
	// again on another connection is safe whatever its method, if its body
	// can be had again.
	ErrNotProcessed = errors.New("request not processed by the server; safe to retry")

	// ErrServerClosed is matched by the error of an exchange whose
	// connection the server closed before any byte of a response arrived.
	// It also matches io.EOF, as net/http's error does in that case.
	ErrServerClosed error = serverClosedError{}
)

type serverClosedError struct{}

func (serverClosedError) Error() string        { return "server closed the connection before responding" }
func (serverClosedError) Is(target error) bool { return target == io.EOF }
