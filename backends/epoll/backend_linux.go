package epoll

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/transport"
)

// Available reports nil: the epoll engine runs on every Linux.
func Available() error { return nil }

// Backend is the epoll engine: a fixed set of event loops that every stream
// it dials (or adopts) is spread over. It is safe for concurrent use.
type Backend struct {
	opts  transport.Options
	cfg   Config
	loops []*loop
	next  atomic.Uint32

	closeOnce sync.Once
	closed    atomic.Bool
}

// Open starts a backend with opts: it parses opts.Config (see Config) and
// starts the event loops.
func Open(opts transport.Options) (*Backend, error) {
	cfg, err := ParseConfig(opts.Config)
	if err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, cfg: cfg}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(&b.cfg)
		if err != nil {
			b.Close()
			return nil, opError("open", "", "", os.NewSyscallError("epoll", err))
		}
		b.loops = append(b.loops, l)
	}
	b.opts.Log().Debug("epoll backend opened", "loops", cfg.Loops, "events", cfg.Events)
	return b, nil
}

// Name returns "epoll".
func (b *Backend) Name() string { return Name }

// Config returns the configuration in force, defaults filled in.
func (b *Backend) Config() Config { return b.cfg }

// Close stops the backend: later Dials and Adopts fail with an error
// matching transport.ErrClosed. Streams already returned keep working; a
// loop exits when its last stream is closed. Close waits for the loops that
// serve no stream to exit. It is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		for _, l := range b.loops {
			if l.shutdown() {
				<-l.done
			}
		}
	})
	return nil
}

// pickLoop chooses the loop for a new stream and counts the stream on it.
func (b *Backend) pickLoop() (*loop, bool) {
	if b.closed.Load() {
		return nil, false
	}
	l := b.loops[int(b.next.Add(1))%len(b.loops)]
	return l, l.acquire()
}

// newStream adopts fd, a connected stream socket (TCP or unix, SOCK_STREAM)
// such as one received from another process, and returns it as a Stream
// served by this backend. network ("tcp", "tcp4", "tcp6" or "unix") is
// what the stream reports; if empty, it is derived from the socket's
// address family. The fd is made non-blocking and close-on-exec.
//
// Ownership: on success the stream owns fd and closes it on Close; the
// caller must not use or close it any more. On failure fd is untouched
// (apart from the two flags) and stays the caller's to close.
func (b *Backend) newStream(fd int, network string) (transport.Stream, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, opError("adopt", network, "", os.NewSyscallError("getsockopt", err))
	}
	if typ != unix.SOCK_STREAM {
		return nil, opError("adopt", network, "", fmt.Errorf("%w: socket type %d is not SOCK_STREAM", transport.ErrUnsupported, typ))
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, opError("adopt", network, "", os.NewSyscallError("getsockname", err))
	}
	rsa, err := unix.Getpeername(fd)
	if err != nil {
		return nil, opError("adopt", network, "", os.NewSyscallError("getpeername", err))
	}
	family := netFamily(lsa)
	if network == "" {
		network = family
	}
	if !sameFamily(network, family) {
		return nil, opError("adopt", network, "", fmt.Errorf("%w: socket is %s, not %s", transport.ErrUnsupported, family, network))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, opError("adopt", network, "", os.NewSyscallError("fcntl", err))
	}
	unix.CloseOnExec(fd)
	l, ok := b.pickLoop()
	if !ok {
		return nil, opError("adopt", network, "", transport.ErrClosed)
	}
	s, err := newStream(l, fd, network, &b.cfg, false)
	if err != nil {
		l.release()
		return nil, opError("adopt", network, "", err)
	}
	s.laddr = sockaddrToAddr(network, lsa)
	s.raddr = sockaddrToAddr(network, rsa)
	return s, nil
}

// Adopt takes over f, a connected stream socket, as transport.Adopter
// asks: it duplicates the descriptor (close-on-exec), closes f, and serves
// the duplicate as a Stream, whose network comes from the socket's address
// family. On failure f is closed too.
func (b *Backend) Adopt(f *os.File) (transport.Stream, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, opError("adopt", "", "", err)
	}
	nfd := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, opError("adopt", "", "", err)
	}
	if dupErr != nil {
		return nil, opError("adopt", "", "", os.NewSyscallError("fcntl", dupErr))
	}
	s, err := b.newStream(nfd, "")
	if err != nil {
		unix.Close(nfd)
		return nil, err
	}
	return s, nil
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6" or "unix").
// Host names are resolved with the Options' resolver under ctx; when they
// give both IPv4 and IPv6 addresses the two families race as in RFC 8305
// (happy eyeballs), otherwise the addresses are tried in turn, each with a
// share of the time left. The connect itself is non-blocking and honours
// ctx's deadline and cancellation.
func (b *Backend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, opError("dial", network, address, fmt.Errorf("%w: network %q", transport.ErrUnsupported, network))
	}
	if b.closed.Load() {
		return nil, opError("dial", network, address, transport.ErrClosed)
	}
	if b.opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = b.opts.ConnectContext(ctx)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return nil, opError("dial", network, address, transport.ContextError(err))
	}
	var s *stream
	var err error
	if network == "unix" {
		s, err = b.dialUnix(ctx, address)
	} else {
		s, err = b.dialTCP(ctx, network, address)
	}
	if err != nil {
		return nil, opError("dial", network, address, err)
	}
	return s, nil
}

func netFamily(sa unix.Sockaddr) string {
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return "tcp4"
	case *unix.SockaddrInet6:
		return "tcp6"
	case *unix.SockaddrUnix:
		return "unix"
	}
	return "unknown"
}

func sameFamily(network, family string) bool {
	switch network {
	case "tcp":
		return family == "tcp4" || family == "tcp6"
	case "tcp4", "tcp6", "unix":
		return network == family
	}
	return false
}

func sockaddrToAddr(network string, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	if network == "unix" {
		return &net.UnixAddr{Net: "unix"}
	}
	return nil
}
