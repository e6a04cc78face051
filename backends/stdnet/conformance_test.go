package stdnet_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newBackend opens a backend with no options; the caller closes it.
func newBackend(t *testing.T) transport.Backend {
	t.Helper()
	return newBackendWith(t, transport.Options{})
}

// newBackendWith opens a backend with opts; the caller closes it.
func newBackendWith(t *testing.T, opts transport.Options) transport.Backend {
	t.Helper()
	b, err := stdnet.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
	t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
}

func TestBackend(t *testing.T) {
	transporttest.TestBackend(t, newBackend)
}

func TestOptions(t *testing.T) {
	transporttest.TestOptions(t, func(opts transport.Options) (transport.Backend, error) {
		return stdnet.Open(opts)
	})
}
