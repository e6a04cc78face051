package protocols

import "github.com/transportkit/transportkit/protocols/internal/httperr"

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
