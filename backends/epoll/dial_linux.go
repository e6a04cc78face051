package epoll

import (
	"context"
	"errors"
	"net"
	"net/http/httptrace"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/transport"
)

// fallbackDelay is how long the first address family gets before the
// other one joins the race (RFC 8305 recommends 250 ms; net uses 300 ms).
const fallbackDelay = 300 * time.Millisecond

// minAttempt is the least time one address of several gets, if the
// deadline allows it.
const minAttempt = 2 * time.Second

// dialUnix connects to the unix socket at path.
func (b *Backend) dialUnix(ctx context.Context, path string) (*stream, error) {
	if path == "" {
		return nil, errors.New("missing socket path")
	}
	return b.connect(ctx, "unix", "unix", path, unix.AF_UNIX, &unix.SockaddrUnix{Name: path})
}

// dialTCP resolves address and connects to one of its addresses.
func (b *Backend) dialTCP(ctx context.Context, network, address string) (*stream, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := b.lookupPort(ctx, network, portStr)
	if err != nil {
		return nil, err
	}
	ips, err := b.lookupHost(ctx, network, host)
	if err != nil {
		return nil, err
	}
	primaries, fallbacks := partition(ips)
	if len(fallbacks) == 0 {
		return b.dialSerial(ctx, network, primaries, port)
	}
	return b.dialParallel(ctx, network, primaries, fallbacks, port)
}

func (b *Backend) lookupPort(ctx context.Context, network, s string) (int, error) {
	if p, err := strconv.ParseUint(s, 10, 16); err == nil {
		return int(p), nil
	}
	return b.opts.LookupResolver().LookupPort(ctx, network, s)
}

