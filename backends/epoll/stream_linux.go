package epoll

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/transport"
)

// maxRW bounds one read or write system call, as the standard library does.
const maxRW = 1 << 30

// stream is a connected, non-blocking stream socket served by a loop.
//
// Lifetime: Read holds rmu and Write holds wmu across their system calls,
// and Close takes both before it closes the fd, so the fd is closed exactly
// once and never while a system call is using it. Close sets closed first
// and pokes both directions, so parked callers wake, see the flag and let
// go of their mutex.
type stream struct {
	fd       int
	gen      uint32
	tracked  bool // SOCK_STREAM: a short read means the socket was drained
	tryRead  bool // Config.TryRead
	outArmed bool // registered for output readiness; guarded by wmu

	loop    *loop
	network string

	// The local and remote addresses (index 0 and 1), set before the
	// stream reaches a caller: TCP ones are held in addrs, Unix ones in
	// ux, so that a stream and its addresses are one allocation.
	addrs [2]inetAddr
	ux    *[2]net.UnixAddr

	closed atomic.Bool
	// ev holds the loop's readiness bits (evHup) and, above them, the
	// count of CloseWrite calls using the fd (evShutter each): those take
	// no mutex (a Write parked for room holds wmu), so Close waits for
	// them before it closes the fd.
	ev atomic.Uint32
	// lent is set once InfoFD has handed the fd out: a duplicate of it may
	// outlive the stream, so Close removes the fd from the epoll set
	// itself (the kernel only drops a registration when the last
	// descriptor of the socket closes).
	lent atomic.Bool

	// spill holds one byte read past the end of a caller's buffer, which
	// tells a full read from a drained socket; hasSpill says it is there.
	// Both are guarded by rmu.
	spill    byte
	hasSpill bool
	akind    [2]uint8 // the kind of each address: addrNone, addrInet, addrUnix

	rd pollDir
	wd pollDir

	rmu sync.Mutex
	wmu sync.Mutex
}

var _ transport.Stream = (*stream)(nil)

// newStream wraps a connected (or connecting) non-blocking fd and registers
// it with l, which the caller has acquired; out asks for output readiness
// from the start (a connect in progress). On failure the fd is left to the
// caller.
func newStream(l *loop, fd int, network string, cfg *Config, out bool) (*stream, error) {
	s := &stream{
		fd:       fd,
		gen:      nextGen(),
		tracked:  true,
		tryRead:  cfg.TryRead,
		loop:     l,
		network:  network,
		outArmed: out,
	}
	if err := l.register(s, out); err != nil {
		return nil, err
	}
	return s, nil
}

// inetAddr is a TCP address and the bytes of its IP.
type inetAddr struct {
	a  net.TCPAddr
	ip [net.IPv6len]byte
}

// Kinds of stream addresses.
const (
	addrNone uint8 = iota
	addrInet
	addrUnix
)

// setAddrs sets the local address (if lsa is not nil) and the remote
// one from the socket addresses, as sockaddrToAddr makes them.
func (s *stream) setAddrs(lsa, rsa unix.Sockaddr) {
	if lsa != nil {
		s.setAddr(0, lsa)
	}
	s.setAddr(1, rsa)
}

func (s *stream) setAddr(i int, sa unix.Sockaddr) {
	a := &s.addrs[i]
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		// net.IPv4's 16-byte form.
		a.ip[10], a.ip[11] = 0xff, 0xff
		copy(a.ip[12:], sa.Addr[:])
		a.a = net.TCPAddr{IP: a.ip[:], Port: sa.Port}
		s.akind[i] = addrInet
		return
	case *unix.SockaddrInet6:
		a.ip = sa.Addr
		a.a = net.TCPAddr{IP: a.ip[:], Port: sa.Port, Zone: zoneName(sa.ZoneId)}
		s.akind[i] = addrInet
		return
	}
	if ua, ok := sockaddrToAddr(s.network, sa).(*net.UnixAddr); ok {
		if s.ux == nil {
			s.ux = new([2]net.UnixAddr)
		}
		s.ux[i] = *ua
		s.akind[i] = addrUnix
	}
}

// addr returns the local (0) or remote (1) address, or nil.
func (s *stream) addr(i int) net.Addr {
	switch s.akind[i] {
	case addrInet:
		return &s.addrs[i].a
	case addrUnix:
		return &s.ux[i]
	}
	return nil
}

