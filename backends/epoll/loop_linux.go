package epoll

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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

// loop is one event loop: an epoll instance, the goroutine that serves it,
// and the leader/follower state of the goroutines waiting on it.
//
// The leader is the first goroutine that has to wait while nobody polls:
// it polls the loop itself, handing readiness to the followers (parked on
// their channels), until its own wait is over (see leadWait). Alone, it
// blocks in epoll_wait on epfd; with followers it sleeps in the runtime's
// poller, which watches epfd through outer, and harvests epfd with a
// non-blocking epoll_wait whenever the runtime says it is readable. When
// the leader steps down with followers still parked, the loop goroutine
// takes over and leads while anyone waits.
//
// With Config.BlockingWait the loop goroutine alone polls, blocked in
// epoll_wait on its own thread.
type loop struct {
	epfd   int
	efd    int // eventfd: interrupts the leader (and, blocking, the loop)
	cfg    *Config
	done   chan struct{}
	events []unix.EpollEvent
	file   *os.File        // outer, registered with the runtime poller
	rc     syscall.RawConn // file's

	// outer is an epoll fd that holds epfd while the runtime poller must
	// watch it (attached), for a leader that sleeps there; a leader
	// asleep in epoll_wait on epfd itself detaches it, so that the events
	// it waits for do not wake a thread of the runtime as well. Only the
	// leader attaches and detaches.
	outer    int
	attached bool

	leader  atomic.Int32  // 1 while a goroutine polls
	waiters atomic.Int32  // followers parked on their channels
	wakeL   chan struct{} // capacity 1: wakes the loop goroutine

	loneWait int // loneWaitMsec when the loop was made

	// waitAvg is a moving average of the lone leader's waits, in ns;
	// only the leader touches it.
	waitAvg    int64
	spinWindow int64 // spinWindowNsec when the loop was made
	// spinHits and spinMisses count the spins that caught the leader's
	// event and those that ran out; only the leader touches them.
	spinHits, spinMisses int

	// crowded counts the leads left before a leader may sleep in
	// epoll_wait by itself again (see leadWait): each follower, and each
	// harvest with other streams' events, sets it to calmLeads, each lead
	// without followers takes one off.
	crowded atomic.Int32

	// Lifetime. The loop goroutine alone closes epfd and efd, once it
	// sees the loop dead, so its own uses of them need nothing more. Every
	// other use holds a reference: each stream holds one from acquire to
	// release, and IsReadable's harvest takes one for the while with ref.
	// Once the loop is closing and the last reference is gone, the loop
	// is dead: nothing can take a reference again. The last release writes
	// the eventfd to wake the loop goroutine and marks the loop dead in
	// one critical section, so the loop goroutine, which reads dead under
	// mu, closes the eventfd only after that write.
	mu      sync.Mutex
	refs    int  // references held, guarded by mu
	closing bool // no new streams; the loop dies once refs is zero
	dead    bool // closing with no reference left; guarded by mu
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
		wakeL:  make(chan struct{}, 1),

		loneWait:   loneWaitMsec,
		spinWindow: spinWindowNsec,
	}
	l.crowded.Store(calmLeads)
	if !cfg.BlockingWait {
		outer, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err == nil {
			err = unix.SetNonblock(outer, true)
			if err != nil {
				unix.Close(outer)
			}
		}
		if err != nil {
			unix.Close(efd)
			unix.Close(epfd)
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		l.outer = outer
		l.file = os.NewFile(uintptr(outer), "epoll")
		if l.rc, err = l.file.SyscallConn(); err != nil {
			unix.Close(efd)
			unix.Close(epfd)
			l.file.Close()
			return nil, err
		}
	}
	go l.run()
	return l, nil
}

// acquire takes a reference for a new stream; it fails once the loop is
// shutting down.
func (l *loop) acquire() bool {
	l.mu.Lock()
	ok := !l.closing
	if ok {
		l.refs++
	}
	l.mu.Unlock()
	return ok
}

// ref takes a reference for a use of the loop's fds outside any stream's
// own; it fails once the loop is dead, when the fds are closed or about
// to be. The caller releases it with release.
func (l *loop) ref() bool {
	l.mu.Lock()
	ok := !l.dead
	if ok {
		l.refs++
	}
	l.mu.Unlock()
	return ok
}

