package protocols

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/transport"
)

// conn is what the pool needs of a client connection, whatever protocol
// it speaks. HTTP/1.1 connections (pconn) carry one exchange at a time:
// they leave the idle stack for an exchange and come back when it ends.
// HTTP/2 connections (h2conn) stay in the pool's list and take callers up
// to the peer's stream limit, each caller holding a slot reserved for it.
type conn interface {
	// roundTrip runs one exchange; the connection reports its end to the
	// pool.
	roundTrip(req *http.Request) (*http.Response, error)
	// retry reports whether a request that failed with err may be sent
	// again on another connection; reused says whether the connection had
	// served a request before. The caller checks that the body can be
	// had again.
	retry(err error, reused bool, req *http.Request) bool
	// goneAway reports whether the connection takes no new requests
	// (after a failure: a retry needs another connection).
	goneAway() bool
	// servedBefore reports whether the connection had carried exchanges
	// to their end before (reused: it came from the pool rather than a
	// dial for this request).
	servedBefore(reused bool) bool
	// close closes the connection.
	close() error
}

// pconn is a pooled HTTP/1.1 connection.
//
// It is kept at 48 bytes, the runtime's size class it had before tracing
// and MaxIdleConns: the TLS handshake makes about 84 short-lived 96-byte
// objects per connection (HMAC and SHA-256 states), and a long-lived
// object of that class lands among them, keeping a mostly empty span alive
// per few connections once they are collected. At 88 bytes, pconn cost an
// idle TLS connection about 1.5 KB of HeapInuse (see
// docs/design/idle-memory.md); TestPconnSize pins the size.
type pconn struct {
	pool  *hostPool
	h1    *h1.Conn // its stream is GotConnInfo.Conn
	idle  monoTime // when it went idle
	trace *httptrace.ClientTrace

	// The transport-wide list of idle connections, oldest first, kept
	// only while Transport.MaxIdleConns is set; guarded by Transport.imu.
	// A connection is on it when older or newer is set, or it is the
	// list's only one (Transport.oldestIdle).
	older, newer *pconn
}

// monoTime is a point of the monotonic clock, in nanoseconds since
// monoBase: a time.Time in 8 bytes instead of 24.
type monoTime int64

// monoBase anchors monoTime.
var monoBase = time.Now()

// monoNow returns the monotonic clock now.
func monoNow() monoTime { return monoTime(time.Since(monoBase)) }

// Time returns m as a time.Time, with its monotonic reading.
func (m monoTime) Time() time.Time { return monoBase.Add(time.Duration(m)) }

var _ conn = (*pconn)(nil)

func (pc *pconn) roundTrip(req *http.Request) (*http.Response, error) {
	pc.trace = httptrace.ContextClientTrace(req.Context())
	return pc.h1.RoundTrip(req)
}

// retry: nothing of the request was written, whatever its method; or a
// stale reused connection, closed by the server before any byte of the
// response, for a request whose method allows a replay.
func (pc *pconn) retry(err error, reused bool, req *http.Request) bool {
	return errors.Is(err, ErrNotProcessed) || reused && retryable(err) && replayable(req)
}

// goneAway: a failed HTTP/1.1 connection is never used again.
func (pc *pconn) goneAway() bool { return true }

// servedBefore: an HTTP/1.1 connection is reused only after an exchange
// ended well.
func (pc *pconn) servedBefore(reused bool) bool { return reused }

func (pc *pconn) usable() bool { return pc.h1.Usable() }

func (pc *pconn) close() error { return pc.h1.Close() }

// done is the h1 connection's OnDone: its exchange ended.
func (pc *pconn) done(reusable bool) { pc.pool.release(pc, reusable) }

// h2conn is a pooled HTTP/2 connection.
type h2conn struct {
	pool   *hostPool
	c      *h2.Conn
	s      transport.Stream // for GotConnInfo.Conn
	served atomic.Int64     // responses received
	used   atomic.Bool      // given to a request: GotConnInfo.Reused after
}

var _ conn = (*h2conn)(nil)

