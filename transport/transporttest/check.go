package transporttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// The suite's time limits. They are generous, so that a loaded machine
// running -race does not make a check fail, and they only bound waits that
// end at once on a working implementation; the suite's own tests shorten
// them to run the failure paths quickly.
var (
	// checkTimeout bounds one check; a check still running then has hung.
	checkTimeout = time.Minute
	// ioTimeout is the deadline checks put on their reads and writes, so
	// a broken stream fails a check instead of hanging it.
	ioTimeout = 10 * time.Second
	// pipeTimeout bounds the dial and accept that make one pair.
	pipeTimeout = 10 * time.Second
	// dialTimeout bounds dials that are expected to end on their own.
	dialTimeout = 10 * time.Second
	// hangDeadline is the deadline (or ConnectTimeout) given to dials that
	// cannot complete; hangSlack is how much later than it they may return.
	hangDeadline = 200 * time.Millisecond
	hangSlack    = 15 * time.Second
	// settleTime is how long VerifyNoLeaks waits for closes to settle.
	settleTime = 3 * time.Second
)

// skipError makes a check skip its subtest instead of failing it.
type skipError struct{ reason error }

func (e *skipError) Error() string { return e.reason.Error() }
func (e *skipError) Unwrap() error { return e.reason }

// skipf returns an error that skips the subtest with a reason.
func skipf(format string, args ...any) error {
	return &skipError{fmt.Errorf(format, args...)}
}

// run runs check under a watchdog and reports its outcome on t: a failure,
// a skip or nothing. If check does not return within checkTimeout, onHang
// (which should unblock it) is called and the test fails.
func run(t testing.TB, check func() error, onHang func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- check() }()
	timer := time.NewTimer(checkTimeout)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		onHang()
		t.Fatalf("transporttest: check still running after %v; it hung", checkTimeout)
	}
	var skip *skipError
	switch {
	case errors.As(err, &skip):
		t.Skip(skip.reason)
	case err != nil:
		t.Fatal(err)
	}
}

// exchange sends a message each way between s and peer.
func exchange(s transport.Stream, peer net.Conn) error {
	if err := transfer(s, peer, []byte("hello from the stream")); err != nil {
		return fmt.Errorf("stream to peer: %w", err)
	}
	if err := transfer(peer, s, []byte("hello from the peer")); err != nil {
		return fmt.Errorf("peer to stream: %w", err)
	}
	return nil
}

// transfer writes msg on w and reads it back in full on r.
func transfer(w, r net.Conn, msg []byte) error {
	deadline := time.Now().Add(ioTimeout)
	w.SetWriteDeadline(deadline)
	r.SetReadDeadline(deadline)
	defer w.SetWriteDeadline(time.Time{})
	defer r.SetReadDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() {
		_, err := w.Write(msg)
		werr <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(r, got)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("read %q, want %q", got, msg)
	}
	return nil
}

// closedOp checks the error of a call on a closed stream: it matches
// net.ErrClosed and is a *transport.OpError.
func closedOp(what string, err error) error {
	if e := isClosed(what, err); e != nil {
		return e
	}
	return isOpError(what+" after Close", err)
}

// readEOF reads from c until EOF, and fails if anything but want comes
// first.
func readEOF(c net.Conn, want []byte) error {
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	defer c.SetReadDeadline(time.Time{})
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("reading to EOF: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read %q before EOF, want %q", got, want)
	}
	return nil
}

// isTimeout checks err is a timeout the way the transport contract says:
// a net.Error with Timeout() true that matches os.ErrDeadlineExceeded.
func isTimeout(err error) error {
	if err == nil {
		return errors.New("got no error, want a timeout")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return fmt.Errorf("error %v (%T) is not a net.Error with Timeout() true", err, err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("error %v (%T) does not match os.ErrDeadlineExceeded", err, err)
	}
	return nil
}

// isOpError checks err is itself a *transport.OpError with a cause, as
// the Stream contract requires of every stream error but io.EOF.
func isOpError(what string, err error) error {
	oe, ok := err.(*transport.OpError)
	if !ok {
		return fmt.Errorf("%s: error %v is a %T, want a *transport.OpError", what, err, err)
	}
	if oe.Err == nil {
		return fmt.Errorf("%s: *transport.OpError %+v has no cause", what, oe)
	}
	return nil
}

// isClosed checks err matches net.ErrClosed.
func isClosed(what string, err error) error {
	if !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s after Close: got %v (%T), want an error matching net.ErrClosed", what, err, err)
	}
	return nil
}

// poll calls cond until it reports true or ioTimeout passes.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
