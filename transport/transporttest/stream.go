package transporttest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/transportkit/transportkit/transport"
)

// TestStream runs golang.org/x/net/nettest.TestConn on pairs made by mp
// (its subtests BasicIO, PingPong, RacyRead, RacyWrite, ReadTimeout,
// WriteTimeout, PastTimeout, PresentTimeout, FutureTimeout, CloseTimeout
// and ConcurrentMethods) and then transportkit's own contract checks, each
// as a subtest of t on a fresh pair:
//
//   - CloseWrite: the peer reads what was written and then EOF, while the
//     peer's writes still reach the stream; a Write after CloseWrite fails.
//   - IsReadable: false on a quiet stream; true once data is waiting, and
//     still true until the data is read (it consumes nothing); false again
//     once drained; true once EOF is waiting; true after Close.
//   - IsReadableDuringRead: IsReadable returns (false) while another
//     goroutine is blocked in Read.
//   - IsReadableAfterReset: when the peer resets the connection, IsReadable
//     becomes true and stays true, and the next Read still fails with
//     ECONNRESET: IsReadable consumes no pending error either. (Skipped
//     unless the peer is a *net.TCPConn, which can send a reset.)
//   - Close: the first Close returns nil, a second one nil or an error
//     matching net.ErrClosed; afterwards Read, Write, CloseWrite and the
//     deadline setters fail with errors matching net.ErrClosed, Info
//     reports InfoClosed true, and the peer reads EOF.
//   - Info: InfoBackend is a non-empty string; InfoLocalAddr and
//     InfoRemoteAddr are net.Addr values equal to LocalAddr and RemoteAddr;
//     InfoClosed is false; InfoFD, if present, is a non-negative int; an
//     unknown key is absent.
//   - Deadlines: Reads and Writes past a deadline fail with an error that
//     is a net.Error with Timeout() true and matches
//     os.ErrDeadlineExceeded (an empty Read returns 0, nil whatever the
//     deadline, as net.TCPConn's), a deadline in the year 9999 lets both
//     through, and clearing a read deadline makes the stream usable again.
//   - StopReleases: a pair's stop function leaves no file descriptor or
//     goroutine behind (see VerifyNoLeaks).
//
// TestStream does not call t.Parallel. mp is called once per subtest.
func TestStream(t *testing.T, mp MakePipe) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c1, c2, stop, err := mp()
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, stop, nil
	})
	for _, c := range streamChecks {
		t.Run(c.name, func(t *testing.T) { runPair(t, mp, c.check) })
	}
	t.Run("StopReleases", func(t *testing.T) {
		VerifyNoLeaks(t)
		runPair(t, mp, exchange)
	})
}

// streamChecks are TestStream's own checks, in the order they run.
var streamChecks = []struct {
	name  string
	check func(c1 transport.Stream, c2 net.Conn) error
}{
	{"CloseWrite", checkCloseWrite},
	{"IsReadable", checkIsReadable},
	{"IsReadableDuringRead", checkIsReadableDuringRead},
	{"IsReadableAfterReset", checkIsReadableAfterReset},
	{"Close", checkClose},
	{"Info", checkInfo},
	{"Deadlines", checkDeadlines},
}

// runPair makes a pair with mp, runs check on it under a watchdog and
// stops the pair.
func runPair(t *testing.T, mp MakePipe, check func(transport.Stream, net.Conn) error) {
	t.Helper()
	c1, c2, stop, err := mp()
	if err != nil {
		t.Fatalf("transporttest: making a pair: %v", err)
	}
	var once sync.Once
	stopOnce := func() { once.Do(stop) }
	defer stopOnce()
	run(t, func() error { return check(c1, c2) }, stopOnce)
}

func checkCloseWrite(c1 transport.Stream, c2 net.Conn) error {
	msg := []byte("half a conversation")
	c1.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c1.Write(msg); err != nil {
		return fmt.Errorf("Write: %w", err)
	}
	if err := c1.CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	if err := readEOF(c2, msg); err != nil {
		return fmt.Errorf("peer after CloseWrite: %w", err)
	}
	if err := transfer(c2, c1, []byte("the other half")); err != nil {
		return fmt.Errorf("peer to stream after CloseWrite: %w", err)
	}
	_, err := c1.Write([]byte("x"))
	if err == nil {
		return errors.New("Write after CloseWrite succeeded, want an error")
	}
	if err := isOpError("Write after CloseWrite", err); err != nil {
		return err
	}
	if err := c2.Close(); err != nil {
		return fmt.Errorf("peer Close: %w", err)
	}
	if err := readEOF(c1, nil); err != nil {
		return fmt.Errorf("stream after the peer closed: %w", err)
	}
	return nil
}

