package transporttest

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// shorten cuts the suite's time limits for the rest of t, so checks that
// are meant to fail do so quickly.
func shorten(t *testing.T) {
	t.Helper()
	saved := []time.Duration{checkTimeout, ioTimeout, pipeTimeout, dialTimeout, hangSlack, settleTime}
	checkTimeout, ioTimeout, pipeTimeout, dialTimeout, hangSlack, settleTime =
		5*time.Second, 300*time.Millisecond, 2*time.Second, 2*time.Second, 500*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() {
		checkTimeout, ioTimeout, pipeTimeout, dialTimeout, hangSlack, settleTime =
			saved[0], saved[1], saved[2], saved[3], saved[4], saved[5]
	})
}

// The suites pass on the standard library backend.

func TestStreamStdnet(t *testing.T) {
	b := newStdnet(t, transport.Options{})
	t.Run("tcp", func(t *testing.T) { TestStream(t, TCPPipe(b)) })
	t.Run("unix", func(t *testing.T) { TestStream(t, UnixPipe(b)) })
}

func TestBackendStdnet(t *testing.T) {
	TestBackend(t, func(t *testing.T) transport.Backend { return newStdnet(t, transport.Options{}) })
}

func TestOptionsStdnet(t *testing.T) {
	TestOptions(t, func(opts transport.Options) (transport.Backend, error) {
		return newStdnet(t, opts), nil
	})
}

func TestBackendChecksSubset(t *testing.T) {
	if got := BackendCheckNames(); len(got) != len(backendChecks) || got[0] != "Name" {
		t.Fatalf("BackendCheckNames() = %v", got)
	}
	var opened atomic.Int32
	t.Run("only", func(t *testing.T) {
		TestBackendChecks(t, func(t *testing.T) transport.Backend {
			opened.Add(1)
			return newStdnet(t, transport.Options{})
		}, "Name", "Unsupported")
	})
	if opened.Load() != 2 {
		t.Fatalf("TestBackendChecks with two names opened %d backends, want 2", opened.Load())
	}
}
