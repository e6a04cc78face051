package stdnet

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"

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

// Close closes the socket. A second Close returns an error matching
// net.ErrClosed.
func (s *stream) Close() error {
	s.closed.Store(true)
	return s.sockConn.Close()
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
