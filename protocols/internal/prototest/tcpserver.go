package prototest

import (
	"net"
	"sync"
	"testing"
)

// TCPServer runs a handler per connection on a loopback listener, for
// peers no real server would be, and counts the connections it accepted
// and those its handlers still hold.
type TCPServer struct {
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and the handlers
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // held by a handler still running
	served int
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
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.served++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr returns the listener's address, as host:port.
func (s *TCPServer) Addr() string { return s.ln.Addr().String() }

// Open returns how many connections handlers still hold.
func (s *TCPServer) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Served returns how many connections the server accepted.
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
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
