package stdnet

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
)

// loopbackTCP returns a connected client socket; both ends are closed when
// t ends.
func loopbackTCP(t *testing.T) *net.TCPConn {
	t.Helper()
	c, _ := testenv.TCPPair(t)
	return c.(*net.TCPConn)
}

func TestNewStreamRejects(t *testing.T) {
	if _, err := newStream(&net.TCPConn{}); err == nil {
		t.Error("newStream accepted a TCPConn with no socket")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := newStream(a); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("newStream(net.Pipe) = %v, want ErrUnsupported", err)
	}
}

func TestAdoptClosedConn(t *testing.T) {
	b, err := New(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := loopbackTCP(t)
	c.Close()
	if _, err := b.adopt(c); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("adopt(closed conn) = %v, want net.ErrClosed", err)
	}
}

// TestDialErrorDeadline: when the socket's own deadline (set from the
// context's) fires before the context is seen to end, the net package
// reports os.ErrDeadlineExceeded; it must still be the contract's timeout,
// matching context.DeadlineExceeded like a context that ended first.
func TestDialErrorDeadline(t *testing.T) {
	b, err := New(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, cause := range []error{os.ErrDeadlineExceeded, context.DeadlineExceeded} {
		err := b.dialError("tcp", "192.0.2.1:80", &net.OpError{Op: "dial", Net: "tcp", Err: cause})
		var ne net.Error
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) ||
			!errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("dialError(%v) = %v, want a timeout matching both deadline errors", cause, err)
		}
	}
}
