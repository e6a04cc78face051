package stdnet

import (
	"errors"
	"net"
	"testing"

	"github.com/transportkit/transportkit/transport"
)

// loopbackTCP returns a connected client socket; both ends are closed when
// t ends.
func loopbackTCP(t *testing.T) *net.TCPConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
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
