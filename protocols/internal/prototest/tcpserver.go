package prototest

import (
	"net"
	"sync"
	"testing"

	"github.com/transportkit/transportkit/internal/testenv"
)

// TCPServer runs a handler per connection on a loopback listener, for
// peers no real server would be, and counts the connections it accepted
// and those its handlers still hold. The listener and the accept loop are
// testenv.Serve's.
type TCPServer struct {
	addr     string
	ln       net.Listener
	handlers sync.WaitGroup // handlers started before Close
	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{} // held by a handler still running
	served   int
}

// StartTCP serves handle on a new loopback listener until t ends. handle
// owns its connection: a connection is closed when handle returns only by
// handle itself, or by Close.
func StartTCP(t testing.TB, handle func(net.Conn)) *TCPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &TCPServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.addr = testenv.Serve(t, ln, func(c net.Conn) {
		if !s.track(c) {
			c.Close()
			return
		}
		defer s.handlers.Done()
		handle(c)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	})
	t.Cleanup(s.Close)
	return s
}

// track records c as held by its handler and counts it, or reports false
// once Close has run: no handler starts after Close.
func (s *TCPServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.served++
	s.handlers.Add(1)
	return true
}

// Addr returns the listener's address, as host:port.
func (s *TCPServer) Addr() string { return s.addr }

// Open returns how many connections handlers still hold.
func (s *TCPServer) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Served returns how many connections the server accepted and handed to
// a handler.
func (s *TCPServer) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Close stops the listener, closes the connections handlers still hold
// and waits for the handlers to return. It runs when the test ends.
func (s *TCPServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.handlers.Wait()
}
