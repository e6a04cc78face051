package testenv

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TCPPair returns the two ends of a loopback TCP connection: the client's
// (dialed) and the server's (accepted). Both are closed at cleanup.
func TCPPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatalf("testenv: %v", err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		t.Fatal("testenv: accept failed")
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// TLSServerPair returns a loopback TCP connection whose server end runs
// TLS with cfg (nil: SharedCerts' server certificate offering h2 and
// http/1.1): the client end is the plain TCP socket, for the code under
// test to run its own TLS client over it. The server's handshake starts
// when the test first reads or writes on it (or calls Handshake). Both
// ends are closed at cleanup.
func TLSServerPair(t testing.TB, cfg *tls.Config) (client net.Conn, server *tls.Conn) {
	t.Helper()
	if cfg == nil {
		cfg = SharedCerts(t).ServerConfig("h2", "http/1.1")
	}
	c, s := TCPPair(t)
	server = tls.Server(s, cfg)
	t.Cleanup(func() { server.Close() })
	return c, server
}

// TLSRelay is a TLS server on loopback that relays each connection's
// plain bytes to a target address: a TLS front for a server that speaks
// only clear text (an https proxy made of tinyproxy, say).
type TLSRelay struct {
	// Addr is where it listens (127.0.0.1:PORT).
	Addr string

	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// StartTLSRelay starts a TLS relay to target with cfg (nil: SharedCerts'
// server certificate, no ALPN). It is closed at cleanup, its connections
// and goroutines with it.
func StartTLSRelay(t testing.TB, target string, cfg *tls.Config) *TLSRelay {
	t.Helper()
	if cfg == nil {
		cfg = SharedCerts(t).ServerConfig()
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	r := &TLSRelay{Addr: ln.Addr().String(), ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.Close)
	return r
}

func (r *TLSRelay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			return
		}
		r.wg.Add(1)
		go r.relay(c)
	}
}

// track records c to close it with the relay, or closes it and reports
// false if the relay is closed.
func (r *TLSRelay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *TLSRelay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// relay completes c's handshake, then copies bytes both ways between c
// and a new connection to the target until either side ends.
func (r *TLSRelay) relay(c net.Conn) {
	defer r.wg.Done()
	defer r.untrack(c)
	// The handshake first, so that a client sees a TLS server even when
	// the target refuses.
	if tc, ok := c.(*tls.Conn); ok && tc.Handshake() != nil {
		return
	}
	up, err := net.Dial("tcp", r.target)
	if err != nil || !r.track(up) {
		return
	}
	defer r.untrack(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, c)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	io.Copy(c, up)
	c.Close() // wakes the other copy if the client is still sending
	<-done
}

// Close stops the relay and closes its connections, and returns once
// its goroutines have ended.
func (r *TLSRelay) Close() {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	if !already {
		r.ln.Close()
	}
	r.wg.Wait()
}

// Serve runs handle on every connection ln accepts (nil: a new listener
// on a free loopback port), each in a goroutine of its own, and returns
// ln's address. handle may return at once and leave the connection open:
// when the test ends, ln and every connection it accepted are closed, and
// the cleanup waits for the handlers to return.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = listen(); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// HandshakeTimeout bounds the server's handshake in DialTLSPair.
const HandshakeTimeout = 20 * time.Second

// DialTLSPair makes a TLS connection through the code under test: it
// listens on loopback, calls dial with the address while a server runs
// the TLS handshake with cfg on the connection it accepts, and returns
// what dial returned (the client's end, C being its type, a
// transport.Stream say) and the server's end once both are done. If
// either fails, both ends are closed and the error is returned.
func DialTLSPair[C io.Closer](cfg *tls.Config, dial func(addr string) (C, error)) (client C, server *tls.Conn, err error) {
	ln, err := listen()
	if err != nil {
		return client, nil, err
	}
	defer ln.Close()
	var herr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			herr = err
			return
		}
		server = tls.Server(c, cfg)
		c.SetDeadline(time.Now().Add(HandshakeTimeout))
		herr = server.Handshake()
		c.SetDeadline(time.Time{})
	}()
	client, err = dial(ln.Addr().String())
	dialed := err == nil // a failed dial's client (maybe a typed nil) is not ours to close
	if !dialed {
		ln.Close() // ends the Accept if dial never connected
	}
	<-done
	if err == nil {
		err = herr
	}
	if err != nil {
		if dialed {
			client.Close()
		}
		if server != nil {
			server.Close()
		}
		var zero C
		return zero, nil, err
	}
	return client, server, nil
}
