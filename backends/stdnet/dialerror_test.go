package stdnet

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"

	"github.com/transportkit/transportkit/transport"
)

// TestDialErrorDeadline: when the socket's own deadline (set from the
// context's) fires before the context is seen to end, the net package
// reports os.ErrDeadlineExceeded; it must still be the contract's timeout,
// matching context.DeadlineExceeded like a context that ended first.
func TestDialErrorDeadline(t *testing.T) {
	b, err := Open(transport.Options{})
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
