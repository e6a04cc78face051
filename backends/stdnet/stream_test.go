package stdnet

import (
	"errors"
	"net"
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
	b, err := Open(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := loopbackTCP(t)
	c.Close()
	if _, err := b.adopt(c); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("adopt(closed conn) = %v, want net.ErrClosed", err)
	}
}
