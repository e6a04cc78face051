package mock

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/transportkit/transportkit/transport"
)

const (
	// bufferSize bounds the bytes queued in each direction of a
	// connection; a writer blocks while its direction is full, as over
	// TCP.
	bufferSize = 1 << 20
	// maxPiece is the largest chunk one Write queues, and so the most one
	// Read returns, when no SplitReads or SplitWrites fault says less.
	maxPiece = 64 << 10
)

// maxRecorded bounds what Conn.Written keeps of each connection; tests
// lower it.
var maxRecorded = 64 << 20

// Ends of a pair.
const (
	clientSide = 0
	peerSide   = 1
)

// pair is one in-memory connection: two ends and the two directions
// between them. One mutex guards all of it, so a change made by either end
// (a write, a close, a reset) is seen at once by the other.
type pair struct {
	mu   sync.Mutex
	wake chan struct{} // closed and replaced whenever anything changes

	ends [2]end
	// dirs[i] carries the bytes ends[i] writes to ends[1-i].
	dirs [2]direction

	rec *Conn // what the client wrote; the peer's outcome
}

// direction is the byte queue from one end to the other. Each queued
// chunk is at most piece bytes and a Read never returns bytes of two
// chunks, so reads see the same boundaries whatever the timing.
type direction struct {
	chunks [][]byte
	size   int // bytes queued
	piece  int // largest chunk

	shut       bool  // the writer is done: the reader gets EOF after draining
	err        error // reset: the reader gets err after draining, the writer at once
	readerGone bool  // the reader closed: writes fail with EPIPE
	discard    bool  // the reader drops everything (a script that ended)

	// limit is how many more bytes the writer may send before onLimit
	// runs; negative means no limit.
	limit   int
	onLimit func() // called with the pair's mutex held
}

// end is one end of a pair: the client's Stream or the net.Conn a peer
// serves.
type end struct {
	p      *pair
	side   int
	local  net.Addr
	remote net.Addr

	// Guarded by p.mu.
	closed  bool
	writing bool // a Write is in progress; others wait their turn
	rd, wd  deadline
}

var _ transport.Stream = (*end)(nil)

// deadline is one end's read or write deadline. Its timer only wakes the
// waiters; they compare the clock with t themselves, so a timer that fires
// for an older deadline does no harm.
type deadline struct {
	t     time.Time
	timer *time.Timer
}

func (d *deadline) passed() bool { return !d.t.IsZero() && !time.Now().Before(d.t) }

func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

// newPair makes a connected pair whose ends report the given addresses.
func newPair(rec *Conn, clientAddr, peerAddr net.Addr) *pair {
	p := &pair{wake: make(chan struct{}), rec: rec}
	p.ends[clientSide] = end{p: p, side: clientSide, local: clientAddr, remote: peerAddr}
	p.ends[peerSide] = end{p: p, side: peerSide, local: peerAddr, remote: clientAddr}
	for i := range p.dirs {
		p.dirs[i] = direction{piece: maxPiece, limit: -1}
	}
	return p
}

func (p *pair) client() *end { return &p.ends[clientSide] }
func (p *pair) peer() *end   { return &p.ends[peerSide] }

// broadcast wakes every blocked caller so it checks its condition again.
// The caller holds p.mu.
func (p *pair) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// wait releases p.mu until something changes. The caller holds p.mu.
func (p *pair) wait() {
	ch := p.wake
	p.mu.Unlock()
	<-ch
	p.mu.Lock()
}

// resetLocked makes both directions fail with ECONNRESET, after each
// reader has drained what was already sent. The caller holds p.mu.
func (p *pair) resetLocked() {
	for i := range p.dirs {
		if p.dirs[i].err == nil {
			p.dirs[i].err = syscall.ECONNRESET
		}
	}
	p.broadcast()
}

// closeAll closes both ends.
func (p *pair) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ends[clientSide].closeLocked()
	p.ends[peerSide].closeLocked()
}

// discardLocked makes the peer drop whatever the client sends from now on;
// the client's writes are still recorded. The caller holds p.mu.
func (p *pair) discardLocked() {
	d := &p.dirs[clientSide]
	d.discard = true
	d.chunks, d.size = nil, 0
	p.broadcast()
}

