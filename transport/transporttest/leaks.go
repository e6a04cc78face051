package transporttest

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// VerifyNoLeaks records the open file descriptor count (/proc/self/fd; the
// fd part is skipped where that does not exist) and the running goroutines
// now, and in t.Cleanup fails t if they have not come back, polling for a
// few seconds to let closes settle. Goroutines are compared by identity
// with go.uber.org/goleak, so the failure names the leaked ones.
//
// Pipes are a special case: Go's runtime keeps the pipes it used to splice
// one socket into another (io.Copy between two TCP connections, a relay
// in a test or a tunnel backend) in a cache it empties only when the
// garbage collector runs, and they look like leaked descriptors. When the
// only new descriptors are pipes, VerifyNoLeaks runs the collector so the
// cache lets them go before it counts again; a pipe that is still open
// after that is reported. (A pipe leaked through an *os.File that nothing
// references is closed by the collector too and so is not reported.)
//
// Call it first in a test, before anything it should check is opened:
// cleanups run last-in first-out, so the test's own cleanups (closing a
// backend, say) run before the check. Do not use it in tests that run in
// parallel with others (t.Parallel), since fds and goroutines are counted
// for the whole process.
func VerifyNoLeaks(t testing.TB) {
	t.Helper()
	warmUp()
	fdsBefore, fdErr := openFDs()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := waitGoroutines(ignore, settleTime); err != nil {
			t.Error(err)
		}
		if fdErr != nil {
			return
		}
		if err := waitFDs(fdsBefore, settleTime); err != nil {
			t.Error(err)
		}
	})
}

// waitGoroutines polls until no goroutine other than those ignore names
// is running, and otherwise reports the extra ones with their stacks.
func waitGoroutines(ignore goleak.Option, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(ignore)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transporttest: goroutines leaked: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// warmUp opens what the runtime opens once per process (the network
// poller's descriptors) so it is not counted as a leak of the first test.
func warmUp() {
	r, w, err := os.Pipe()
	if err == nil {
		r.Close()
		w.Close()
	}
}

// waitFDs polls until no more descriptors are open than in before, and
// otherwise reports the new ones.
func waitFDs(before map[int]string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		now, err := openFDs()
		if err != nil {
			return fmt.Errorf("transporttest: counting fds: %w", err)
		}
		if len(now) <= len(before) {
			return nil
		}
		if onlyNewPipes(before, now) {
			// The runtime's splice pipe cache is a sync.Pool whose pipes
			// are closed by a finalizer: two collections empty the pool
			// (it keeps a victim cache for one cycle), and the finalizers
			// run soon after.
			runtime.GC()
			runtime.GC()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transporttest: %d fds open, %d before; new: %s", len(now), len(before), describeNew(before, now))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlyNewPipes reports whether every descriptor in now that is not in
// before is a pipe.
func onlyNewPipes(before, now map[int]string) bool {
	for fd, target := range now {
		// "?" is a descriptor closed while the directory was read.
		if before[fd] != target && !strings.HasPrefix(target, "pipe:") && target != "?" {
			return false
		}
	}
	return true
}

func describeNew(before, now map[int]string) string {
	var out []string
	for fd, target := range now {
		if before[fd] != target {
			out = append(out, fmt.Sprintf("%d -> %s", fd, target))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// openFDs returns the process's open descriptors and what each points to.
func openFDs() (map[int]string, error) {
	return readProcFDs("/proc/self/fd")
}