// roundTrip runs the request on its reserved stream slot. With
// MaxConnsPerHost set, callers may be waiting for a slot: the end of the
// request (its failure, or its body's end) tells the pool.
func (hc *h2conn) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := hc.c.RoundTrip(req)
	p := hc.pool
	if err == nil {
		hc.served.Add(1)
	}
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		if p.t.MaxConnsPerHost > 0 {
			p.streamFreed()
		}
		if err != nil {
			return nil, &Error{Op: "roundtrip", Proto: protoNameHTTP2, Addr: p.addr, Err: h2Cause(err)}
		}
		return resp, nil
	}
	resp.Body = &streamBody{ReadCloser: resp.Body, p: p}
	return resp, nil
}

// streamBody is the body of an HTTP/2 response: its failures get the
// transport's error shape, and, while MaxConnsPerHost is set, its end
// (EOF, an error or Close) wakes a caller waiting for a stream slot.
type streamBody struct {
	io.ReadCloser
	p    *hostPool
	done atomic.Bool
}

func (b *streamBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if err != nil {
		b.end()
		if err != io.EOF {
			err = &Error{Op: "body", Proto: protoNameHTTP2, Addr: b.p.addr, Err: err}
		}
	}
	return n, err
}

func (b *streamBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (b *streamBody) end() {
	if b.done.CompareAndSwap(false, true) && b.p.t.MaxConnsPerHost > 0 {
		b.p.streamFreed()
	}
}

// retry: the server certainly did not process the request (refused
// stream, GOAWAY before it, a connection going away), or it reset the
// stream with PROTOCOL_ERROR before any response (as net/http's
// canRetryError, golang/go#47635), whatever its method; or, as for
// HTTP/1.1, a reused connection broke before the response began (an
// HTTP/2 RoundTrip fails only before the response head) and the method
// allows a replay.
func (hc *h2conn) retry(err error, reused bool, req *http.Request) bool {
	if errors.Is(err, ErrNotProcessed) || h2.IsResetByPeerProtocolError(err) {
		return true
	}
	return reused && replayable(req) && hc.c.State().Closed && !isContextErr(err) &&
		!isTimeout(err) && !errors.Is(err, h2.ErrFlood)
}

func (hc *h2conn) close() error { return hc.c.Close() }

func (hc *h2conn) goneAway() bool { return hc.c.State().GoingAway }

func (hc *h2conn) servedBefore(bool) bool { return hc.served.Load() > 0 }

// idle is the h2 connection's OnIdle: its last request ended.
func (hc *h2conn) idle() { hc.pool.h2Idle(hc) }

// key identifies an origin: scheme and authority, without the scheme's
// default port, so that "example.com" and "example.com:80" share a pool;
// and the proxy it is reached through (proxyKey, "" for none). Connections
// that forward http requests to a proxy serve every http origin: their
// key has no host. The transport's TLS settings are the same for every
// origin.
type key struct {
	scheme, host string
	proxy        string
}

// dialCall is a dial in flight that callers arriving meanwhile may wait
// for, when it may give an HTTP/2 connection they can share. Its fields
// are guarded by the pool's mu.
type dialCall struct {
	ended bool
	err   error // the dial's error, once ended
}

// grant is what a caller waiting at MaxConnsPerHost is given: an idle
// HTTP/1.1 connection, or a connection slot to dial in; with neither, an
// HTTP/2 stream slot came free and the caller looks again.
type grant struct {
	pc   *pconn
	dial bool
}

// hostPool holds the connections to one origin: HTTP/1.1 connections on
// an idle stack (most recently used on top), HTTP/2 connections in a list
// shared by callers, a count of open and dialing connections for
// MaxConnsPerHost, and callers waiting for a connection.
type hostPool struct {
	t    *Transport
	key  key
	addr string // host:port to dial: the origin, or a forwarding proxy

	proxy   *url.URL // the proxy the connections go through, or nil
	forward bool     // requests go in absolute form to the proxy

	wrapH1 func(*h1.Error) error // h1Error, made once for the pool's connections

	mu       sync.Mutex
	idle     []*pconn
	h2       []*h2conn // taking new requests
	draining []*h2conn // going away, their last requests in flight
	conns    int       // open or being dialed
	waiters  []chan grant
	pending  *dialCall     // a dial that may give a shared HTTP/2 connection
	news     chan struct{} // closed when a dial ends; nil until someone waits
	h1only   bool          // the origin answered HTTP/1.1: dials are not shared
	gone     atomic.Bool   // taken off the transport's map: get fails with errPoolGone

	tlsOnce sync.Once
	tlsCfg  *tls.Config // the transport's TLS config with ServerName set

	proxyOnce sync.Once
	proxyOpts proxyOptions // for dials through proxy
}

// proxyOptions returns the options of dials through the pool's proxy, made
// once per pool.
func (p *hostPool) proxyOptions() proxyOptions {
	p.proxyOnce.Do(func() {
		t := p.t
		p.proxyOpts = proxyOptions{
			TLSConfig:         proxyTLSConfig(t.TLSClientConfig, p.proxy),
			ConnectHeader:     t.ProxyConnectHeader,
			GetConnectHeader:  t.GetProxyConnectHeader,
			OnConnectResponse: t.OnProxyConnectResponse,
			MaxHeaderBytes:    t.MaxResponseHeaderBytes,
			UserAgent:         t.UserAgent,
			Tunnel:            t.H2C,
		}
	})
	return p.proxyOpts
}

// tlsConfig returns the transport's TLS config with ServerName set for this
// origin, made once per pool. Every tls.Conn keeps a pointer to its config,
// so letting DialTLS make a copy per dial would keep one copy (about half
// a kilobyte) alive with every idle connection.
func (p *hostPool) tlsConfig() *tls.Config {
	p.tlsOnce.Do(func() {
		cfg := p.t.tlsConfig()
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			host, _, err := net.SplitHostPort(p.addr)
			if err != nil {
				host = p.addr
			}
			cfg.ServerName = host
		}
		p.tlsCfg = cfg
	})
	return p.tlsCfg
}