// destroy unregisters and closes the fd of a stream that never reached a
// caller.
func (s *stream) destroy() {
	s.closed.Store(true)
	fdClear(s.fd, s)
	unix.Close(s.fd)
	s.loop.release()
}

func (s *stream) opErr(op string, err error) error {
	addr := ""
	if a := s.addr(1); a != nil {
		addr = a.String()
	}
	return opError(op, s.network, addr, err)
}

// Read reads into b. When the poller says nothing arrived since the socket
// was last drained, it parks at once; otherwise it tries read(2) first and
// parks only on EAGAIN.
func (s *stream) Read(b []byte) (int, error) {
	s.rmu.Lock()
	n, err := s.read(b)
	s.rmu.Unlock()
	return n, err
}

func (s *stream) read(b []byte) (int, error) {
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	for {
		if s.closed.Load() {
			return 0, s.opErr("read", net.ErrClosed)
		}
		if len(b) == 0 {
			return 0, nil // as net: an empty read looks at no deadline
		}
		if s.rd.expired() {
			return 0, s.opErr("read", transport.ErrTimeout)
		}
		if s.hasSpill {
			return s.readSpill(b), nil
		}
		if s.rd.state.Load() != pollIdle || s.tryRead || s.ev.Load()&evHup != 0 {
			n, errno := s.sysRead(b)
			switch {
			case errno == 0 && n > 0:
				return n, nil
			case errno == 0:
				s.rd.state.Store(pollReady) // EOF stays readable
				return 0, io.EOF
			case errno == unix.EINTR:
				s.rd.state.Store(pollReady)
				continue
			case errno != unix.EAGAIN:
				s.rd.state.Store(pollReady)
				return 0, s.opErr("read", os.NewSyscallError("read", errno))
			}
		}
		s.rd.wait(s)
	}
}

// sysRead consumes the read readiness and reads into b. On a stream
// socket a read shorter than asked drained the socket, and with
// edge-triggered epoll any later arrival is reported anew. To tell a read
// that fills b from one that drains the socket exactly, one extra byte is
// read into spill: without it the readiness is left idle and the next Read
// parks without a read(2) that could only fail with EAGAIN.
func (s *stream) sysRead(b []byte) (int, unix.Errno) {
	s.rd.state.Store(pollIdle)
	n, errno := sysReadv(s.fd, b, &s.spill)
	if n > len(b) {
		n = len(b)
		s.hasSpill = true
		s.rd.state.Store(pollReady)
	}
	return n, errno
}

// readSpill returns the spilled byte and whatever more is waiting, without
// parking.
func (s *stream) readSpill(b []byte) int {
	b[0] = s.spill
	s.hasSpill = false
	if len(b) == 1 {
		return 1
	}
	n, errno := s.sysRead(b[1:])
	switch {
	case errno == unix.EAGAIN:
		return 1
	case errno != 0 || n == 0:
		s.rd.state.Store(pollReady) // the next Read reports the error or EOF
		return 1
	}
	return 1 + n
}

// Write writes all of b, parking on EAGAIN until the socket is writable.
func (s *stream) Write(b []byte) (int, error) {
	s.wmu.Lock()
	n, err := s.write(b)
	s.wmu.Unlock()
	return n, err
}

func (s *stream) write(b []byte) (int, error) {
	nn := 0
	for {
		if s.closed.Load() {
			return nn, s.opErr("write", net.ErrClosed)
		}
		if s.wd.expired() {
			return nn, s.opErr("write", transport.ErrTimeout)
		}
		if nn == len(b) {
			return nn, nil
		}
		chunk := b[nn:]
		if len(chunk) > maxRW {
			chunk = chunk[:maxRW]
		}
		n, errno := sysWrite(s.fd, chunk)
		nn += n
		switch errno {
		case 0:
			if n == 0 {
				return nn, s.opErr("write", io.ErrUnexpectedEOF)
			}
		case unix.EAGAIN:
			if !s.outArmed {
				// Reports the socket writable at once if space freed
				// since the EAGAIN.
				if err := s.loop.control(unix.EPOLL_CTL_MOD, s, true); err != nil {
					return nn, s.opErr("write", err)
				}
				s.outArmed = true
			}
			s.wd.wait(s)
		case unix.EINTR:
		default:
			return nn, s.opErr("write", os.NewSyscallError("write", errno))
		}
	}
}