// release drops a reference (a stream's or ref's) and lets a
// shutting-down loop die after the last one.
func (l *loop) release() {
	l.mu.Lock()
	l.refs--
	if l.closing && l.refs == 0 {
		l.dieLocked()
	}
	l.mu.Unlock()
}

// shutdown stops the loop from taking streams and reports whether it
// holds none, in which case it exits promptly.
func (l *loop) shutdown() (idle bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closing {
		l.closing = true
		if l.refs == 0 {
			l.dieLocked()
		}
	}
	return l.dead
}

// dieLocked marks the loop dead and wakes the loop goroutine to close the
// fds and exit. The eventfd is written before dead is set, under mu, so
// that the loop goroutine, which reads dead under mu, never closes it
// before.
func (l *loop) dieLocked() {
	l.interrupt()
	if !l.cfg.BlockingWait {
		l.wakeLoop()
	}
	l.dead = true
}

// exitable reports whether the loop is dead: nothing will use its fds
// again.
func (l *loop) exitable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dead
}

// interrupt makes the epoll fd report an event, waking whoever polls. The
// caller holds a reference or mu.
func (l *loop) interrupt() {
	one := uint64(1)
	unix.Write(l.efd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// wakeLoop wakes the loop goroutine, to lead or to exit.
func (l *loop) wakeLoop() {
	select {
	case l.wakeL <- struct{}{}:
	default:
	}
}

// follow counts a caller about to park as a follower (its waker uncounts
// it), and makes sure that somebody leads. With stepDown it is a Dekker
// pair: either the follower sees no leader and wakes the loop goroutine,
// or the leader stepping down sees the follower and does. A leader asleep
// in epoll_wait by itself (leadWait) needs no signal: the follower's event
// wakes it like its own.
func (l *loop) follow() {
	l.waiters.Add(1)
	if l.crowded.Load() != calmLeads {
		l.crowded.Store(calmLeads)
	}
	if !l.cfg.BlockingWait && l.leader.Load() == 0 {
		l.wakeLoop()
	}
}

// calmLeads is how many leads in a row must find no follower before a
// leader sleeps in epoll_wait by itself again.
const calmLeads = 8

// loneWaitMsec bounds a lone leader's blocking epoll_wait (see leadWait);
// a loop takes it when made (tests lengthen it).
var loneWaitMsec = 1

// leadWait leads the loop until own (the leader's own wait) is over.
//
// A leader with no follower on a loop that had none for calmLeads leads
// (a lone stream, or one of few that rarely wait at once) sleeps in a
// blocking epoll_wait on the loop's epoll fd by itself, the system call
// holding its thread and P: the call returns the leader's event directly,
// and its return is the whole wake-up, with no goroutine readied and no
// other thread woken. The epoll fd is out of the runtime poller's sight
// meanwhile (attach), or each event would wake a runtime thread as well.
// A follower's event wakes the lone leader like its own. An event of any
// other stream ends the lone lead, which goes on through the runtime
// poller (lead), and makes the loop not calm (see dispatch): the
// goroutines of other streams may be runnable on the leader's P, some
// woken right then, and a blocked call would leave them there until the
// runtime takes the P back (a sysmon period, 20 µs to 10 ms). A new loop
// starts as not calm, for the goroutines that start with it. Goroutines
// unrelated to the loop can still be made runnable on the P just before
// it blocks, so a lone wait lasts at most loneWaitMsec before the leader
// goes on through the runtime poller: that bounds their wait, and a wait
// that long amortizes the few system calls of the switch.
//
// Before it sleeps, a lone leader whose recent waits were short (a moving
// average of at most the spin window, 50 µs) spins: it polls the epoll fd
// without blocking, yielding its P between polls, for at most the window.
// On a machine with few CPUs the wake-up of a thread asleep in epoll_wait
// is the largest cost of a lockstep exchange (the peer's CPU interrupts
// the idle one); a spin that catches the event saves it. Waits longer
// than the window raise the average past it and stop the spinning, so a
// slow peer costs no CPU; short waits bring it back.
func (l *loop) leadWait(own *pollDir) {
	if c := l.crowded.Load(); c > 0 {
		l.crowded.Store(c - 1)
	} else if l.waiters.Load() == 0 {
		l.attach(false)
		start := monoNow()
		if window := l.spinMax(); window > 0 && l.waitAvg <= window {
			switch l.spin(own, start, window) {
			case spinDone:
				l.spinHits++
				l.noteWait(monoNow() - start)
				return
			case spinCrowded:
				l.lead(own)
				return
			}
			l.spinMisses++
		}
		for {
			timedOut, others := l.pollOnce(own, l.loneWait)
			if own.state.Load() != pollWaiting {
				l.noteWait(monoNow() - start)
				return
			}
			if others {
				break
			}
			if timedOut {
				l.lead(own)
				l.noteWait(monoNow() - start)
				return
			}
		}
	}
	l.lead(own)
}

// Outcomes of spin.
const (
	spinTimedOut = iota // the window passed with the leader's wait not over
	spinDone            // the leader's wait is over
	spinCrowded         // another stream's event came: lead through the runtime poller
)

// spinMax is the window of a lone leader's spin, in nanoseconds, or 0
// when it must not spin.
func (l *loop) spinMax() int64 {
	if l.cfg.NoSpin {
		return 0
	}
	return l.spinWindow
}

// noteWait folds the length of a lone wait into the loop's average. A
// wait counts as at most twice the spin window, so that after a slow
// peer's waits a few short ones bring the spin back.
func (l *loop) noteWait(d int64) {
	d = min(d, 2*l.spinWindow)
	l.waitAvg += (d - l.waitAvg) / 4
}

// spinWindowNsec bounds a lone leader's spin (see leadWait); a loop takes
// it when made (tests change it).
var spinWindowNsec = int64(50 * time.Microsecond)

// spin polls the loop's epoll fd without blocking, yielding the P between
// polls, until the leader's own wait is over or window nanoseconds
// have passed since start.
func (l *loop) spin(own *pollDir, start, window int64) int {
	for {
		_, others := l.pollOnce(own, 0)
		if own.state.Load() != pollWaiting {
			return spinDone
		}
		if others {
			return spinCrowded
		}
		if monoNow()-start >= window {
			return spinTimedOut
		}
		runtime.Gosched()
	}
}

// pollOnce waits up to msec milliseconds (0: not at all) in epoll_wait on
// the loop's epoll fd and hands out the events, for a leader whose own
// wait is own. It reports whether the wait timed out with no event (not
// when a signal interrupted it) and whether an event was another
// stream's.
func (l *loop) pollOnce(own *pollDir, msec int) (timedOut, others bool) {
	n, errno := epollWait(l.epfd, l.events, msec)
	if errno != 0 && errno != unix.EINTR {
		panic(fmt.Sprintf("epoll: epoll_wait: %v", errno))
	}
	if n > 0 {
		_, others = l.dispatch(n, own)
	}
	return n == 0 && errno == 0, others
}

// stepDown ends a caller's lead; the loop goroutine takes over if
// followers are left.
func (l *loop) stepDown() {
	l.leader.Store(0)
	if l.waiters.Load() > 0 {
		l.wakeLoop()
	}
}

// lead polls the loop and dispatches its events until own (the leader's
// own wait) is over or, for the loop goroutine (own nil), until nobody
// waits. It drains the epoll fd before it returns.
func (l *loop) lead(own *pollDir) {
	l.attach(true)
	err := l.rc.Read(func(uintptr) bool {
		for {
			n, errno := epollWait(l.epfd, l.events, 0)
			if errno != 0 && errno != unix.EINTR {
				panic(fmt.Sprintf("epoll: epoll_wait: %v", errno))
			}
			if n > 0 {
				l.dispatch(n, own)
			}
			if n == len(l.events) {
				continue
			}
			if own != nil {
				return own.state.Load() != pollWaiting
			}
			return l.waiters.Load() == 0
		}
	})
	if err != nil {
		panic(fmt.Sprintf("epoll: waiting on the epoll fd: %v", err))
	}
}

// attach adds epfd to outer, which the runtime poller watches, or removes
// it; the caller leads. Adding reports the events already queued.
func (l *loop) attach(on bool) {
	if l.attached == on {
		return
	}
	var err error
	if on {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET}
		err = unix.EpollCtl(l.outer, unix.EPOLL_CTL_ADD, l.epfd, &ev)
	} else {
		err = unix.EpollCtl(l.outer, unix.EPOLL_CTL_DEL, l.epfd, nil)
	}
	if err != nil {
		// Only ENOMEM or the user's epoll limit are possible here.
		panic(fmt.Sprintf("epoll: epoll_ctl on the loop's own epoll fd: %v", err))
	}
	l.attached = on
}

// harvest collects the events pending on the loop when no goroutine leads
// it, so that readiness of streams nobody waits on is seen. It reports
// whether it harvested. It holds a reference meanwhile: its caller's
// stream may be closing, and with it the loop.
func (l *loop) harvest() bool {
	if l.cfg.BlockingWait || !l.leader.CompareAndSwap(0, 1) {
		return false
	}
	if !l.ref() {
		l.leader.Store(0)
		return false
	}
	defer l.release()
	for {
		n, errno := epollWait(l.epfd, l.events, 0)
		if errno != 0 && errno != unix.EINTR {
			panic(fmt.Sprintf("epoll: epoll_wait: %v", errno))
		}
		if n > 0 {
			l.dispatch(n, nil)
		}
		if n < len(l.events) {
			break
		}
	}
	l.stepDown()
	return true
}

// run is the loop goroutine. It sleeps until woken, leads while followers
// wait, and exits once the loop is shut down with no stream left.
func (l *loop) run() {
	defer close(l.done)
	if l.cfg.BlockingWait {
		l.runBlocking()
		return
	}
	for range l.wakeL {
		for {
			if l.exitable() {
				unix.Close(l.efd)
				unix.Close(l.epfd)
				l.file.Close()
				return
			}
			if l.waiters.Load() == 0 || !l.leader.CompareAndSwap(0, 1) {
				break
			}
			l.lead(nil)
			l.leader.Store(0)
		}
	}
}

// runBlocking is the loop for Config.BlockingWait: it blocks in
// epoll_wait on its own thread.
func (l *loop) runBlocking() {
	if l.cfg.LockOSThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	timeout := -1
	for {
		n, err := epollWait(l.epfd, l.events, timeout)
		if err != 0 && err != unix.EINTR {
			// Only EBADF/EFAULT/EINVAL are possible, none recoverable.
			panic(fmt.Sprintf("epoll: epoll_wait: %v", err))
		}
		if woken, _ := l.dispatch(max(n, 0), nil); woken && l.exitable() {
			unix.Close(l.efd)
			unix.Close(l.epfd)
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

// dispatch hands the first n events to their streams. It reports whether
// the eventfd was among them, and whether any was for a stream other than
// own's (the leader's wait, or nil): such an event shows that the loop
// serves other streams, whose goroutines may be runnable on the caller's
// P, some of them woken here; leads then go through the runtime poller
// for calmLeads more (see leadWait).
func (l *loop) dispatch(n int, own *pollDir) (woken, others bool) {
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
		if own != &s.rd && own != &s.wd {
			others = true
		}
		e := ev.Events
		if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			s.ev.Or(evHup)
		}
		if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			s.rd.ready(l)
		}
		if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			s.wd.ready(l)
		}
	}
	if others && l.crowded.Load() != calmLeads {
		l.crowded.Store(calmLeads)
	}
	return woken, others
}

