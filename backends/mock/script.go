package mock

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// Peer answers the connections dialed to an address given to
// Backend.Handle. Make one with ScriptPeer, TLSScriptPeer, FuncPeer,
// HandlerPeer or TLSHandlerPeer. A Peer may answer any number of
// connections, on any number of backends.
type Peer interface {
	// start runs the peer for the new connection c. It is called with
	// b.mu held and starts its goroutines under b.wg.
	start(b *Backend, c *Conn)
}

// Step is one action of a scripted peer. Steps run in order, each after
// the previous one has completed.
type Step struct {
	kind  stepKind
	data  string
	n     int
	until <-chan struct{}
}

type stepKind int

const (
	stepSend stepKind = iota
	stepRecv
	stepRecvUntil
	stepAwait
	stepCloseWrite
	stepClose
	stepReset
)

// Send sends data to the client as one chunk: a client Read returns bytes
// of one chunk only, so each Send is seen by a separate Read (a chunk
// larger than 64 KiB, or than a SplitReads fault allows, arrives in
// several).
func Send(data string) Step { return Step{kind: stepSend, data: data} }

// Recv waits until the client has sent n more bytes (n <= 0 waits for
// nothing).
func Recv(n int) Step { return Step{kind: stepRecv, n: n} }

// RecvUntil waits until the bytes the client has sent, after those earlier
// steps took, contain delim, and takes them up to and including delim.
// RecvUntil("\r\n\r\n") waits for the header of an HTTP/1 request.
func RecvUntil(delim string) Step { return Step{kind: stepRecvUntil, data: delim} }

// Await waits until ch is closed (or receives), which lets a test decide
// when the script goes on. The wait ends early, failing the script, if
// the connection is closed.
func Await(ch <-chan struct{}) Step { return Step{kind: stepAwait, until: ch} }

// CloseWrite shuts the peer's writing side: the client reads EOF after
// what was sent, and can still write.
func CloseWrite() Step { return Step{kind: stepCloseWrite} }

// Close closes the peer's end: the client reads EOF after what was sent,
// and its writes fail with an error matching syscall.EPIPE. It ends the
// script.
func Close() Step { return Step{kind: stepClose} }

// Reset resets the connection: the client reads what was sent, then every
// call on it fails with an error matching syscall.ECONNRESET. It ends the
// script.
func Reset() Step { return Step{kind: stepReset} }

// scriptPeer plays its steps on every connection.
type scriptPeer struct {
	alpn  string
	steps []Step
}

// ScriptPeer returns a peer that plays steps on every connection, in the
// manner of a list of byte chunks per connection. When the steps run out
// without Close or Reset, the peer keeps the connection open and drops
// what the client sends from then on (Conn.Written still records it).
// Through Backend.DialTLS the connection pretends a TLS handshake took
// place and reports no ALPN protocol.
func ScriptPeer(steps ...Step) Peer {
	return &scriptPeer{steps: steps}
}

// TLSScriptPeer is ScriptPeer for a server whose scripted TLS handshake
// (Backend.DialTLS) negotiates the ALPN protocol alpn, such as "h2" or
// "http/1.1". Through Dial it is the same as ScriptPeer.
func TLSScriptPeer(alpn string, steps ...Step) Peer {
	return &scriptPeer{alpn: alpn, steps: steps}
}

func (s *scriptPeer) start(b *Backend, c *Conn) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		c.err = s.run(c.p)
		close(c.done)
	}()
}

// run plays the steps over p's peer end and returns the error that stopped
// them, if any.
func (s *scriptPeer) run(p *pair) error {
	e := p.peer()
	var got []byte // received and not yet taken by a step
	buf := make([]byte, 32<<10)
	fill := func() error {
		n, err := e.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	for i, st := range s.steps {
		var err error
		switch st.kind {
		case stepSend:
			_, err = io.WriteString(e, st.data)
		case stepRecv:
			for err == nil && len(got) < st.n {
				err = fill()
			}
			if err == nil {
				got = got[max(st.n, 0):]
			}
		case stepRecvUntil:
			for err == nil && !bytes.Contains(got, []byte(st.data)) {
				err = fill()
			}
			if err == nil {
				got = got[bytes.Index(got, []byte(st.data))+len(st.data):]
			}
		case stepAwait:
			err = e.waitFor(context.Background(), st.until)
		case stepCloseWrite:
			err = e.CloseWrite()
		case stepClose:
			return e.Close()
		case stepReset:
			p.mu.Lock()
			p.resetLocked()
			e.closeLocked()
			p.mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("mock: script step %d: %w", i+1, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !e.closed {
		p.discardLocked()
	}
	return nil
}
