package mock

import "time"

// Fault changes how connections to an address behave. Faults are given to
// Backend.Handle and combine freely; each counts bytes and nothing else,
// so a test that uses them behaves the same on every run.
type Fault struct {
	apply func(*faults)
}

// faults is the set of faults of one address.
type faults struct {
	refuse      bool
	stall       bool
	delay       time.Duration
	splitReads  int
	splitWrites int
	resetAfter  int // negative: none
	closeAfter  int // negative: none
}

func newFaults() faults { return faults{resetAfter: -1, closeAfter: -1} }

// Refuse makes Dials to the address fail with an *transport.OpError
// wrapping syscall.ECONNREFUSED, after any Delay.
func Refuse() Fault { return Fault{func(f *faults) { f.refuse = true }} }

// Delay makes each Dial to the address take d before it connects or is
// refused. The Dial's context still rules: when it ends first, the Dial
// fails with transport.ErrTimeout (deadline) or context.Canceled.
func Delay(d time.Duration) Fault { return Fault{func(f *faults) { f.delay = d }} }

// Stall makes the connection succeed and the peer never answer: it reads
// nothing and sends nothing, so the client's reads block until their
// deadline or Close, and its writes once the buffer (1 MiB) is full. The
// peer is not run at all.
func Stall() Fault { return Fault{func(f *faults) { f.stall = true }} }

// SplitReads makes the peer's bytes arrive in pieces of at most n bytes:
// no client Read returns more than n. n < 1 counts as 1.
func SplitReads(n int) Fault { return Fault{func(f *faults) { f.splitReads = max(n, 1) }} }

// SplitWrites makes the client's writes reach the peer in pieces of at
// most n bytes: no peer Read returns more than n. n < 1 counts as 1.
func SplitWrites(n int) Fault { return Fault{func(f *faults) { f.splitWrites = max(n, 1) }} }

// ResetAfter resets the connection once the peer has sent n bytes: the
// client reads those n bytes, then every Read and Write on either end
// fails with an error matching syscall.ECONNRESET. The peer's write that
// crosses the limit sends only the bytes up to it. n <= 0 resets the
// connection as soon as it is made.
func ResetAfter(n int) Fault { return Fault{func(f *faults) { f.resetAfter = max(n, 0) }} }

// CloseAfter closes the peer's end cleanly once it has sent n bytes: the
// client reads those n bytes, then io.EOF, and its writes fail with an
// error matching syscall.EPIPE; the peer's own calls fail with
// net.ErrClosed. n <= 0 closes the peer's end as soon as the connection is
// made. When ResetAfter is also set, the smaller count applies, and the
// reset on a tie.
func CloseAfter(n int) Fault { return Fault{func(f *faults) { f.closeAfter = max(n, 0) }} }

// install applies the faults that act on the bytes of p.
func (f *faults) install(p *pair) {
	if f.splitReads > 0 {
		p.dirs[peerSide].piece = f.splitReads
	}
	if f.splitWrites > 0 {
		p.dirs[clientSide].piece = f.splitWrites
	}
	limit, action := -1, func() {}
	if f.closeAfter >= 0 {
		limit, action = f.closeAfter, func() { p.peer().closeLocked() }
	}
	if f.resetAfter >= 0 && (limit < 0 || f.resetAfter <= limit) {
		limit, action = f.resetAfter, p.resetLocked
	}
	if limit == 0 {
		action()
		return
	}
	p.dirs[peerSide].limit = limit
	p.dirs[peerSide].onLimit = action
}