// lookupHost returns the addresses of host usable on network, IP literals
// without asking the resolver. An empty host means this machine.
func (b *Backend) lookupHost(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == "" {
		if network == "tcp6" {
			return []netip.Addr{netip.IPv6Loopback()}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		want := "ip"
		switch network {
		case "tcp4":
			want = "ip4"
		case "tcp6":
			want = "ip6"
		}
		ips, err = b.opts.LookupResolver().LookupNetIP(ctx, want, host)
		if err != nil {
			return nil, err
		}
	}
	out := ips[:0:0]
	for _, ip := range ips {
		if ip.Is4In6() {
			ip = netip.AddrFrom4(ip.As4()).WithZone("")
		}
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) {
			continue
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, nil
}

// partition splits ips into those of the first address's family and the
// rest, keeping their order.
func partition(ips []netip.Addr) (primaries, fallbacks []netip.Addr) {
	first := ips[0].Is4()
	for _, ip := range ips {
		if ip.Is4() == first {
			primaries = append(primaries, ip)
		} else {
			fallbacks = append(fallbacks, ip)
		}
	}
	return primaries, fallbacks
}

// dialParallel races the primaries against the fallbacks, giving the
// primaries a head start of fallbackDelay, and returns the first stream
// connected. It waits for the loser to give up and closes its stream, so no
// goroutine outlives the call.
func (b *Backend) dialParallel(ctx context.Context, network string, primaries, fallbacks []netip.Addr, port int) (*stream, error) {
	type result struct {
		s       *stream
		err     error
		primary bool
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, 2)
	start := func(primary bool, ips []netip.Addr) {
		go func() {
			s, err := b.dialSerial(ctx, network, ips, port)
			results <- result{s, err, primary}
		}()
	}
	start(true, primaries)
	pending := 1
	timer := time.NewTimer(fallbackDelay)
	defer timer.Stop()
	fallbackStarted := false
	var firstErr error
	for {
		select {
		case <-timer.C:
			if !fallbackStarted {
				fallbackStarted = true
				start(false, fallbacks)
				pending++
			}
		case r := <-results:
			pending--
			if r.err == nil {
				cancel()
				for ; pending > 0; pending-- {
					if rr := <-results; rr.s != nil {
						rr.s.Close()
					}
				}
				return r.s, nil
			}
			if firstErr == nil || r.primary {
				firstErr = r.err
			}
			if !fallbackStarted {
				fallbackStarted = true
				start(false, fallbacks)
				pending++
			}
			if pending == 0 {
				return nil, firstErr
			}
		}
	}
}

// dialSerial tries ips in turn and returns the first stream connected, or
// the first error.
func (b *Backend) dialSerial(ctx context.Context, network string, ips []netip.Addr, port int) (*stream, error) {
	var firstErr error
	for i, ip := range ips {
		if err := ctx.Err(); err != nil {
			if firstErr == nil {
				firstErr = transport.ContextError(err)
			}
			return nil, firstErr
		}
		actx := ctx
		cancel := context.CancelFunc(func() {})
		if left := len(ips) - i; left > 1 {
			if dl, ok := ctx.Deadline(); ok {
				share := time.Until(dl) / time.Duration(left)
				if share < minAttempt {
					share = min(minAttempt, time.Until(dl))
				}
				actx, cancel = context.WithTimeout(ctx, share)
			}
		}
		s, err := b.connectIP(actx, network, ip, port)
		cancel()
		if err == nil {
			return s, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// connectIP connects to ip:port.
func (b *Backend) connectIP(ctx context.Context, network string, ip netip.Addr, port int) (*stream, error) {
	dialed := network // as the caller named it, for the trace
	if ip.Is4() {
		if network == "tcp" {
			network = "tcp4"
		}
		return b.connect(ctx, dialed, network, "", unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: ip.As4()})
	}
	if network == "tcp" {
		network = "tcp6"
	}
	sa := &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return b.connect(ctx, dialed, network, "", unix.AF_INET6, sa)
}

// connect is connectSocket reported to the httptrace.ClientTrace in ctx,
// if any, as ConnectStart and ConnectDone (see transport.TraceConnect)
// with the network the caller dialed ("tcp" stays "tcp", as net.Dialer
// reports it).
func (b *Backend) connect(ctx context.Context, dialed, network, address string, family int, sa unix.Sockaddr) (*stream, error) {
	if httptrace.ContextClientTrace(ctx) == nil {
		return b.connectSocket(ctx, network, address, family, sa)
	}
	if address == "" {
		address = sockaddrToAddr(network, sa).String()
	}
	done := transport.TraceConnect(ctx, dialed, address)
	s, err := b.connectSocket(ctx, network, address, family, sa)
	done(err)
	return s, err
}

// connectSocket creates a socket of family, sets the options, connects it
// to sa without blocking and waits for the connect to finish under ctx. It
// closes the socket on every failure. address is the text form of sa, made
// on demand when empty.
func (b *Backend) connectSocket(ctx context.Context, network, address string, family int, sa unix.Sockaddr) (*stream, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := b.setup(fd, network, address, family, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	l, ok := b.pickLoop()
	if !ok {
		unix.Close(fd)
		return nil, transport.ErrClosed
	}
	// Connect before registering: a socket that has not started to connect
	// reports EPOLLHUP, which would mark the stream hung up.
	cerr := unix.Connect(fd, sa)
	switch cerr {
	case nil, unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		unix.Close(fd)
		l.release()
		return nil, os.NewSyscallError("connect", cerr)
	}
	pending := cerr != nil
	if pending {
		// On loopback the handshake has often finished by the time connect
		// returns: then register for input only, which neither waits nor
		// wakes the poller for the completed connect.
		if _, err := unix.Getpeername(fd); err == nil {
			pending = false
		}
	}
	s, err := newStream(l, fd, network, &b.cfg, pending)
	if err != nil {
		unix.Close(fd)
		l.release()
		return nil, err
	}
	if pending {
		if err := s.awaitConnect(ctx); err != nil {
			s.destroy()
			return nil, err
		}
		// Connected: stop asking for output readiness.
		if err := l.control(unix.EPOLL_CTL_MOD, s, false); err != nil {
			s.destroy()
			return nil, err
		}
		s.outArmed = false
	}
	// The write readiness of the connect is used up; a Write finds the
	// socket writable by trying it.
	s.wd.state.Store(pollIdle)
	if pending {
		// The connect's wait channel is not kept: a stream that never
		// waits to write (most do not) holds none.
		s.wd.ch = nil
	}
	lsa, _ := unix.Getsockname(fd)
	if vague(sa) {
		if psa, err := unix.Getpeername(fd); err == nil {
			sa = psa // the kernel's name for the peer, as net reports it
		}
	}
	s.setAddrs(lsa, sa)
	return s, nil
}

// vague reports a dialed address that is not the peer's own name: the
// unspecified address (which reaches this host) or one with an IPv6 zone.
// net reports the kernel's name for those (127.0.0.1, ::1, no zone).
func vague(sa unix.Sockaddr) bool {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Addr == [4]byte{}
	case *unix.SockaddrInet6:
		return a.Addr == [16]byte{} || a.ZoneId != 0
	}
	return false
}

// setup applies the Options to a fresh socket: TCP_NODELAY, keep-alive,
// the local address and the Control hook.
func (b *Backend) setup(fd int, network, address string, family int, sa unix.Sockaddr) error {
	o := &b.opts
	if family != unix.AF_UNIX {
		if o.NoDelay() {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
		}
		if ka := o.KeepAlivePeriod(); ka > 0 {
			secs := int((ka + time.Second - 1) / time.Second)
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
		}
	}
	if o.LocalAddr != nil {
		lsa, err := localSockaddr(o.LocalAddr, family)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, lsa); err != nil {
			return os.NewSyscallError("bind", err)
		}
	}
	if o.Control != nil {
		if address == "" {
			address = sockaddrToAddr(network, sa).String()
		}
		if err := o.Control(network, address, rawConn(fd)); err != nil {
			return err
		}
	}
	return nil
}

// localSockaddr converts Options.LocalAddr for a socket of family.
func localSockaddr(a net.Addr, family int) (unix.Sockaddr, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		switch {
		case family == unix.AF_INET && (len(a.IP) == 0 || ip.Unmap().Is4()):
			sa := &unix.SockaddrInet4{Port: a.Port}
			if len(a.IP) != 0 {
				sa.Addr = ip.Unmap().As4()
			}
			return sa, nil
		case family == unix.AF_INET6 && (len(a.IP) == 0 || !ip.Unmap().Is4()):
			sa := &unix.SockaddrInet6{Port: a.Port}
			if len(a.IP) != 0 {
				sa.Addr = ip.As16()
			}
			return sa, nil
		}
	case *net.UnixAddr:
		if family == unix.AF_UNIX {
			return &unix.SockaddrUnix{Name: a.Name}, nil
		}
	}
	return nil, &net.AddrError{Err: "local address does not fit the network", Addr: a.String()}
}

// awaitConnect waits for a non-blocking connect to finish and returns its
// outcome.
func (s *stream) awaitConnect(ctx context.Context) error {
	for {
		s.wd.waitContext(ctx, s)
		if err := ctx.Err(); err != nil {
			return transport.ContextError(err)
		}
		soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return os.NewSyscallError("getsockopt", err)
		}
		switch e := unix.Errno(soerr); e {
		case 0:
			if _, err := unix.Getpeername(s.fd); err == nil {
				return nil
			}
			// Spurious wake-up: not connected yet.
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		default:
			return os.NewSyscallError("connect", e)
		}
		s.wd.state.CompareAndSwap(pollReady, pollIdle)
		if err := ctx.Err(); err != nil {
			return transport.ContextError(err)
		}
	}
}

// rawConn hands a socket to Options.Control.
type rawConn int

var _ syscall.RawConn = rawConn(0)

// Control calls f with the fd.
func (c rawConn) Control(f func(fd uintptr)) error {
	f(uintptr(c))
	return nil
}

// Read is not supported while dialing.
func (c rawConn) Read(func(fd uintptr) bool) error { return transport.ErrUnsupported }

// Write is not supported while dialing.
func (c rawConn) Write(func(fd uintptr) bool) error { return transport.ErrUnsupported }
