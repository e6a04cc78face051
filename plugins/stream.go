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

// byteStream is the host's side of a byte-path stream: a raw unix
// connection to the plugin, which copies bytes between it and the
// plugin's own stream.
//
// Reads and writes go straight to the connection. Only when it ends (EOF,
// or a write refused because the plugin stopped writing to its stream)
// does the host ask the plugin, once per direction, how its stream ended,
// so that the error is the stream's own (or an *ExitError when the plugin
// died).
type byteStream struct {
	raw     *net.UnixConn
	rc      syscall.RawConn
	backend string
	inst    *instance
	id      uint64
	laddr   net.Addr
	raddr   net.Addr
	tls     *tls.ConnectionState

	closed  atomic.Bool
	wclosed atomic.Bool

	readEnd  endOnce
	writeEnd endOnce
}

var _ transport.Stream = (*byteStream)(nil)

// endOnce caches how one direction ended.
type endOnce struct {
	once sync.Once
	err  error
}

func newByteStream(backend string, inst *instance, raw *net.UnixConn, resp *dialResponse) (*byteStream, error) {
	rc, err := raw.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &byteStream{
		raw:     raw,
		rc:      rc,
		backend: backend,
		inst:    inst,
		id:      resp.StreamID,
		laddr:   resp.Local.addr(),
		raddr:   resp.Remote.addr(),
	}
	if s.laddr == nil {
		s.laddr = raw.LocalAddr()
	}
	if s.raddr == nil {
		s.raddr = raw.RemoteAddr()
	}
	if resp.TLS != nil {
		cs := resp.TLS.state()
		s.tls = &cs
	}
	return s, nil
}

func (s *byteStream) opError(op string, err error) error {
	return &transport.OpError{Op: op, Backend: s.backend, Network: s.raddr.Network(), Address: s.raddr.String(), Err: err}
}

// Read reads from the plugin's stream. At its end it returns io.EOF when
// the plugin's stream ended cleanly, and otherwise the stream's error or an
// *ExitError.
func (s *byteStream) Read(p []byte) (int, error) {
	n, err := s.raw.Read(p)
	if err != nil {
		err = s.readError(err)
	}
	return n, err
}

func (s *byteStream) readError(err error) error {
	if s.closed.Load() || errors.Is(err, net.ErrClosed) || isTimeout(err) {
		return s.opError("read", err)
	}
	s.readEnd.once.Do(func() { s.readEnd.err = s.endError(true) })
	switch {
	case s.readEnd.err != nil:
		return s.opError("read", s.readEnd.err)
	case err == io.EOF:
		return io.EOF
	}
	return s.opError("read", err)
}

// Write writes to the plugin's stream. When the plugin's stream refused
// bytes, it returns that error, or an *ExitError when the plugin died.
func (s *byteStream) Write(p []byte) (int, error) {
	n, err := s.raw.Write(p)
	if err != nil {
		err = s.writeError(err)
	}
	return n, err
}

func (s *byteStream) writeError(err error) error {
	if s.closed.Load() || s.wclosed.Load() || errors.Is(err, net.ErrClosed) || isTimeout(err) {
		return s.opError("write", err)
	}
	s.writeEnd.once.Do(func() { s.writeEnd.err = s.endError(false) })
	if s.writeEnd.err != nil {
		return s.opError("write", s.writeEnd.err)
	}
	return s.opError("write", err)
}

// endError asks the plugin how one direction of its stream ended: nil
// for a clean end, the stream's error, or an *ExitError.
func (s *byteStream) endError(read bool) error {
	st, err := s.inst.streamStatus(s.id)
	if err != nil {
		return err
	}
	switch {
	case !st.Known:
		return errStreamGone
	case read && st.ReadDone:
		return st.ReadErr.decode()
	case read:
		return errStreamGone
	case st.WriteDone && st.WriteErr != nil:
		return st.WriteErr.decode()
	}
	return nil
}

// errStreamGone reports a byte stream the plugin dropped without saying
// why.
var errStreamGone = errors.New("plugins: the plugin dropped the stream")

// Close closes the connection and tells the plugin to close its stream.
func (s *byteStream) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return s.opError("close", net.ErrClosed)
	}
	err := s.raw.Close()
	s.inst.release(s.id, false)
	if err != nil {
		return s.opError("close", err)
	}
	return nil
}

// CloseWrite half-closes: the plugin half-closes its stream once it has
// written everything before.
func (s *byteStream) CloseWrite() error {
	if s.closed.Load() {
		return s.opError("close", net.ErrClosed)
	}
	s.wclosed.Store(true)
	if err := s.raw.CloseWrite(); err != nil {
		return s.opError("close", err)
	}
	return nil
}

// IsReadable peeks at the connection: data or EOF from the plugin, or an
// error, make it true.
func (s *byteStream) IsReadable() bool {
	return s.closed.Load() || peekReadable(s.rc)
}

// LocalAddr and RemoteAddr are the plugin's stream's addresses.
func (s *byteStream) LocalAddr() net.Addr  { return s.laddr }
func (s *byteStream) RemoteAddr() net.Addr { return s.raddr }

