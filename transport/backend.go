package transport

import "context"

// Backend dials network connections and returns them as Streams.
//
// Implementations are safe for concurrent use. Dial supports the networks
// "tcp", "tcp4", "tcp6" and "unix" unless its documentation says otherwise;
// an unsupported network fails with an error matching [ErrUnsupported].
type Backend interface {
	// Name returns the name the backend is registered under, such as
	// "stdnet" or "epoll".
	Name() string

	// Dial connects to address on the named network. It honours ctx's
	// deadline and cancellation for the whole connect, including name
	// resolution, and the Options the backend was opened with. Errors are
	// *OpError values; a timeout satisfies net.Error with Timeout() true
	// and matches os.ErrDeadlineExceeded.
	Dial(ctx context.Context, network, address string) (Stream, error)

	// Close releases the backend's resources (event loops, helper
	// processes). Streams already returned keep working unless the
	// backend's documentation says otherwise. Later Dials fail with an
	// error matching ErrClosed. Close is idempotent.
	Close() error
}
