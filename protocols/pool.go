package protocols

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/transportkit/transportkit/protocols/h1"
	"github.com/transportkit/transportkit/transport"
)

// conn is what the pool needs of a client connection, whatever protocol
// it speaks. HTTP/1.1 connections carry one exchange at a time: they leave
// the idle stack for an exchange and come back when it ends. An HTTP/2
// connection will implement the same methods and stay available to many
// callers up to its stream limit.
type conn interface {
	// roundTrip runs one exchange; the connection reports its end to the
	// pool through pool.release.
	roundTrip(req *http.Request) (*http.Response, error)
	// usable reports, without blocking, whether an idle connection can
	// take a request (the peer has not closed it).
	usable() bool
	// close closes the connection.
	close() error
}

// pconn is a pooled HTTP/1.1 connection.
type pconn struct {
	pool   *hostPool
	h1     *h1.Conn
	idleAt time.Time // when it went idle
}

var _ conn = (*pconn)(nil)

func (pc *pconn) roundTrip(req *http.Request) (*http.Response, error) {
	return pc.h1.RoundTrip(req)
}

func (pc *pconn) usable() bool { return pc.h1.Usable() }

func (pc *pconn) close() error { return pc.h1.Close() }

// done is the h1 connection's OnDone: its exchange ended.
func (pc *pconn) done(reusable bool) { pc.pool.release(pc, reusable) }

// key identifies an origin: scheme and authority, without the scheme's
// default port, so that "example.com" and "example.com:80" share a pool.
// The transport's TLS settings are the same for every origin.
type key struct {
	scheme, host string
}

// hostPool holds the connections to one origin: an idle stack (most
// recently used on top), a count of open and dialing connections for
// MaxConnsPerHost, and callers waiting for a connection.
type hostPool struct {
	t    *Transport
	key  key
	addr string // host:port to dial

	mu      sync.Mutex
	idle    []*pconn
	conns   int // open or being dialed
	waiters []chan *pconn
}

// get returns an idle connection (reused true), or nil when the caller
// may dial a new one (a slot is reserved for it), waiting while the origin
// is at MaxConnsPerHost.
func (p *hostPool) get(ctx context.Context) (pc *pconn, reused bool, err error) {
	for {
		p.mu.Lock()
		var expired []*pconn
		pc, expired = p.popIdle()
		if pc == nil {
			if expired == nil {
				break
			}
			p.mu.Unlock()
			for _, e := range expired {
				e.close()
			}
			continue
		}
		p.mu.Unlock()
		if pc.usable() {
			return pc, true, nil
		}
		p.discard(pc) // the server closed it while idle
	}
	max := p.t.MaxConnsPerHost
	if max <= 0 || p.conns < max {
		p.conns++
		p.mu.Unlock()
		return nil, false, nil
	}
	ch := make(chan *pconn, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case pc = <-ch:
		return pc, pc != nil, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, false, transport.ContextError(ctx.Err())
		}
	}
	p.mu.Unlock()
	// Handed something just as the context ended: give it back.
	if pc = <-ch; pc != nil {
		p.release(pc, true)
	} else {
		p.slotDone()
	}
	return nil, false, transport.ContextError(ctx.Err())
}

// popIdle pops the most recently used idle connection. If it has
// expired, so have all the others (it is the newest): they are all taken
// off the stack and returned as expired, for the caller to close once
// p.mu, which it holds, is released.
func (p *hostPool) popIdle() (pc *pconn, expired []*pconn) {
	n := len(p.idle)
	if n == 0 {
		return nil, nil
	}
	pc = p.idle[n-1]
	if timeout := p.t.idleTimeout(); timeout > 0 && time.Since(pc.idleAt) > timeout {
		expired = make([]*pconn, n)
		copy(expired, p.idle)
		clear(p.idle)
		p.idle = p.idle[:0]
		p.conns -= n
		return nil, expired
	}
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return pc, nil
}

// discard closes a dead connection taken from the idle stack.
func (p *hostPool) discard(pc *pconn) {
	pc.close()
	p.slotDone()
}

// slotDone gives up a connection slot: a connection closed, or a dial
// failed. A waiter, if any, gets the slot to dial.
func (p *hostPool) slotDone() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- nil
		return
	}
	p.conns--
	p.mu.Unlock()
}

// release takes back a connection whose exchange ended. A reusable one
// goes to a waiter or onto the idle stack; otherwise (already closed by
// its protocol layer) its slot is freed.
func (p *hostPool) release(pc *pconn, reusable bool) {
	t := p.t
	if !reusable {
		p.slotDone()
		return
	}
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- pc
		return
	}
	if t.closed.Load() || t.DisableKeepAlives || len(p.idle) >= t.maxIdle() {
		p.conns--
		p.mu.Unlock()
		pc.close()
		return
	}
	pc.idleAt = time.Now()
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
	t.armJanitor()
}

// closeIdle closes the idle connections, or only those idle since before
// cutoff when cutoff is not zero. It returns when the oldest remaining
// one went idle (zero if none remain).
func (p *hostPool) closeIdle(cutoff time.Time) (oldest time.Time) {
	p.mu.Lock()
	n := 0
	if !cutoff.IsZero() {
		for n < len(p.idle) && p.idle[n].idleAt.Before(cutoff) {
			n++
		}
	} else {
		n = len(p.idle)
	}
	closing := make([]*pconn, n)
	copy(closing, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.conns -= n
	if rest > 0 {
		oldest = p.idle[0].idleAt
	}
	p.mu.Unlock()
	for _, pc := range closing {
		pc.close()
	}
	return oldest
}

// dial makes a new connection to the origin, over TLS for https, in the
// slot get reserved.
func (p *hostPool) dial(ctx context.Context) (*pconn, error) {
	pc, err := p.dialConn(ctx)
	if err != nil {
		p.slotDone()
	}
	return pc, err
}

func (p *hostPool) dialConn(ctx context.Context) (*pconn, error) {
	t := p.t
	b, err := t.backend()
	if err != nil {
		return nil, err
	}
	var s transport.Stream
	if p.key.scheme == "https" {
		if t.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t.TLSHandshakeTimeout)
			defer cancel()
		}
		s, err = transport.DialTLS(ctx, b, "tcp", p.addr, t.tlsConfig())
	} else {
		s, err = b.Dial(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, err
	}
	t.dials.Add(1)
	return p.newConn(s)
}
