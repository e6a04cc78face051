// Package transport holds the contracts every transportkit network backend
// satisfies, and the pieces that work over any of them.
//
// A backend implements [Backend]: it dials a network address and returns a
// [Stream]. A Stream is a full [net.Conn] (deadlines included) plus
// CloseWrite, IsReadable and Info. Protocol layers (HTTP/1.1, HTTP/2) and
// the TLS upgrade in this package only ever see a Stream, so they run over
// every backend alike.
//
// # Implementing a backend
//
// A backend author writes two types:
//
//   - a Backend, whose Dial honours the context (deadline and cancel) and the
//     [Options] it was opened with, and returns errors as [*OpError];
//   - a Stream, which must pass the conformance suite in package
//     transport/transporttest (which includes golang.org/x/net/nettest's
//     TestConn) under the race detector.
//
// Optional abilities are small separate interfaces, discovered in one place
// (extras.go): a backend that does its own TLS implements [TLSDialer]; when
// it does not, [DialTLS] dials and then runs [StartTLS] over the stream.
//
// A backend makes itself selectable by configuration by registering a
// driver with package registry in an init function.
//
// # Errors
//
// Errors are [*OpError] values that carry the operation, the backend, the
// address and the cause. Use errors.Is with the sentinels of this package
// ([ErrClosed], [ErrUnsupported], [ErrBackendExited], [ErrUnavailable]) or of
// the standard library (net.ErrClosed, os.ErrDeadlineExceeded,
// syscall.ECONNREFUSED); never compare strings. Every timeout, whether it
// came from a deadline or from a context, is a net.Error whose Timeout
// method reports true and matches os.ErrDeadlineExceeded.
package transport