// maxDialShare bounds how long a caller waits for a dial that another
// caller started (see shareWait).
const maxDialShare = time.Second

// shareWait is how long a caller with ctx waits for another caller's dial
// before it dials its own connection: maxDialShare, and never more than a
// quarter of the time its own deadline leaves, so that a dial that never
// ends (a server that accepts and never answers) delays the others only
// briefly and leaves them most of their time for a dial of their own.
func shareWait(ctx context.Context) time.Duration {
	d := maxDialShare
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/4)
	}
	return d
}

// get returns a connection for one request: an HTTP/2 connection with a
// stream slot reserved, or an idle HTTP/1.1 connection (reused true), or
// nil when the caller is to dial a new one, in a connection slot reserved
// for it. A dial that may give a shared HTTP/2 connection is returned as
// a dialCall, for dial to end.
//
// A caller waits for a dial in flight that may give a shared HTTP/2
// connection (for shareWait at most, then it dials its own), and, while
// the origin is at MaxConnsPerHost, for a connection or a stream slot.
//
// When idle is not nil (the request is traced), it is set to when the
// connection taken went idle, if it was idle: for GotConnInfo.
func (p *hostPool) get(ctx context.Context, idle *time.Time) (c conn, reused bool, d *dialCall, err error) {
	ownDial := false // waited long enough for another caller's dial
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		if p.gone.Load() {
			p.mu.Unlock()
			return nil, false, nil, errPoolGone
		}
		if len(p.h2) > 0 || len(p.draining) > 0 {
			hc, dead := p.pickH2Locked(idle)
			if hc != nil || dead != nil {
				p.mu.Unlock()
				closeAll(dead)
				if hc != nil {
					return hc, true, nil, nil
				}
				continue
			}
		}
		pc, expired := p.popIdle()
		if pc == nil && expired != nil {
			p.mu.Unlock()
			closeAll(expired)
			continue
		}
		if pc != nil {
			p.mu.Unlock()
			if pc.usable() {
				if idle != nil {
					*idle = pc.idle.Time()
				}
				return pc, true, nil, nil
			}
			p.discard(pc) // the server closed it while idle
			continue
		}
		if pd := p.pending; pd != nil && !ownDial && p.mayShareDial() {
			news := p.newsLocked()
			p.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(shareWait(ctx))
			}
			select {
			case <-news:
			case <-timer.C:
				ownDial = true
				continue
			case <-ctx.Done():
				return nil, false, nil, p.waitError(ctx)
			}
			p.mu.Lock()
			ended, derr := pd.ended, pd.err
			p.mu.Unlock()
			if ended && derr != nil && !isContextErr(derr) {
				return nil, false, nil, derr
			}
			continue // a connection or a failure to look at
		}
		if max := p.t.MaxConnsPerHost; max <= 0 || p.conns < max {
			p.conns++
			d = p.startDialLocked()
			p.mu.Unlock()
			return nil, false, d, nil
		}
		// At the limit, with no stream slot free on any HTTP/2
		// connection: wait for a connection or a slot.
		ch := make(chan grant, 1)
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()
		select {
		case g := <-ch:
			switch {
			case g.pc != nil:
				return g.pc, true, nil, nil
			case g.dial:
				p.mu.Lock()
				d = p.startDialLocked()
				p.mu.Unlock()
				return nil, false, d, nil
			}
			continue // a stream slot came free
		case <-ctx.Done():
		}
		p.mu.Lock()
		if i := slices.Index(p.waiters, ch); i >= 0 {
			p.waiters = slices.Delete(p.waiters, i, i+1)
			p.mu.Unlock()
			return nil, false, nil, p.waitError(ctx)
		}
		p.mu.Unlock()
		// Granted something just as the context ended: pass it on.
		switch g := <-ch; {
		case g.pc != nil:
			p.release(g.pc, true)
		case g.dial:
			p.slotDone()
		default:
			p.streamFreed()
		}
		return nil, false, nil, p.waitError(ctx)
	}
}

