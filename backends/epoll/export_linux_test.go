package epoll

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// DialAddrs dials ips in the order and with the family racing Dial uses
// for a resolved name.
func (b *Backend) DialAddrs(ctx context.Context, ips []netip.Addr, port int) (transport.Stream, error) {
	primaries, fallbacks := partition(ips)
	if len(fallbacks) == 0 {
		return b.dialSerial(ctx, "tcp", primaries, port)
	}
	return b.dialParallel(ctx, "tcp", primaries, fallbacks, port)
}

// WriteParked reports whether a Write on s is parked waiting for the
// socket to become writable.
func WriteParked(s transport.Stream) bool {
	return s.(*stream).wd.state.Load() == pollWaiting
}

// ReadParked reports whether a Read on s waits for the socket to become
// readable, leading s's loop or parked as a follower: from then on a
// deadline change or Close wakes it.
func ReadParked(s transport.Stream) bool {
	return s.(*stream).rd.state.Load() == pollWaiting
}

// Registered reports whether fd is in the epoll set of the loop that s
// runs on, as /proc/self/fdinfo of the loop's epoll fd lists it.
func Registered(t testing.TB, s transport.Stream, fd int) bool {
	t.Helper()
	info, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(s.(*stream).loop.epfd))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) {
			return true
		}
	}
	return false
}

// LoneLeader reports whether a caller leads s's loop with the loop's
// epoll fd out of the runtime poller's sight, as one that sleeps in
// epoll_wait by itself does.
func LoneLeader(t testing.TB, s transport.Stream) bool {
	t.Helper()
	l := s.(*stream).loop
	if l.leader.Load() == 0 {
		return false
	}
	info, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(l.outer))
	if err != nil {
		t.Fatal(err)
	}
	return !strings.Contains(string(info), "tfd:")
}

// Leading reports whether a caller leads s's loop (waits on it).
func Leading(s transport.Stream) bool { return s.(*stream).loop.leader.Load() != 0 }

// SetLoneWait sets how long the lone leads of loops made from now on may
// block, in milliseconds, and returns the previous value. Tests call it
// while no backend is open.
func SetLoneWait(msec int) int {
	old := loneWaitMsec
	loneWaitMsec = msec
	return old
}

// NewStream adopts fd as a stream of b (see newStream); the tests reach
// the fd-level entry the exported Adopt is built on.
func (b *Backend) NewStream(fd int, network string) (transport.Stream, error) {
	return b.newStream(fd, network)
}

// SetSpinWindow sets the spin window of loops made from now on and
// returns the previous one. Tests call it while no backend is open.
func SetSpinWindow(d time.Duration) time.Duration {
	old := spinWindowNsec
	spinWindowNsec = int64(d)
	return time.Duration(old)
}

// SpinStats returns the spins of s's loop that caught the leader's event,
// those that ran out, and the moving average of its lone waits. Only the
// goroutine that last led the loop may call it (a lone Read leads).
func SpinStats(s transport.Stream) (hits, misses int, avg time.Duration) {
	l := s.(*stream).loop
	return l.spinHits, l.spinMisses, time.Duration(l.waitAvg)
}