func checkIsReadable(c1 transport.Stream, c2 net.Conn) error {
	if c1.IsReadable() {
		return errors.New("IsReadable is true on a quiet stream")
	}
	c2.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c2.Write([]byte("x")); err != nil {
		return fmt.Errorf("peer Write: %w", err)
	}
	if !poll(c1.IsReadable) {
		return fmt.Errorf("IsReadable still false %v after the peer wrote", ioTimeout)
	}
	if !c1.IsReadable() {
		return errors.New("IsReadable went back to false before anything was read: it consumed the data")
	}
	buf := make([]byte, 8)
	c1.SetReadDeadline(time.Now().Add(ioTimeout))
	n, err := c1.Read(buf)
	if err != nil || string(buf[:n]) != "x" {
		return fmt.Errorf("Read after IsReadable = %q, %v; want \"x\", nil", buf[:n], err)
	}
	if c1.IsReadable() {
		return errors.New("IsReadable is true after everything was read")
	}
	if err := c2.Close(); err != nil {
		return fmt.Errorf("peer Close: %w", err)
	}
	if !poll(c1.IsReadable) {
		return fmt.Errorf("IsReadable still false %v after the peer closed", ioTimeout)
	}
	if n, err := c1.Read(buf); n != 0 || err != io.EOF {
		return fmt.Errorf("Read after the peer closed = %d, %v; want 0, io.EOF", n, err)
	}
	if err := c1.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	if !c1.IsReadable() {
		return errors.New("IsReadable is false after Close, but a Read would not block (it fails)")
	}
	return nil
}

// parkTime is how long checkIsReadableDuringRead lets a Read park. If the
// Read has not parked by then the check is weaker, never wrong.
const parkTime = 20 * time.Millisecond

func checkIsReadableDuringRead(c1 transport.Stream, c2 net.Conn) error {
	c1.SetReadDeadline(time.Now().Add(ioTimeout))
	read := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		_, err := c1.Read(buf)
		read <- err
	}()
	time.Sleep(parkTime)
	readable := make(chan bool, 1)
	go func() { readable <- c1.IsReadable() }()
	timer := time.NewTimer(ioTimeout)
	defer timer.Stop()
	select {
	case r := <-readable:
		if r {
			return errors.New("IsReadable is true on a quiet stream while a Read waits")
		}
	case <-timer.C:
		return fmt.Errorf("IsReadable blocked for %v while another goroutine was in Read", ioTimeout)
	}
	c2.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c2.Write([]byte("x")); err != nil {
		return fmt.Errorf("peer Write: %w", err)
	}
	if err := <-read; err != nil {
		return fmt.Errorf("the waiting Read: %w", err)
	}
	return nil
}

func checkIsReadableAfterReset(c1 transport.Stream, c2 net.Conn) error {
	tc, ok := c2.(*net.TCPConn)
	if !ok {
		return skipf("the peer is a %T, not a *net.TCPConn that can send a reset", c2)
	}
	// With a zero linger time, Close sends a reset.
	if err := tc.SetLinger(0); err != nil {
		return fmt.Errorf("peer SetLinger: %w", err)
	}
	if err := tc.Close(); err != nil {
		return fmt.Errorf("peer Close: %w", err)
	}
	if !poll(c1.IsReadable) {
		return fmt.Errorf("IsReadable still false %v after the peer reset the connection", ioTimeout)
	}
	if !c1.IsReadable() {
		return errors.New("IsReadable went back to false after a reset: it consumed the pending error")
	}
	c1.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("Read after a reset = %v, want an error matching syscall.ECONNRESET (did IsReadable consume it?)", err)
	}
	return nil
}

