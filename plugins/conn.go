package plugins

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// NewStream wraps c as a transport.Stream of the backend named backend,
// for code that has a net.Conn and needs a Stream (DialerBackend uses it
// for every conn its dial function returns). The stream keeps every
// contract of transport.Stream:
//
//   - Errors are *transport.OpError values naming backend and the remote
//     address; a passed deadline is transport.ErrTimeout (matching
//     os.ErrDeadlineExceeded); after Close every call fails matching
//     net.ErrClosed. Read's io.EOF is returned as it is.
//   - CloseWrite calls c's CloseWrite (as *net.TCPConn, *net.UnixConn and
//     *tls.Conn have); without one it fails matching
//     transport.ErrUnsupported.
//   - IsReadable polls the socket of a conn that has SyscallConn (taken
//     to carry its bytes on that socket as they are: *net.TCPConn,
//     *net.UnixConn). For a conn with a NetConn method (*tls.Conn) it
//     polls the conn underneath, as transport.StartTLS's streams do, with
//     the same limits (records the TLS layer already buffered are not
//     seen, records without application data are). On any other conn (a
//     tunnel's own type) it makes one read that may wait a few
//     microseconds, and keeps what it got for the next Read; it reports
//     false while a Read is in progress, and for a conn without read
//     deadlines.
//   - Info answers InfoBackend, the addresses, InfoClosed, InfoFD for a
//     conn that has SyscallConn, and InfoTLS and InfoALPN for a conn with a
//     ConnectionState method (*tls.Conn) once its handshake is complete.
//
// A c that already is a transport.Stream keeps its own IsReadable,
// CloseWrite and Info answers (InfoBackend aside).
func NewStream(c net.Conn, backend string) transport.Stream {
	return newConnStream(c, backend, nil)
}

// connStream is NewStream's Stream.
type connStream struct {
	c       net.Conn
	inner   transport.Stream // c, when it is a Stream
	backend string
	raddr   net.Addr        // nil: c's
	rc      syscall.RawConn // nil: c is not a kernel socket
	closed  atomic.Bool

	// The probe of IsReadable, for conns that are not kernel sockets.
	readMu       sync.Mutex // held by Read and by the probe
	dlMu         sync.Mutex // held while the read deadline is changed
	readDeadline time.Time
	pending      []byte // what the probe read, for the next Read
	pendingErr   error  // the error the probe got, for the next Read
}

var _ transport.Stream = (*connStream)(nil)

// rawConner is what a kernel socket's conn has.
type rawConner interface {
	SyscallConn() (syscall.RawConn, error)
}

func newConnStream(c net.Conn, backend string, raddr net.Addr) *connStream {
	s := &connStream{c: c, backend: backend, raddr: raddr}
	s.inner, _ = c.(transport.Stream)
	if sc, ok := c.(rawConner); ok && s.inner == nil {
		if rc, err := sc.SyscallConn(); err == nil {
			s.rc = rc
		}
	}
	return s
}

// opError turns err into the stream's *transport.OpError for op.
func (s *connStream) opError(op string, err error) error {
	return streamOpError(s.backend, s.RemoteAddr(), op, err)
}

// streamOpError turns the error of a stream operation into the
// *transport.OpError the Stream contract asks for: nil stays nil, a
// *net.OpError or *transport.OpError gives its Op and cause, and a passed
// deadline becomes transport.ErrTimeout. It does not treat io.EOF; callers
// return that as it is.
func streamOpError(backend string, raddr net.Addr, op string, err error) error {
	if err == nil {
		return nil
	}
	cause := err
	var oe *transport.OpError
	var ne *net.OpError
	switch {
	case errors.As(err, &oe):
		op, cause = oe.Op, oe.Err
	case errors.As(err, &ne) && ne.Err != nil:
		op, cause = ne.Op, ne.Err
	}
	if errors.Is(cause, os.ErrDeadlineExceeded) && !errors.Is(cause, transport.ErrTimeout) {
		cause = transport.ErrTimeout
	}
	e := &transport.OpError{Op: op, Backend: backend, Err: cause}
	if raddr != nil {
		e.Network, e.Address = raddr.Network(), raddr.String()
	}
	return e
}

// Read reads from c, first what IsReadable's probe read.
func (s *connStream) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, s.opError("read", net.ErrClosed)
	}
	if s.rc == nil && s.inner == nil {
		s.readMu.Lock()
		defer s.readMu.Unlock()
		switch {
		case len(s.pending) > 0:
			n := copy(p, s.pending)
			s.pending = s.pending[n:]
			return n, nil
		case s.pendingErr != nil:
			err := s.pendingErr
			s.pendingErr = nil
			return 0, s.readError(err)
		}
	}
	n, err := s.c.Read(p)
	return n, s.readError(err)
}

func (s *connStream) readError(err error) error {
	if err == io.EOF {
		return err
	}
	return s.opError("read", err)
}