// waitError is the error of a caller whose context ended while it waited
// for a connection.
func (p *hostPool) waitError(ctx context.Context) error {
	return &Error{Op: "dial", Proto: p.proto(), Addr: p.addr, Err: transport.ContextError(ctx.Err())}
}

// proto is the protocol a new connection to p's origin will speak, if it
// is known before the dial: not for https, where ALPN decides.
func (p *hostPool) proto() string {
	switch {
	case p.key.scheme == "https":
		return ""
	case p.t.H2C:
		return protoNameHTTP2
	default:
		return protoNameHTTP11
	}
}

// startDialLocked makes the dial about to start the shared one, when it
// may give an HTTP/2 connection and no shared dial is in flight.
func (p *hostPool) startDialLocked() *dialCall {
	if p.pending != nil || !p.mayShareDial() {
		return nil
	}
	p.pending = &dialCall{}
	return p.pending
}

// newsLocked returns the channel closed when the next dial ends.
func (p *hostPool) newsLocked() chan struct{} {
	if p.news == nil {
		p.news = make(chan struct{})
	}
	return p.news
}

// pickH2Locked moves the HTTP/2 connections that went away to the
// draining list, takes the idle or closed ones among those off the pool
// (returned as dead, for the caller to close once p.mu is released; their
// connection slots are freed), and picks the first connection that grants
// a stream slot, so that connections fill up in turn.
//
// When idle is not nil, it is set to when the connection picked went
// idle, if it had nothing in flight.
func (p *hostPool) pickH2Locked(idle *time.Time) (pick *h2conn, dead []*h2conn) {
	dead = p.sweepH2Locked()
	for _, hc := range p.h2 {
		var since time.Time
		if idle != nil {
			since = hc.c.State().LastIdle
		}
		if hc.c.Reserve() {
			if idle != nil {
				*idle = since
			}
			return hc, dead
		}
	}
	return nil, dead
}