// Interest sets. Output readiness is asked for only while it is needed (a
// connect in progress, a Write that met EAGAIN): with it, every ACK that
// frees send-buffer space would wake the loop for nothing.
const (
	interestIn    = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
	interestInOut = interestIn | unix.EPOLLOUT
)

// register adds fd to the loop's epoll set, edge-triggered, for input and
// the peer's shutdown, and for output too if out is set.
func (l *loop) register(s *stream, out bool) error {
	if err := fdStore(s.fd, s); err != nil {
		return err
	}
	if err := l.control(unix.EPOLL_CTL_ADD, s, out); err != nil {
		fdClear(s.fd, s)
		return err
	}
	return nil
}

// control adds or modifies s's registration; out selects interestInOut.
// Modifying an edge-triggered registration reports the current readiness
// anew, so readiness that came before the call is not lost.
func (l *loop) control(op int, s *stream, out bool) error {
	ev := unix.EpollEvent{Events: interestIn, Fd: int32(s.fd), Pad: int32(s.gen)}
	if out {
		ev.Events = interestInOut
	}
	if err := unix.EpollCtl(l.epfd, op, s.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Readiness bits the loop folds into stream.ev.
const (
	evHup uint32 = 1 << iota // peer shut down, hang-up or error: reads never park

	// evShutter counts a CloseWrite in stream.ev, above the bits.
	evShutter uint32 = 1 << 8
)

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