func (e *end) in() *direction  { return &e.p.dirs[1-e.side] }
func (e *end) out() *direction { return &e.p.dirs[e.side] }

func (e *end) opError(op string, err error) error {
	return &transport.OpError{Op: op, Backend: Name, Network: e.remote.Network(), Address: e.remote.String(), Err: err}
}

// Read reads the next bytes the other end wrote, at most one chunk's
// worth. It returns io.EOF once the other end has shut its writing side
// and everything before has been read.
func (e *end) Read(b []byte) (int, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if e.closed {
			return 0, e.opError("read", net.ErrClosed)
		}
		if len(b) == 0 {
			return 0, nil // as net: an empty read looks at no deadline
		}
		if e.rd.passed() {
			return 0, e.opError("read", transport.ErrTimeout)
		}
		d := e.in()
		if len(d.chunks) > 0 {
			n := copy(b, d.chunks[0])
			if n == len(d.chunks[0]) {
				d.chunks[0] = nil
				d.chunks = d.chunks[1:]
			} else {
				d.chunks[0] = d.chunks[0][n:]
			}
			d.size -= n
			p.broadcast()
			return n, nil
		}
		if d.err != nil {
			return 0, e.opError("read", d.err)
		}
		if d.shut {
			return 0, io.EOF
		}
		p.wait()
	}
}

// Write queues b for the other end, blocking while that direction is full.
// Writes from different goroutines do not interleave.
func (e *end) Write(b []byte) (int, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	mine := false
	defer func() {
		if mine {
			e.writing = false
			p.broadcast()
		}
	}()
	for {
		if e.closed {
			return n, e.opError("write", net.ErrClosed)
		}
		if e.wd.passed() {
			return n, e.opError("write", transport.ErrTimeout)
		}
		d := e.out()
		if d.err != nil {
			return n, e.opError("write", d.err)
		}
		if d.shut || d.readerGone {
			return n, e.opError("write", syscall.EPIPE)
		}
		if !mine {
			if e.writing {
				p.wait()
				continue
			}
			e.writing, mine = true, true
		}
		if len(b) == 0 {
			return n, nil
		}
		if d.discard {
			e.record(append([]byte(nil), b...))
			return n + len(b), nil
		}
		k := min(len(b), d.piece)
		if d.limit >= 0 {
			k = min(k, d.limit)
		}
		if d.size > 0 && d.size+k > bufferSize {
			p.wait()
			continue
		}
		chunk := append([]byte(nil), b[:k]...)
		d.chunks = append(d.chunks, chunk)
		d.size += k
		e.record(chunk)
		n += k
		b = b[k:]
		if d.limit >= 0 {
			d.limit -= k
			if d.limit == 0 {
				d.limit = -1
				d.onLimit()
			}
		}
		p.broadcast()
	}
}

// record keeps a chunk the client wrote, up to maxRecorded bytes in all.
// Chunks are never modified (Read copies out of them), so the record
// shares them with the queue. The caller holds p.mu.
func (e *end) record(chunk []byte) {
	rec := e.p.rec
	if e.side != clientSide || rec.recorded >= maxRecorded {
		return
	}
	chunk = chunk[:min(len(chunk), maxRecorded-rec.recorded)]
	rec.written = append(rec.written, chunk)
	rec.recorded += len(chunk)
}

// Close closes this end: the other end reads EOF after draining what was
// sent, and its writes fail with an error matching syscall.EPIPE. Blocked
// calls return an error matching net.ErrClosed, as does every later call,
// Close included.
func (e *end) Close() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.closed {
		return e.opError("close", net.ErrClosed)
	}
	e.closeLocked()
	return nil
}

func (e *end) closeLocked() {
	if e.closed {
		return
	}
	e.closed = true
	e.out().shut = true
	in := e.in()
	in.readerGone = true
	in.chunks, in.size = nil, 0
	e.rd.stop()
	e.wd.stop()
	e.p.broadcast()
}

