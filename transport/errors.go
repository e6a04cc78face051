package transport

import (
	"context"
	"errors"
	"net"
	"os"
)

var (
	// ErrClosed is returned by calls on a Stream or Backend after Close.
	// It is net.ErrClosed, so errors.Is matches either name.
	ErrClosed = net.ErrClosed

	// ErrUnsupported is returned when a backend cannot do what was asked,
	// such as dialing a network it does not implement. It matches
	// errors.ErrUnsupported too.
	ErrUnsupported = unsupportedError{}

	// ErrUnavailable is returned when opening a backend that cannot run on
	// this platform or in this process (for example epoll off Linux). The
	// registry's default chain moves on to the next backend only on this
	// error, never on a real failure.
	ErrUnavailable = errors.New("transport: backend unavailable")

	// ErrBackendExited is returned by calls on streams of an out-of-process
	// backend whose process has exited.
	ErrBackendExited = errors.New("transport: backend process exited")

	// ErrTimeout is the error behind every timeout: a deadline that
	// passed or a context whose deadline expired. It is a net.Error with
	// Timeout() true, and errors.Is matches it against os.ErrDeadlineExceeded
	// and context.DeadlineExceeded alike.
	ErrTimeout error = timeoutError{}
)

type unsupportedError struct{}

func (unsupportedError) Error() string        { return "transport: unsupported" }
func (unsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}

// OpError is the error every transportkit operation returns: what was
// being done, by which backend, to which address, and why.
type OpError struct {
	// Op is the operation: "dial", "read", "write", "close", "tls", ...
	Op string
	// Backend is the name of the backend, if known.
	Backend string
	// Network and Address identify the peer, if known.
	Network string
	Address string
	// Err is the cause. It is never nil.
	Err error
}

// Error describes the failure in one line, such as
// "epoll: dial tcp 127.0.0.1:1: connection refused".
func (e *OpError) Error() string {
	s := e.Op
	if e.Backend != "" {
		s = e.Backend + ": " + s
	}
	if e.Network != "" {
		s += " " + e.Network
	}
	if e.Address != "" {
		s += " " + e.Address
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout.
func (e *OpError) Timeout() bool {
	var ne net.Error
	if errors.As(e.Err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(e.Err, os.ErrDeadlineExceeded) || errors.Is(e.Err, context.DeadlineExceeded)
}

// Temporary reports whether the failure was a timeout, the only failure
// worth retrying as it stands.
//
// Deprecated: as for net.Error, use Timeout or errors.Is.
func (e *OpError) Temporary() bool { return e.Timeout() }

var _ net.Error = (*OpError)(nil)

// ContextError maps a context's error to the error a transport operation
// returns for it: context.DeadlineExceeded becomes ErrTimeout (which still
// matches context.DeadlineExceeded), context.Canceled and others stay as
// they are. A nil error stays nil.
func ContextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return err
}