// sweepH2Locked moves the HTTP/2 connections that went away to the
// draining list, and takes the closed or idle ones among those off the
// pool, freeing their slots; the caller closes them once p.mu is
// released.
func (p *hostPool) sweepH2Locked() (dead []*h2conn) {
	live := p.h2[:0]
	for _, hc := range p.h2 {
		if hc.c.State().GoingAway {
			p.draining = append(p.draining, hc)
			continue
		}
		live = append(live, hc)
	}
	clear(p.h2[len(live):])
	p.h2 = live
	kept := p.draining[:0]
	for _, hc := range p.draining {
		if st := hc.c.State(); st.Closed || st.Active+st.Reserved == 0 {
			dead = append(dead, hc)
			continue
		}
		kept = append(kept, hc)
	}
	clear(p.draining[len(kept):])
	p.draining = kept
	p.slotsFreedLocked(len(dead))
	return dead
}

// closeAll closes the connections, which are off the pool.
func closeAll[C conn](cs []C) {
	for _, c := range cs {
		c.close()
	}
}

// h2Idle is called when an HTTP/2 connection's last request ended (or
// its last stream closed, one still sending a request body after its
// response). One that went away (or whose transport is closed) is closed
// and forgotten; otherwise the janitor will time its idleness, and a
// caller waiting at MaxConnsPerHost looks again for a stream slot.
func (p *hostPool) h2Idle(hc *h2conn) {
	st := hc.c.State()
	if !st.GoingAway && !p.t.closed.Load() {
		p.t.armJanitor()
		if p.t.MaxConnsPerHost > 0 {
			p.streamFreed()
		}
		return
	}
	p.mu.Lock()
	found := p.removeH2Locked(hc)
	p.mu.Unlock()
	if found {
		hc.close()
		p.slotDone()
	}
}

// removeH2Locked takes hc off the pool's lists and reports whether it was
// there.
func (p *hostPool) removeH2Locked(hc *h2conn) bool {
	if i := slices.Index(p.h2, hc); i >= 0 {
		p.h2 = slices.Delete(p.h2, i, i+1)
		return true
	}
	if i := slices.Index(p.draining, hc); i >= 0 {
		p.draining = slices.Delete(p.draining, i, i+1)
		return true
	}
	return false
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
	if timeout := p.t.idleTimeout(); timeout > 0 && time.Duration(monoNow()-pc.idle) > timeout {
		expired = make([]*pconn, n)
		copy(expired, p.idle)
		for _, pc := range expired {
			p.t.unlistIdle(pc)
		}
		clear(p.idle)
		p.idle = p.idle[:0]
		p.slotsFreedLocked(n)
		return nil, expired
	}
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.t.unlistIdle(pc)
	return pc, nil
}

// errPoolGone is the error of get on a pool the janitor took off the
// transport's map (it had no connection left): the caller looks the pool
// up again.
var errPoolGone = errors.New("protocols: pool removed")

// emptyLocked reports whether the pool holds nothing: no connection open
// or being dialed, no caller waiting.
func (p *hostPool) emptyLocked() bool {
	return p.conns == 0 && len(p.waiters) == 0 && p.pending == nil &&
		len(p.idle) == 0 && len(p.h2) == 0 && len(p.draining) == 0
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
	p.slotsFreedLocked(1)
	p.mu.Unlock()
}

// slotsFreedLocked gives up n connection slots: each goes to the first
// waiter, to dial in, or is freed.
func (p *hostPool) slotsFreedLocked(n int) {
	for ; n > 0; n-- {
		if w, ok := p.popWaiterLocked(); ok {
			w <- grant{dial: true}
			continue
		}
		p.conns--
	}
	if p.conns == 0 {
		p.t.armPoolSweep() // to take the pool off the map
	}
}

// popWaiterLocked takes the first caller waiting at MaxConnsPerHost off
// the queue. Its channel has room for the grant, so sending it one never
// blocks.
func (p *hostPool) popWaiterLocked() (chan grant, bool) {
	if len(p.waiters) == 0 {
		return nil, false
	}
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	return w, true
}

