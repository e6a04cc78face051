package epoll

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// States of a pollDir, the readiness of one direction of a stream.
const (
	pollIdle    uint32 = iota // nothing known since the last drain
	pollReady                 // the loop reported readiness since
	pollWaiting               // a caller is parked on ch
)

// pollDir is the readiness and wait state of one direction (read or write)
// of a stream. Exactly one goroutine at a time may wait on it (the stream's
// per-direction mutex sees to that).
//
// The protocol: the waiter moves state from idle to waiting and then
// receives from ch. The loop swaps the state to ready and sends one token
// if it found waiting; poke (deadline, close) moves waiting back to idle
// and sends one token. Exactly one token is sent per wait, and the waiter
// takes it, so ch is empty between waits and a wake-up is never lost.
type pollDir struct {
	state   atomic.Uint32
	leading atomic.Bool   // the waiter is the loop's leader, polling
	ch      chan struct{} // capacity 1; made by the first wait (see waitUntil)

	// deadline is the monotonic time (monoNow) at which operations time
	// out; 0 means none.
	deadline atomic.Int64

	tmu   sync.Mutex  // guards timer
	timer *time.Timer // wakes the waiter at the deadline; nil until needed
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow returns the monotonic clock in nanoseconds since monoBase, the
// same clock the runtime's timers use.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// ready records readiness reported by the loop and wakes the waiter.
func (d *pollDir) ready(l *loop) {
	if d.state.Load() == pollReady {
		return
	}
	if d.state.Swap(pollReady) == pollWaiting {
		d.wake(l, false)
	}
}

// poke wakes the waiter, if any, without claiming readiness, so that it
// looks again at the deadline and the closed flag.
func (d *pollDir) poke(l *loop) {
	if d.state.CompareAndSwap(pollWaiting, pollIdle) {
		d.wake(l, true)
	}
}

// wake hands the token to the waiter whose wait the caller ended. A
// follower is uncounted here, so that the leader's count is exact when it
// decides to step down; a leader sleeps in the poller, not on ch, so it is
// interrupted through the loop's eventfd when poked. When ready finds a
// leader's wait, the caller is that leader, dispatching its own event: a
// loop has one leader at a time, and a leader's wait is marked leading
// only while it leads. It sees the change itself after the harvest.
//
// The leader is interrupted before it gets its token: until then its
// stream, and so the loop's eventfd, cannot be closed.
func (d *pollDir) wake(l *loop, poked bool) {
	leading := d.leading.Load()
	if !leading {
		l.waiters.Add(-1)
	} else if poked {
		l.interrupt()
	}
	d.ch <- struct{}{}
}

// expired reports whether the deadline has passed.
func (d *pollDir) expired() bool {
	w := d.deadline.Load()
	return w != 0 && monoNow() >= w
}

// wait parks the caller until the loop reports readiness, or until a poke.
// It returns at once when readiness arrived already, or when the stream is
// closed or past the deadline after the caller announced itself, so that a
// poke that came just before the caller parked is not lost.
//
// If no goroutine is polling the loop, the caller polls it itself (see
// loop.lead) until its own wait is over; otherwise it parks on ch as a
// follower and the leader wakes it.
func (d *pollDir) wait(s *stream) { d.waitUntil(s, nil) }

// waitUntil is wait that also ends when ctx, if not nil, is done.
func (d *pollDir) waitUntil(s *stream, ctx context.Context) {
	if d.ch == nil {
		// Only the waiter touches ch until it announces itself below:
		// a waker reads it after seeing pollWaiting, which is stored
		// after this. A stream that never waits in one direction
		// holds no channel for it.
		d.ch = make(chan struct{}, 1)
	}
	l := s.loop
	lead := !l.cfg.BlockingWait && l.leader.CompareAndSwap(0, 1)
	d.leading.Store(lead)
	if !lead {
		l.follow()
	}
	if !d.state.CompareAndSwap(pollIdle, pollWaiting) {
		d.unannounce(l, lead) // readiness came already
		return
	}
	if s.closed.Load() || d.expired() || (ctx != nil && ctx.Err() != nil) {
		if d.state.CompareAndSwap(pollWaiting, pollIdle) {
			d.unannounce(l, lead)
			return
		}
		<-d.ch // a waker took the wait over; take its token
	} else if lead {
		l.leadWait(d)
		<-d.ch
	} else {
		<-d.ch
		return
	}
	if lead {
		d.leading.Store(false)
		l.stepDown()
	}
}

// unannounce undoes wait's choice of role when no waker saw it.
func (d *pollDir) unannounce(l *loop, lead bool) {
	if lead {
		d.leading.Store(false)
		l.stepDown()
	} else {
		l.waiters.Add(-1)
	}
}

// waitContext is wait bounded by ctx as well, for connect: ctx's end
// pokes the waiter. The caller checks ctx afterwards.
func (d *pollDir) waitContext(ctx context.Context, s *stream) {
	if ctx.Done() == nil {
		d.wait(s)
		return
	}
	stop := context.AfterFunc(ctx, func() { d.poke(s.loop) })
	d.waitUntil(s, ctx)
	stop()
}

// setDeadline sets the deadline to t (none when zero), arms the timer that
// wakes a waiter then, and pokes a current waiter so that it re-reads the
// deadline. It reports false if the stream is closed.
func (d *pollDir) setDeadline(s *stream, t time.Time) bool {
	l := s.loop
	d.tmu.Lock()
	if s.closed.Load() {
		d.tmu.Unlock()
		return false
	}
	if t.IsZero() {
		d.deadline.Store(0)
		if d.timer != nil {
			d.timer.Stop()
		}
	} else {
		dur := time.Until(t)
		now := monoNow()
		w := now + int64(dur)
		switch {
		case dur > 0 && w < now:
			w = math.MaxInt64 // centuries away: never, in practice
		case w <= 0:
			w = 1
		}
		d.deadline.Store(w)
		switch {
		case dur <= 0:
			if d.timer != nil {
				d.timer.Stop()
			}
		case d.timer == nil:
			d.timer = time.AfterFunc(dur, func() { d.poke(l) })
		default:
			d.timer.Reset(dur)
		}
	}
	d.tmu.Unlock()
	d.poke(l)
	return true
}

// stopTimer stops the deadline timer for good; called by Close after the
// closed flag is set, so setDeadline cannot arm it again.
func (d *pollDir) stopTimer() {
	d.tmu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.tmu.Unlock()
}
