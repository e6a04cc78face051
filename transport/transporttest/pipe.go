package transporttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// MakePipe returns a connected pair: c1 is the Stream under test, c2 its
// peer (any net.Conn, usually the server side from a net.Listener). stop
// closes both and releases everything the pair holds; it is called exactly
// once per pair.
type MakePipe func() (c1 transport.Stream, c2 net.Conn, stop func(), err error)

// TCPPipe returns a MakePipe that listens on 127.0.0.1:0 with the standard
// library and dials the listener through b. The listener is closed as soon
// as the pair is made. b is not closed by stop.
func TCPPipe(b transport.Backend) MakePipe {
	return func() (transport.Stream, net.Conn, func(), error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		return dialPair(b, ln, "tcp", ln.Addr().String(), func() {})
	}
}

// UnixPipe returns a MakePipe that listens on a unix socket in a fresh
// temporary directory with the standard library and dials it through b.
// The directory is removed by stop. b is not closed by stop.
func UnixPipe(b transport.Backend) MakePipe {
	return func() (transport.Stream, net.Conn, func(), error) {
		ln, dir, err := listenUnix()
		if err != nil {
			return nil, nil, nil, err
		}
		cleanup := func() { os.RemoveAll(dir) }
		return dialPair(b, ln, "unix", ln.Addr().String(), cleanup)
	}
}

// listenUnix listens on a socket in a new directory under os.TempDir,
// which keeps the path well under the 104-byte limit some systems have
// (t.TempDir paths grow with the test's name).
func listenUnix() (net.Listener, string, error) {
	dir, err := os.MkdirTemp("", "tkt")
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return ln, dir, nil
}

type acceptResult struct {
	c   net.Conn
	err error
}

// dialPair dials address through b while accepting on ln, then closes ln.
// cleanup runs after everything else is closed, on failure too.
func dialPair(b transport.Backend, ln net.Listener, network, address string, cleanup func()) (transport.Stream, net.Conn, func(), error) {
	return dialPairContext(context.Background(), b, ln, network, address, cleanup)
}

// dialPairContext is dialPair with the dial's context made from parent.
func dialPairContext(parent context.Context, b transport.Backend, ln net.Listener, network, address string, cleanup func()) (transport.Stream, net.Conn, func(), error) {
	accepted := make(chan acceptResult, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- acceptResult{c, err}
	}()

	ctx, cancel := context.WithTimeout(parent, pipeTimeout)
	defer cancel()
	c1, dialErr := b.Dial(ctx, network, address)
	if dialErr != nil {
		ln.Close() // unblocks Accept
	}

	var ar acceptResult
	timer := time.NewTimer(pipeTimeout)
	select {
	case ar = <-accepted:
	case <-timer.C:
		ln.Close()
		ar = <-accepted
		if ar.err != nil {
			ar.err = fmt.Errorf("transporttest: no connection accepted %v after Dial returned: %w", pipeTimeout, ar.err)
		}
	}
	timer.Stop()
	ln.Close()

	if dialErr != nil || ar.err != nil {
		if c1 != nil {
			c1.Close()
		}
		if ar.c != nil {
			ar.c.Close()
		}
		cleanup()
		if dialErr != nil {
			return nil, nil, nil, dialErr
		}
		return nil, nil, nil, ar.err
	}
	c2 := ar.c
	stop := func() {
		c1.Close()
		c2.Close()
		cleanup()
	}
	return c1, c2, stop, nil
}