// Write writes to c.
func (s *connStream) Write(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, s.opError("write", net.ErrClosed)
	}
	n, err := s.c.Write(p)
	return n, s.opError("write", err)
}

// CloseWrite half-closes c, if c can.
func (s *connStream) CloseWrite() error {
	if s.closed.Load() {
		return s.opError("close", net.ErrClosed)
	}
	cw, ok := s.c.(interface{ CloseWrite() error })
	if !ok {
		return s.opError("close", fmt.Errorf("%T cannot half-close: %w", s.c, transport.ErrUnsupported))
	}
	return s.opError("close", cw.CloseWrite())
}

// Close closes c; a second Close fails matching net.ErrClosed.
func (s *connStream) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return s.opError("close", net.ErrClosed)
	}
	return s.opError("close", s.c.Close())
}

// LocalAddr is c's.
func (s *connStream) LocalAddr() net.Addr { return s.c.LocalAddr() }

// RemoteAddr is the address dialed when the stream was made by a
// DialerBackend, else c's.
func (s *connStream) RemoteAddr() net.Addr {
	if s.raddr != nil {
		return s.raddr
	}
	return s.c.RemoteAddr()
}

// SetDeadline sets both deadlines.
func (s *connStream) SetDeadline(t time.Time) error {
	if s.closed.Load() {
		return s.opError("set", net.ErrClosed)
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.readDeadline = t
	return s.opError("set", s.c.SetDeadline(t))
}

// SetReadDeadline sets the read deadline.
func (s *connStream) SetReadDeadline(t time.Time) error {
	if s.closed.Load() {
		return s.opError("set", net.ErrClosed)
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.readDeadline = t
	return s.opError("set", s.c.SetReadDeadline(t))
}

// SetWriteDeadline sets the write deadline.
func (s *connStream) SetWriteDeadline(t time.Time) error {
	if s.closed.Load() {
		return s.opError("set", net.ErrClosed)
	}
	return s.opError("set", s.c.SetWriteDeadline(t))
}

// probeWait is how long IsReadable's probe of a conn that is neither a
// kernel socket nor a wrapper of one waits for a byte: a read with a
// deadline already past would not even try (the net package and
// net.Pipe give up before reading), so the probe gives the read this
// long.
const probeWait = 50 * time.Microsecond

// IsReadable reports whether a Read would not block; see NewStream.
func (s *connStream) IsReadable() bool {
	switch {
	case s.closed.Load():
		return true
	case s.inner != nil:
		return s.inner.IsReadable()
	case s.rc != nil:
		return peekReadable(s.rc)
	}
	if under, ok := s.c.(interface{ NetConn() net.Conn }); ok {
		return connReadable(under.NetConn())
	}
	if !s.readMu.TryLock() {
		return false // a Read waits: nothing is readable
	}
	defer s.readMu.Unlock()
	if len(s.pending) > 0 || s.pendingErr != nil {
		return true
	}
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	if err := s.c.SetReadDeadline(time.Now().Add(probeWait)); err != nil {
		return false // no deadlines: no way to look without blocking
	}
	var b [1]byte
	n, err := s.c.Read(b[:])
	s.c.SetReadDeadline(s.readDeadline)
	switch {
	case n > 0:
		s.pending = b[:n]
		if err != nil && !isTimeout(err) {
			s.pendingErr = err
		}
		return true
	case err == nil || isTimeout(err):
		return false
	}
	s.pendingErr = err
	return true
}

// connReadable reports whether bytes, EOF or an error wait on c, the conn
// under a *tls.Conn: a Stream says, a socket is polled; otherwise it
// reports false.
func connReadable(c net.Conn) bool {
	switch c := c.(type) {
	case transport.Stream:
		return c.IsReadable()
	case rawConner:
		rc, err := c.SyscallConn()
		return err == nil && peekReadable(rc)
	}
	return false
}

// Info answers the keys listed in NewStream's doc.
func (s *connStream) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return s.backend, true
	case transport.InfoLocalAddr:
		return s.LocalAddr(), true
	case transport.InfoRemoteAddr:
		return s.RemoteAddr(), true
	case transport.InfoClosed:
		return s.closed.Load(), true
	}
	if s.inner != nil {
		return s.inner.Info(key)
	}
	switch key {
	case transport.InfoFD:
		if s.rc == nil || s.closed.Load() {
			return nil, false
		}
		fd := -1
		if err := s.rc.Control(func(sysfd uintptr) { fd = int(sysfd) }); err != nil {
			return nil, false
		}
		return fd, true
	case transport.InfoTLS, transport.InfoALPN:
		tc, ok := s.c.(interface{ ConnectionState() tls.ConnectionState })
		if !ok {
			return nil, false
		}
		cs := tc.ConnectionState()
		if !cs.HandshakeComplete {
			return nil, false
		}
		if key == transport.InfoALPN {
			return cs.NegotiatedProtocol, true
		}
		return cs, true
	}
	return nil, false
}