// streamFreed is called when a request on an HTTP/2 connection ended
// while a limit is set: the first caller waiting at MaxConnsPerHost, if
// any, looks again for a stream slot.
func (p *hostPool) streamFreed() {
	p.mu.Lock()
	if w, ok := p.popWaiterLocked(); ok {
		w <- grant{}
	}
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
	if w, ok := p.popWaiterLocked(); ok {
		p.mu.Unlock()
		tracePutIdle(pc, nil) // handed on, as net/http counts it
		w <- grant{pc: pc}
		return
	}
	if err := p.idleRefusedLocked(); err != nil {
		p.slotsFreedLocked(1) // no waiter: checked above
		p.mu.Unlock()
		pc.close()
		tracePutIdle(pc, err)
		return
	}
	tracePutIdle(pc, nil)
	pc.idle = monoNow()
	p.idle = append(p.idle, pc)
	evict := t.listIdle(pc)
	p.mu.Unlock()
	t.armJanitor()
	if evict {
		t.evictIdle()
	}
}

// Errors given to httptrace's PutIdleConn for an HTTP/1.1 connection
// that could be reused but is not kept.
var (
	errIdleClosed   = errors.New("protocols: transport closed, connection not kept idle")
	errIdleDisabled = errors.New("protocols: keep-alives disabled, connection not kept idle")
	errIdleTooMany  = errors.New("protocols: MaxIdleConnsPerHost reached, connection not kept idle")
)

// idleRefusedLocked returns why a reusable connection cannot go on the
// idle stack, or nil.
func (p *hostPool) idleRefusedLocked() error {
	t := p.t
	switch {
	case t.closed.Load():
		return errIdleClosed
	case t.DisableKeepAlives || t.MaxIdleConnsPerHost < 0:
		return errIdleDisabled
	case len(p.idle) >= t.maxIdle():
		return errIdleTooMany
	}
	return nil
}

// tracePutIdle reports to the exchange's trace, if it has PutIdleConn,
// whether pc was kept for reuse (nil) or not; as net/http, not when
// keep-alives are off.
func tracePutIdle(pc *pconn, err error) {
	if tr := pc.trace; tr != nil {
		pc.trace = nil
		if tr.PutIdleConn != nil && err != errIdleDisabled {
			tr.PutIdleConn(err)
		}
	}
}

// gotConnInfo is what httptrace's GotConn is told of c, taken by a
// request: reused (from the idle stack or a waiter hand-off; for HTTP/2,
// another request had the connection before, as net/http tells it), and
// when it went idle if it was.
func gotConnInfo(c conn, reused bool, idleSince time.Time) httptrace.GotConnInfo {
	var info httptrace.GotConnInfo
	switch c := c.(type) {
	case *pconn:
		info.Conn, info.Reused = c.h1.Stream(), reused
	case *h2conn:
		info.Conn, info.Reused = c.s, reused
	}
	if info.Reused && !idleSince.IsZero() {
		info.WasIdle, info.IdleTime = true, time.Since(idleSince)
	}
	return info
}

// closeIdle closes the idle connections, or only those idle since before
// cutoff when cutoff is not zero. It returns when the oldest remaining
// one went idle (zero if none remain).
func (p *hostPool) closeIdle(cutoff time.Time) (oldest time.Time) {
	p.mu.Lock()
	n := 0
	if !cutoff.IsZero() {
		for n < len(p.idle) && p.idle[n].idle.Time().Before(cutoff) {
			n++
		}
	} else {
		n = len(p.idle)
	}
	closing := make([]*pconn, n)
	copy(closing, p.idle[:n])
	for _, pc := range closing {
		p.t.unlistIdle(pc)
	}
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.slotsFreedLocked(n)
	if rest > 0 {
		oldest = p.idle[0].idle.Time()
	}
	var dead []*h2conn
	if len(p.h2) > 0 || len(p.draining) > 0 {
		dead = p.sweepH2Locked()
		live := p.h2[:0]
		for _, hc := range p.h2 {
			st := hc.c.State()
			switch {
			case st.LastIdle.IsZero(): // busy
			case cutoff.IsZero() || st.LastIdle.Before(cutoff):
				// Idle and expired: no slot can be reserved on it
				// while p.mu is held, so it can be closed safely.
				dead = append(dead, hc)
				p.slotsFreedLocked(1)
				continue
			case oldest.IsZero() || st.LastIdle.Before(oldest):
				oldest = st.LastIdle
			}
			live = append(live, hc)
		}
		clear(p.h2[len(live):])
		p.h2 = live
	}
	p.mu.Unlock()
	closeAll(closing)
	closeAll(dead)
	return oldest
}