// Deadlines are kept by the host's connection.
func (s *byteStream) SetDeadline(t time.Time) error {
	return streamOpError(s.backend, s.raddr, "set", s.raw.SetDeadline(t))
}
func (s *byteStream) SetReadDeadline(t time.Time) error {
	return streamOpError(s.backend, s.raddr, "set", s.raw.SetReadDeadline(t))
}
func (s *byteStream) SetWriteDeadline(t time.Time) error {
	return streamOpError(s.backend, s.raddr, "set", s.raw.SetWriteDeadline(t))
}

// Info answers the common keys, InfoTLS and InfoALPN after a handshake in
// the plugin, and InfoDataPath. There is no InfoFD: the stream's socket is
// in the plugin.
func (s *byteStream) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return s.backend, true
	case transport.InfoLocalAddr:
		return s.laddr, true
	case transport.InfoRemoteAddr:
		return s.raddr, true
	case transport.InfoClosed:
		return s.closed.Load(), true
	case InfoDataPath:
		return DataPathBytes, true
	case transport.InfoTLS:
		if s.tls != nil {
			return *s.tls, true
		}
	case transport.InfoALPN:
		if s.tls != nil {
			return s.tls.NegotiatedProtocol, true
		}
	}
	return nil, false
}

// handoffStream is a handed-off socket running on an in-process backend.
// It reports the plugin as its backend, and the remote address the plugin
// gave (a proxy's target, say, rather than the proxy).
type handoffStream struct {
	transport.Stream
	backend string
	raddr   net.Addr // nil: the socket's
}

var _ transport.Stream = (*handoffStream)(nil)

// RemoteAddr is the address the plugin reported.
func (h *handoffStream) RemoteAddr() net.Addr {
	if h.raddr != nil {
		return h.raddr
	}
	return h.Stream.RemoteAddr()
}

// Info answers InfoBackend, InfoRemoteAddr and InfoDataPath, and asks the
// underlying stream for the rest (InfoFD among them).
func (h *handoffStream) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return h.backend, true
	case transport.InfoRemoteAddr:
		return h.RemoteAddr(), true
	case InfoDataPath:
		return DataPathHandoff, true
	}
	return h.Stream.Info(key)
}

// sockConn is what *net.TCPConn and *net.UnixConn have in common.
type sockConn interface {
	net.Conn
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// fileStream runs a handed-off socket on the Go runtime's poller, for
// hosts whose in-process backend cannot adopt sockets.
type fileStream struct {
	sockConn
	rc      syscall.RawConn
	backend string
	closed  atomic.Bool
}

var _ transport.Stream = (*fileStream)(nil)

// newFileStream takes over f, a connected stream socket; f is closed in
// every case.
func newFileStream(f *os.File, backend string) (*fileStream, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	sc, ok := c.(sockConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("plugins: handed-off socket is a %T, not a stream socket: %w", c, transport.ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &fileStream{sockConn: sc, rc: rc, backend: backend}, nil
}

// Close closes the socket; a second Close fails with net.ErrClosed.
func (s *fileStream) Close() error {
	s.closed.Store(true)
	return s.opError("close", s.sockConn.Close())
}

// opError makes err a *transport.OpError, as every stream error but
// Read's io.EOF is.
func (s *fileStream) opError(op string, err error) error {
	return streamOpError(s.backend, s.RemoteAddr(), op, err)
}

// Read reads from the socket; its end is io.EOF.
func (s *fileStream) Read(p []byte) (int, error) {
	n, err := s.sockConn.Read(p)
	if err == io.EOF {
		return n, err
	}
	return n, s.opError("read", err)
}

// Write writes to the socket.
func (s *fileStream) Write(p []byte) (int, error) {
	n, err := s.sockConn.Write(p)
	return n, s.opError("write", err)
}

// CloseWrite shuts the socket down for writing.
func (s *fileStream) CloseWrite() error { return s.opError("close", s.sockConn.CloseWrite()) }

// SetDeadline sets both deadlines.
func (s *fileStream) SetDeadline(t time.Time) error {
	return s.opError("set", s.sockConn.SetDeadline(t))
}

// SetReadDeadline sets the read deadline.
func (s *fileStream) SetReadDeadline(t time.Time) error {
	return s.opError("set", s.sockConn.SetReadDeadline(t))
}

// SetWriteDeadline sets the write deadline.
func (s *fileStream) SetWriteDeadline(t time.Time) error {
	return s.opError("set", s.sockConn.SetWriteDeadline(t))
}

// IsReadable peeks at the socket.
func (s *fileStream) IsReadable() bool { return s.closed.Load() || peekReadable(s.rc) }

// Info answers the common keys and InfoFD.
func (s *fileStream) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return s.backend, true
	case transport.InfoLocalAddr:
		return s.LocalAddr(), true
	case transport.InfoRemoteAddr:
		return s.RemoteAddr(), true
	case transport.InfoClosed:
		return s.closed.Load(), true
	case transport.InfoFD:
		fd := -1
		if err := s.rc.Control(func(sysfd uintptr) { fd = int(sysfd) }); err != nil {
			return nil, false
		}
		return fd, true
	}
	return nil, false
}
