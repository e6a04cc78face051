package transporttest

import (
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