// dial makes a new connection to the origin, over TLS for https, in the
// slot get reserved. When the dial was shared (d, from get), the callers
// waiting for it are woken: an HTTP/2 connection is in the list for
// them, with a stream slot reserved for this caller first. Callers
// waiting at MaxConnsPerHost look again at a new HTTP/2 connection.
func (p *hostPool) dial(ctx context.Context, d *dialCall) (conn, error) {
	c, err := p.dialConn(ctx)
	if err == nil {
		if hc, ok := c.(*h2conn); ok {
			// Without a slot on a connection that has not gone away, the
			// peer allows no streams for now (SETTINGS_MAX_CONCURRENT_STREAMS
			// 0): the request waits on it for one (RoundTrip does without
			// a reservation), until the peer raises its limit or the
			// request's context ends; another connection would meet the
			// same server.
			if !hc.c.Reserve() && hc.c.State().GoingAway {
				// Gone away at once (GOAWAY right after SETTINGS).
				hc.close()
				c, err = nil, &Error{Op: "handshake", Proto: protoNameHTTP2, Addr: p.addr,
					Err: fmt.Errorf("%w: %w", ErrNotProcessed, transport.ErrClosed)}
			} else {
				// The dialing request has the connection first, before
				// the waiters granted below: theirs is reused, its is
				// not, whichever of them runs first.
				hc.used.Store(true)
			}
		}
	}
	p.mu.Lock()
	if d != nil {
		d.ended, d.err = true, err
		if p.pending == d {
			p.pending = nil
		}
	}
	switch c := c.(type) {
	case *h2conn:
		p.h2 = append(p.h2, c)
		for {
			w, ok := p.popWaiterLocked()
			if !ok {
				break
			}
			w <- grant{}
		}
	case *pconn:
		p.h1only = true
	}
	if err != nil {
		p.slotsFreedLocked(1)
	}
	if p.news != nil {
		close(p.news)
		p.news = nil
	}
	p.mu.Unlock()
	if _, ok := c.(*h2conn); ok {
		p.t.armJanitor()
	}
	return c, err
}

// dialConn dials a connection and builds the client connection over it.
// Its errors are *Error values.
func (p *hostPool) dialConn(ctx context.Context) (conn, error) {
	t := p.t
	b, err := t.backend()
	if err != nil {
		return nil, &Error{Op: "dial", Proto: p.proto(), Addr: p.addr, Err: err}
	}
	var s transport.Stream
	if d := t.setupTimeout(); d > 0 && (p.key.scheme == "https" || t.H2C || p.proxy != nil && p.proxy.Scheme == "https") {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	switch {
	case p.proxy != nil:
		s, err = dialProxy(ctx, b, p.proxy, p.key.scheme, p.addr, p.proxyOptions())
		if err != nil {
			return nil, &Error{Op: "proxy", Proto: p.proto(), Addr: p.addr, Err: err}
		}
		if p.key.scheme == "https" {
			s, err = transport.StartTLS(ctx, s, p.tlsConfig())
		}
	case p.key.scheme == "https":
		s, err = transport.DialTLS(ctx, b, "tcp", p.addr, p.tlsConfig())
	default:
		s, err = b.Dial(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, &Error{Op: dialOp(err), Proto: p.proto(), Addr: p.addr, Err: err}
	}
	t.dials.Add(1)
	return p.newConn(ctx, s)
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// isContextErr reports whether err is a context's end.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// traceAddr is the host:port httptrace's GetConn is given, as net/http
// gives it: the proxy's when there is one, else the origin's.
func (p *hostPool) traceAddr() string {
	if p.proxy != nil {
		if addr, err := proxyAddr(p.proxy); err == nil {
			return addr
		}
	}
	return p.addr
}