// Close closes the socket. Callers blocked in Read or Write return an
// error matching net.ErrClosed. A second Close returns such an error too.
func (s *stream) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return s.opErr("close", net.ErrClosed)
	}
	s.rd.poke(s.loop)
	s.wd.poke(s.loop)
	s.rd.stopTimer()
	s.wd.stopTimer()
	s.rmu.Lock()
	s.wmu.Lock()
	for s.ev.Load() >= evShutter {
		runtime.Gosched() // a shutdown(2) in progress: it does not block
	}
	fdClear(s.fd, s)
	if s.lent.Load() {
		// Best effort: the registration goes with the socket anyway when
		// no duplicate is left.
		unix.EpollCtl(s.loop.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	}
	err := unix.Close(s.fd)
	s.wmu.Unlock()
	s.rmu.Unlock()
	s.loop.release()
	if err != nil {
		return s.opErr("close", os.NewSyscallError("close", err))
	}
	return nil
}

// CloseWrite shuts down the writing side (shutdown(2) with SHUT_WR). As
// net.TCPConn's, it returns at once while a Write waits for room, and that
// Write then fails (EPIPE).
func (s *stream) CloseWrite() error {
	s.ev.Add(evShutter)
	defer s.ev.Add(^(evShutter - 1)) // minus evShutter
	if s.closed.Load() {
		return s.opErr("close", net.ErrClosed)
	}
	if err := unix.Shutdown(s.fd, unix.SHUT_WR); err != nil {
		return s.opErr("close", os.NewSyscallError("shutdown", err))
	}
	s.wd.poke(s.loop) // a parked Write tries again, and fails
	return nil
}

// IsReadable reports whether the poller saw data, EOF or an error arrive
// since the last Read drained the socket. It reads two atomics and makes
// no system call. An event still queued in the kernel is not seen yet, and
// an event for bytes a Read has already taken can make it report true once
// for a quiet stream; a pool that drops such a connection loses nothing
// but the connection. After Close it reports true, as a Read would return
// at once.
func (s *stream) IsReadable() bool {
	if s.readable() {
		return true
	}
	if s.loop.harvest() {
		return s.readable()
	}
	return false
}

func (s *stream) readable() bool {
	return s.rd.state.Load() == pollReady || s.ev.Load()&evHup != 0 || s.closed.Load()
}

// Info answers InfoBackend, InfoLocalAddr, InfoRemoteAddr, InfoClosed and,
// while the stream is open, InfoFD.
func (s *stream) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return Name, true
	case transport.InfoLocalAddr:
		a := s.addr(0)
		return a, a != nil
	case transport.InfoRemoteAddr:
		a := s.addr(1)
		return a, a != nil
	case transport.InfoClosed:
		return s.closed.Load(), true
	case transport.InfoFD:
		if s.closed.Load() {
			return nil, false
		}
		s.lent.Store(true)
		return s.fd, true
	}
	return nil, false
}

// LocalAddr returns the local address.
func (s *stream) LocalAddr() net.Addr { return s.addr(0) }

// RemoteAddr returns the peer's address.
func (s *stream) RemoteAddr() net.Addr { return s.addr(1) }

// SetDeadline sets both the read and the write deadline.
func (s *stream) SetDeadline(t time.Time) error {
	if !s.rd.setDeadline(s, t) || !s.wd.setDeadline(s, t) {
		return s.opErr("set deadline", net.ErrClosed)
	}
	return nil
}

// SetReadDeadline sets the time after which Read fails with a timeout.
// The wake-up at the deadline is a runtime timer, kept for the stream's
// life and armed only while a deadline is set; see the package doc.
func (s *stream) SetReadDeadline(t time.Time) error {
	if !s.rd.setDeadline(s, t) {
		return s.opErr("set deadline", net.ErrClosed)
	}
	return nil
}

// SetWriteDeadline sets the time after which Write fails with a timeout.
func (s *stream) SetWriteDeadline(t time.Time) error {
	if !s.wd.setDeadline(s, t) {
		return s.opErr("set deadline", net.ErrClosed)
	}
	return nil
}