func checkClose(c1 transport.Stream, c2 net.Conn) error {
	if transport.IsClosed(c1) {
		return errors.New("InfoClosed is true before Close")
	}
	if err := c1.Close(); err != nil {
		return fmt.Errorf("first Close: %w", err)
	}
	if err := c1.Close(); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("second Close: got %v, want nil or an error matching net.ErrClosed", err)
		}
		if err := isOpError("second Close", err); err != nil {
			return err
		}
	}
	if !transport.IsClosed(c1) {
		return errors.New("InfoClosed is not true after Close")
	}
	_, err := c1.Read(make([]byte, 1))
	if err := closedOp("Read", err); err != nil {
		return err
	}
	_, err = c1.Write([]byte("x"))
	if err := closedOp("Write", err); err != nil {
		return err
	}
	if err := closedOp("CloseWrite", c1.CloseWrite()); err != nil {
		return err
	}
	now := time.Now()
	if err := closedOp("SetDeadline", c1.SetDeadline(now)); err != nil {
		return err
	}
	if err := closedOp("SetReadDeadline", c1.SetReadDeadline(now)); err != nil {
		return err
	}
	if err := closedOp("SetWriteDeadline", c1.SetWriteDeadline(now)); err != nil {
		return err
	}
	if err := readEOF(c2, nil); err != nil {
		return fmt.Errorf("peer after Close: %w", err)
	}
	return nil
}

func checkInfo(c1 transport.Stream, c2 net.Conn) error {
	v, ok := c1.Info(transport.InfoBackend)
	if name, _ := v.(string); !ok || name == "" {
		return fmt.Errorf("Info(InfoBackend) = %#v, %v; want a non-empty string", v, ok)
	}
	addrs := []struct {
		key  transport.InfoKey
		want net.Addr
	}{
		{transport.InfoLocalAddr, c1.LocalAddr()},
		{transport.InfoRemoteAddr, c1.RemoteAddr()},
	}
	for _, a := range addrs {
		v, ok := c1.Info(a.key)
		got, isAddr := v.(net.Addr)
		if !ok || !isAddr || !sameAddr(got, a.want) {
			return fmt.Errorf("Info(%q) = %#v, %v; want the net.Addr %v", a.key, v, ok, a.want)
		}
	}
	if v, ok := c1.Info(transport.InfoClosed); v != false || !ok {
		return fmt.Errorf("Info(InfoClosed) = %#v, %v before Close; want false, true", v, ok)
	}
	if v, ok := c1.Info(transport.InfoFD); ok {
		if fd, isInt := v.(int); !isInt || fd < 0 {
			return fmt.Errorf("Info(InfoFD) = %#v; want an int >= 0", v)
		}
	}
	if v, ok := c1.Info("transporttest-no-such-key"); ok {
		return fmt.Errorf("Info of an unknown key = %#v, true; want false", v)
	}
	return nil
}

// sameAddr reports whether a and b name the same address.
func sameAddr(a, b net.Addr) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Network() == b.Network() && a.String() == b.String()
}

func checkDeadlines(c1 transport.Stream, c2 net.Conn) error {
	buf := make([]byte, 8)
	c1.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := c1.Read(nil); n != 0 || err != nil {
		return fmt.Errorf("empty Read past its deadline = %d, %v; want 0, nil as net.TCPConn's", n, err)
	}
	_, err := c1.Read(buf)
	if err := isTimeout(err); err != nil {
		return fmt.Errorf("Read past its deadline: %w", err)
	}
	if err := isOpError("Read past its deadline", err); err != nil {
		return err
	}
	c1.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c1.Read(buf)
	if err := isTimeout(err); err != nil {
		return fmt.Errorf("Read reaching its deadline: %w", err)
	}
	if err := isOpError("Read reaching its deadline", err); err != nil {
		return err
	}
	// A deadline centuries away is no deadline in practice.
	if err := c1.SetDeadline(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return fmt.Errorf("setting a far deadline: %w", err)
	}
	if err := exchange(c1, c2); err != nil {
		return fmt.Errorf("with a deadline in the year 9999: %w", err)
	}
	if err := c1.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clearing the deadline: %w", err)
	}
	if err := exchange(c1, c2); err != nil {
		return fmt.Errorf("after clearing the deadline: %w", err)
	}
	// Last, since a Write that timed out may leave a stream unusable
	// (crypto/tls does).
	c1.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err = c1.Write([]byte("x"))
	if err := isTimeout(err); err != nil {
		return fmt.Errorf("Write past its deadline: %w", err)
	}
	if err := isOpError("Write past its deadline", err); err != nil {
		return err
	}
	return nil
}