// CloseWrite shuts the writing side: the other end reads EOF once it has
// read everything written before. Later writes fail with an error
// matching syscall.EPIPE.
func (e *end) CloseWrite() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.closed {
		return e.opError("close", net.ErrClosed)
	}
	e.out().shut = true
	p.broadcast()
	return nil
}

// IsReadable reports whether a Read would return at once: data, EOF or an
// error is waiting, or the end is closed.
func (e *end) IsReadable() bool {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	d := e.in()
	return e.closed || len(d.chunks) > 0 || d.shut || d.err != nil
}

// Info answers InfoBackend, InfoLocalAddr, InfoRemoteAddr and InfoClosed.
func (e *end) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoBackend:
		return Name, true
	case transport.InfoLocalAddr:
		return e.local, true
	case transport.InfoRemoteAddr:
		return e.remote, true
	case transport.InfoClosed:
		e.p.mu.Lock()
		defer e.p.mu.Unlock()
		return e.closed, true
	}
	return nil, false
}

// LocalAddr returns this end's address.
func (e *end) LocalAddr() net.Addr { return e.local }

// RemoteAddr returns the other end's address.
func (e *end) RemoteAddr() net.Addr { return e.remote }

// SetDeadline sets the read and write deadlines.
func (e *end) SetDeadline(t time.Time) error {
	return e.setDeadline(t, true, true)
}

// SetReadDeadline sets the time after which blocked and future Reads fail
// with an error matching os.ErrDeadlineExceeded. A zero t means no
// deadline.
func (e *end) SetReadDeadline(t time.Time) error { return e.setDeadline(t, true, false) }

// SetWriteDeadline sets the time after which blocked and future Writes
// fail with an error matching os.ErrDeadlineExceeded. A zero t means no
// deadline.
func (e *end) SetWriteDeadline(t time.Time) error { return e.setDeadline(t, false, true) }

func (e *end) setDeadline(t time.Time, read, write bool) error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.closed {
		return e.opError("set deadline", net.ErrClosed)
	}
	if read {
		e.arm(&e.rd, t)
	}
	if write {
		e.arm(&e.wd, t)
	}
	p.broadcast()
	return nil
}

// arm sets d to t and makes its timer wake the waiters when t comes. The
// caller holds p.mu.
func (e *end) arm(d *deadline, t time.Time) {
	d.t = t
	wait := time.Until(t)
	if t.IsZero() || wait <= 0 {
		d.stop()
		return
	}
	if d.timer == nil {
		p := e.p
		d.timer = time.AfterFunc(wait, func() {
			p.mu.Lock()
			p.broadcast()
			p.mu.Unlock()
		})
		return
	}
	d.timer.Reset(wait)
}

// waitFor blocks until ch fires (nil if so), ctx is done (its error) or
// either end of the pair is closed (net.ErrClosed).
func (e *end) waitFor(ctx context.Context, ch <-chan struct{}) error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.ends[clientSide].closed && !p.ends[peerSide].closed {
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-ch:
			p.mu.Lock()
			return nil
		case <-ctx.Done():
			p.mu.Lock()
			return transport.ContextError(ctx.Err())
		case <-wake:
		}
		p.mu.Lock()
	}
	return net.ErrClosed
}

// tlsEnd is a client end whose TLS handshake the script pretends to have
// done: it reports a connection state and carries plain bytes.
type tlsEnd struct {
	*end
	state tls.ConnectionState
}

var _ transport.Stream = (*tlsEnd)(nil)

// Info answers InfoTLS and InfoALPN with the scripted handshake's result,
// and every other key as the plain end does.
func (t *tlsEnd) Info(key transport.InfoKey) (any, bool) {
	switch key {
	case transport.InfoTLS:
		return t.state, true
	case transport.InfoALPN:
		return t.state.NegotiatedProtocol, true
	}
	return t.end.Info(key)
}

// ConnectionState returns the scripted handshake's result, as
// tls.Conn.ConnectionState does.
func (t *tlsEnd) ConnectionState() tls.ConnectionState { return t.state }

// NetConn returns the plain end under the scripted TLS layer.
func (t *tlsEnd) NetConn() net.Conn { return t.end }
