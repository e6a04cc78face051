package mock

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in these tests; reaching it means a hang.
const waitLimit = 10 * time.Second

// newBackend returns a backend closed when the test ends.
func newBackend(t *testing.T) *Backend {
	t.Helper()
	b := New()
	t.Cleanup(func() { b.Close() })
	return b
}

// dial dials address on b over tcp and fails the test on error.
func dial(t *testing.T, b *Backend, address string) transport.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s, err := b.Dial(ctx, "tcp", address)
	if err != nil {
		t.Fatalf("Dial(%q): %v", address, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// handOver returns a peer that sends the server end of each connection on
// the returned channel and holds it until the connection is closed.
func handOver() (Peer, <-chan net.Conn) {
	ch := make(chan net.Conn, 1)
	return FuncPeer(func(c net.Conn) {
		ch <- c
		waitClosed(c.(*end))
	}), ch
}

// waitClosed blocks until e itself is closed.
func waitClosed(e *end) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for !e.closed {
		p.wait()
	}
}

// pairOn dials a connection through b to a handOver peer with faults and
// returns both ends.
func pairOn(t *testing.T, b *Backend, faults ...Fault) (transport.Stream, net.Conn) {
	t.Helper()
	peer, ch := handOver()
	b.Handle("pair", peer, faults...)
	c1 := dial(t, b, "pair")
	select {
	case c2 := <-ch:
		return c1, c2
	case <-time.After(waitLimit):
		t.Fatal("the peer never got the connection")
		return nil, nil
	}
}

// within runs f and fails the test if it does not return within waitLimit.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("call still blocked after", waitLimit)
	}
}
