package epoll

import (
	"context"
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
	state atomic.Uint32
	ch    chan struct{} // capacity 1

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
func (d *pollDir) ready() {
	if d.state.Load() == pollReady {
		return
	}
	if d.state.Swap(pollReady) == pollWaiting {
		d.ch <- struct{}{}
	}
}

// poke wakes the waiter, if any, without claiming readiness, so that it
// looks again at the deadline and the closed flag.
func (d *pollDir) poke() {
	if d.state.CompareAndSwap(pollWaiting, pollIdle) {
		d.ch <- struct{}{}
	}
}

// expired reports whether the deadline has passed.
func (d *pollDir) expired() bool {
	w := d.deadline.Load()
	return w != 0 && monoNow() >= w
}

// wait parks the caller until the loop reports readiness, or until a poke.
// It returns at once when readiness arrived already, or when stop (closed
// or past the deadline) holds after the caller announced itself, so that a
// poke that came just before the caller parked is not lost.
func (d *pollDir) wait(s *stream) {
	if !d.state.CompareAndSwap(pollIdle, pollWaiting) {
		return
	}
	if s.closed.Load() || d.expired() {
		if !d.state.CompareAndSwap(pollWaiting, pollIdle) {
			<-d.ch // a waker took the wait over; take its token
		}
		return
	}
	<-d.ch
}

// waitContext is wait bounded by ctx, for connect. It returns ctx's error
// if ctx ended first.
func (d *pollDir) waitContext(ctx context.Context) error {
	if !d.state.CompareAndSwap(pollIdle, pollWaiting) {
		return nil
	}
	select {
	case <-d.ch:
		return nil
	case <-ctx.Done():
		if !d.state.CompareAndSwap(pollWaiting, pollIdle) {
			<-d.ch
		}
		return ctx.Err()
	}
}

// setDeadline sets the deadline to t (none when zero), arms the timer that
// wakes a waiter then, and pokes a current waiter so that it re-reads the
// deadline. It reports false if the stream is closed.
func (d *pollDir) setDeadline(s *stream, t time.Time) bool {
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
		w := monoNow() + int64(dur)
		if w <= 0 {
			w = 1
		}
		d.deadline.Store(w)
		switch {
		case dur <= 0:
			if d.timer != nil {
				d.timer.Stop()
			}
		case d.timer == nil:
			d.timer = time.AfterFunc(dur, d.poke)
		default:
			d.timer.Reset(dur)
		}
	}
	d.tmu.Unlock()
	d.poke()
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
