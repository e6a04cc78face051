package epoll

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The fd table maps a file descriptor to its stream for the loops. Epoll
// events carry the fd and the stream's generation (never a Go pointer, which
// the kernel would hold past the garbage collector's sight); the
// generation makes an event that was queued for a closed stream miss a new
// stream that reuses the fd number. Lookups take two atomic loads and no
// lock.
const (
	fdChunkBits = 10
	fdChunkSize = 1 << fdChunkBits
	fdChunks    = 1 << 12 // fds up to 4Mi
)

type fdChunk [fdChunkSize]atomic.Pointer[stream]

var (
	fdTable   [fdChunks]atomic.Pointer[fdChunk]
	fdTableMu sync.Mutex // serializes chunk allocation
	streamGen atomic.Uint32
)

// errFDTooLarge is returned when an fd does not fit the table.
var errFDTooLarge = errors.New("fd number too large for the epoll fd table")

func fdLookup(fd int32) *stream {
	if fd < 0 || int(fd) >= fdChunks*fdChunkSize {
		return nil
	}
	c := fdTable[fd>>fdChunkBits].Load()
	if c == nil {
		return nil
	}
	return c[fd&(fdChunkSize-1)].Load()
}

func fdStore(fd int, s *stream) error {
	if fd < 0 || fd >= fdChunks*fdChunkSize {
		return errFDTooLarge
	}
	c := fdTable[fd>>fdChunkBits].Load()
	if c == nil {
		fdTableMu.Lock()
		if c = fdTable[fd>>fdChunkBits].Load(); c == nil {
			c = new(fdChunk)
			fdTable[fd>>fdChunkBits].Store(c)
		}
		fdTableMu.Unlock()
	}
	c[fd&(fdChunkSize-1)].Store(s)
	return nil
}

func fdClear(fd int, s *stream) {
	if c := fdTable[fd>>fdChunkBits].Load(); c != nil {
		c[fd&(fdChunkSize-1)].CompareAndSwap(s, nil)
	}
}

// nextGen returns a new non-zero stream generation. Zero marks the loop's
// own eventfd.
func nextGen() uint32 {
	for {
		if g := streamGen.Add(1); g != 0 {
			return g
		}
	}
}

// loop is one event loop: an epoll instance and the goroutine that waits on
// it and wakes the streams' callers.
type loop struct {
	epfd   int
	efd    int // eventfd that wakes the loop for shutdown
	cfg    *Config
	done   chan struct{}
	events []unix.EpollEvent

	mu       sync.Mutex
	n        int  // streams registered, guarded by mu
	closing  bool // no new streams; exit once n is zero
	finished bool // the goroutine is gone and the fds are closed
}

func newLoop(cfg *Config) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l := &loop{
		epfd:   epfd,
		efd:    efd,
		cfg:    cfg,
		done:   make(chan struct{}),
		events: make([]unix.EpollEvent, cfg.Events),
	}
	go l.run()
	return l, nil
}

// acquire counts a new stream on the loop; it fails once the loop is
// shutting down.
func (l *loop) acquire() bool {
	l.mu.Lock()
	ok := !l.closing
	if ok {
		l.n++
	}
	l.mu.Unlock()
	return ok
}

// release uncounts a stream and lets a shutting-down loop exit after its
// last stream.
func (l *loop) release() {
	l.mu.Lock()
	l.n--
	if l.closing && l.n == 0 {
		l.wakeLocked()
	}
	l.mu.Unlock()
}

// shutdown stops the loop from taking streams and reports whether it
// has none, in which case it exits promptly.
func (l *loop) shutdown() (idle bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return l.n == 0
	}
	l.closing = true
	if l.n == 0 {
		l.wakeLocked()
	}
	return l.n == 0
}

func (l *loop) wakeLocked() {
	one := uint64(1)
	unix.Write(l.efd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// register adds fd to the loop's epoll set, edge-triggered for reads,
// writes and the peer's shutdown.
func (l *loop) register(s *stream) error {
	if err := fdStore(s.fd, s); err != nil {
		return err
	}
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(s.fd),
		Pad:    int32(s.gen),
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		fdClear(s.fd, s)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// Readiness bits the loop folds into stream.ev.
const (
	evHup uint32 = 1 << iota // peer shut down, hang-up or error: reads never park
)

// run waits for events and hands readiness to the streams until the loop
// is shut down and has no stream left.
func (l *loop) run() {
	if l.cfg.LockOSThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer close(l.done)
	timeout := -1
	for {
		n, err := epollWait(l.epfd, l.events, timeout)
		if err != 0 && err != unix.EINTR {
			// Only EBADF/EFAULT/EINVAL are possible, none recoverable.
			panic(fmt.Sprintf("epoll: epoll_wait: %v", err))
		}
		woken := false
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			if ev.Pad == 0 {
				woken = true
				continue
			}
			s := fdLookup(ev.Fd)
			if s == nil || s.gen != uint32(ev.Pad) {
				continue
			}
			e := ev.Events
			if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				s.ev.Or(evHup)
			}
			if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				s.rd.ready()
			}
			if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				s.wd.ready()
			}
		}
		if woken && l.exit() {
			return
		}
		if n > 0 && !l.cfg.NoYield {
			// Let the goroutines just woken run on this P now, then look
			// for more events without sleeping.
			runtime.Gosched()
			timeout = 0
		} else {
			timeout = -1
		}
	}
}

// exit drains the eventfd and, when the loop is shut down with no stream,
// closes its fds and reports true.
func (l *loop) exit() bool {
	var buf [8]byte
	unix.Read(l.efd, buf[:])
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closing || l.n != 0 {
		return false
	}
	l.finished = true
	unix.Close(l.efd)
	unix.Close(l.epfd)
	return true
}

// epollWait calls epoll_wait; a zero timeout takes the raw path, as it
// cannot block.
func epollWait(epfd int, events []unix.EpollEvent, msec int) (int, unix.Errno) {
	var r uintptr
	var e unix.Errno
	p := uintptr(unsafe.Pointer(&events[0]))
	if msec == 0 {
		r, _, e = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), p, uintptr(len(events)), 0, 0, 0)
	} else {
		r, _, e = unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), p, uintptr(len(events)), uintptr(msec), 0, 0)
	}
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}
