package stdnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// sockConn is what *net.TCPConn and *net.UnixConn have in common.
type sockConn interface {
	net.Conn
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// stream is a transport.Stream over a standard library socket.
type stream struct {
	sockConn
	raw    syscall.RawConn
	closed atomic.Bool
}

var _ transport.Stream = (*stream)(nil)

// newStream wraps c, which must be a *net.TCPConn or *net.UnixConn.
func newStream(c net.Conn) (*stream, error) {
	sc, ok := c.(sockConn)
	if !ok {
		return nil, fmt.Errorf("stdnet: %T is not a stream socket: %w", c, transport.ErrUnsupported)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &stream{sockConn: sc, raw: raw}, nil
}

// Read reads from the socket. It returns io.EOF as it is; every other
// error is a *transport.OpError (see opError).
func (s *stream) Read(b []byte) (int, error) {
	n, err := s.sockConn.Read(b)
	if err != nil && err != io.EOF {
		err = s.opError(err)
	}
	return n, err
}

// Write writes to the socket; its errors are *transport.OpError values.
func (s *stream) Write(b []byte) (int, error) {
	n, err := s.sockConn.Write(b)
	if err != nil {
		err = s.opError(err)
	}
	return n, err
}

// CloseWrite shuts down the writing side; its errors are
// *transport.OpError values.
func (s *stream) CloseWrite() error { return s.opError(s.sockConn.CloseWrite()) }

// SetDeadline sets both deadlines; it fails only on a closed stream.
func (s *stream) SetDeadline(t time.Time) error { return s.opError(s.sockConn.SetDeadline(t)) }

// SetReadDeadline sets the read deadline; it fails only on a closed
// stream.
func (s *stream) SetReadDeadline(t time.Time) error {
	return s.opError(s.sockConn.SetReadDeadline(t))
}

// SetWriteDeadline sets the write deadline; it fails only on a closed
// stream.
func (s *stream) SetWriteDeadline(t time.Time) error {
	return s.opError(s.sockConn.SetWriteDeadline(t))
}

// Close closes the socket. A second Close returns an error matching
// net.ErrClosed.
func (s *stream) Close() error {
	s.closed.Store(true)
	return s.opError(s.sockConn.Close())
}

// opError turns an error of the net package into the transport contract's
// *transport.OpError: the net.OpError's operation and cause, this
// backend's name and the peer's address. A passed deadline becomes
// transport.ErrTimeout, which still matches os.ErrDeadlineExceeded. A nil
// error stays nil.
func (s *stream) opError(err error) error {
	if err == nil {
		return nil
	}
	e := &transport.OpError{Op: "stream", Backend: Name, Err: err}
	var ne *net.OpError
	if errors.As(err, &ne) {
		e.Op = ne.Op
		if ne.Err != nil {
			e.Err = ne.Err
		}
	}
	if errors.Is(e.Err, os.ErrDeadlineExceeded) {
		e.Err = transport.ErrTimeout
	}
	if a := s.RemoteAddr(); a != nil {
		e.Network, e.Address = a.Network(), a.String()
	}
	return e
}

// IsReadable reports whether data, EOF or an error is waiting, without
// blocking or consuming anything (see peekReadable). After Close it reports true,
// since a Read fails at once.
func (s *stream) IsReadable() bool {
	if s.closed.Load() {
		return true
	}
	readable, err := peekReadable(s.raw)
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	return readable
}

// Info answers the keys every stream answers, and InfoFD while the stream
// is open.
func (s *stream) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return Name, true
	case transport.InfoLocalAddr:
		return s.LocalAddr(), true
	case transport.InfoRemoteAddr:
		return s.RemoteAddr(), true
	case transport.InfoClosed:
		return s.closed.Load(), true
	case transport.InfoFD:
		fd := -1
		if err := s.raw.Control(func(sysfd uintptr) { fd = int(sysfd) }); err != nil {
			return nil, false
		}
		return fd, true
	}
	return nil, false
}
