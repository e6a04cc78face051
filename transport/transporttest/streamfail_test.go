package transporttest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// Each case breaks one rule of TestStream and expects its check to fail.
func TestStreamChecksCatchBrokenStreams(t *testing.T) {
	shorten(t)
	cases := []struct {
		name  string
		check func(transport.Stream, net.Conn) error
		mod   func(f *fakeStream)
	}{
		{"CloseWrite/WriteFails", checkCloseWrite, func(f *fakeStream) { f.write = failIO }},
		{"CloseWrite/Fails", checkCloseWrite, func(f *fakeStream) { f.closeWrite = failErr }},
		{"CloseWrite/NoEOF", checkCloseWrite, func(f *fakeStream) { f.closeWrite = func() error { return nil } }},
		{"CloseWrite/ClosesReading", checkCloseWrite, func(f *fakeStream) { f.closeWrite = f.Stream.Close }},
		{"CloseWrite/WriteAfterSucceeds", checkCloseWrite, func(f *fakeStream) {
			var shut atomic.Bool
			f.closeWrite = func() error { shut.Store(true); return f.Stream.CloseWrite() }
			f.write = func(b []byte) (int, error) {
				if shut.Load() {
					return len(b), nil
				}
				return f.Stream.Write(b)
			}
		}},
		{"CloseWrite/NoFinalEOF", checkCloseWrite, func(f *fakeStream) { f.read = eofAsError(f.Stream) }},

		{"IsReadable/QuietTrue", checkIsReadable, func(f *fakeStream) { f.isReadable = func() bool { return true } }},
		{"IsReadable/NeverTrue", checkIsReadable, func(f *fakeStream) { f.isReadable = func() bool { return false } }},
		{"IsReadable/Consumes", checkIsReadable, consumesReadiness},
		{"IsReadable/ReadFails", checkIsReadable, func(f *fakeStream) { f.read = failIO }},
		{"IsReadable/TrueWhenDrained", checkIsReadable, readThen(func(f *fakeStream) bool { return true })},
		{"IsReadable/MissesEOF", checkIsReadable, readThen(func(f *fakeStream) bool { return false })},
		{"IsReadable/EOFAsError", checkIsReadable, func(f *fakeStream) { f.read = eofAsError(f.Stream) }},
		{"IsReadable/CloseFails", checkIsReadable, func(f *fakeStream) { f.close = failErr }},
		{"IsReadable/FalseAfterClose", checkIsReadable, func(f *fakeStream) {
			var closed atomic.Bool
			f.close = func() error { closed.Store(true); return f.Stream.Close() }
			f.isReadable = func() bool { return !closed.Load() && f.Stream.IsReadable() }
		}},

		{"DuringRead/True", checkIsReadableDuringRead, func(f *fakeStream) { f.isReadable = func() bool { return true } }},
		{"DuringRead/Blocks", checkIsReadableDuringRead, func(f *fakeStream) {
			block := 4 * ioTimeout // read here: the call outlives the test, which restores ioTimeout
			f.isReadable = func() bool { time.Sleep(block); return false }
		}},
		{"DuringRead/ReadFails", checkIsReadableDuringRead, func(f *fakeStream) { f.read = failIO }},

		{"AfterReset/NeverReadable", checkIsReadableAfterReset, func(f *fakeStream) { f.isReadable = func() bool { return false } }},
		{"AfterReset/Consumes", checkIsReadableAfterReset, consumesReadiness},
		{"AfterReset/ReadEOF", checkIsReadableAfterReset, func(f *fakeStream) {
			f.read = func([]byte) (int, error) { return 0, io.EOF }
		}},

		{"Close/ClosedBefore", checkClose, func(f *fakeStream) { f.info = infoWith(f.Stream, transport.InfoClosed, true, true) }},
		{"Close/Fails", checkClose, func(f *fakeStream) { f.close = failErr }},
		{"Close/SecondFails", checkClose, func(f *fakeStream) {
			var calls atomic.Int32
			f.close = func() error {
				if calls.Add(1) > 1 {
					return errFake
				}
				return f.Stream.Close()
			}
		}},
		{"Close/NotReported", checkClose, func(f *fakeStream) { f.info = infoWith(f.Stream, transport.InfoClosed, false, true) }},
		{"Close/Read", checkClose, func(f *fakeStream) { f.read = failIO }},
		{"Close/Write", checkClose, func(f *fakeStream) { f.write = failIO }},
		{"Close/CloseWrite", checkClose, func(f *fakeStream) { f.closeWrite = failErr }},
		{"Close/SetDeadline", checkClose, func(f *fakeStream) { f.setDeadline = failDeadline }},
		{"Close/SetReadDeadline", checkClose, func(f *fakeStream) { f.setReadDeadline = failDeadline }},
		{"Close/SetWriteDeadline", checkClose, func(f *fakeStream) { f.setWriteDeadline = failDeadline }},
		{"Close/PeerSeesNothing", checkClose, func(f *fakeStream) {
			var closed atomic.Bool
			f.close = func() error { closed.Store(true); return nil }
			f.info = func(k transport.InfoKey) (any, bool) {
				if k == transport.InfoClosed {
					return closed.Load(), true
				}
				return f.Stream.Info(k)
			}
			f.read = func([]byte) (int, error) { return 0, net.ErrClosed }
			f.write = f.read
			f.closeWrite = func() error { return net.ErrClosed }
			f.setDeadline = func(time.Time) error { return net.ErrClosed }
			f.setReadDeadline = f.setDeadline
			f.setWriteDeadline = f.setDeadline
		}},

		{"Info/NoBackend", checkInfo, func(f *fakeStream) { f.info = infoWith(f.Stream, transport.InfoBackend, "", true) }},
		{"Info/LocalAddr", checkInfo, func(f *fakeStream) {
			f.info = infoWith(f.Stream, transport.InfoLocalAddr, f.Stream.RemoteAddr(), true)
		}},
		{"Info/RemoteAddrMissing", checkInfo, func(f *fakeStream) { f.info = infoWith(f.Stream, transport.InfoRemoteAddr, nil, false) }},
		{"Info/ClosedMissing", checkInfo, func(f *fakeStream) { f.info = infoWith(f.Stream, transport.InfoClosed, nil, false) }},
		{"Info/NegativeFD", checkInfo, func(f *fakeStream) { f.info = infoWith(f.Stream, transport.InfoFD, -1, true) }},
		{"Info/UnknownKey", checkInfo, func(f *fakeStream) {
			f.info = func(k transport.InfoKey) (any, bool) {
				if v, ok := f.Stream.Info(k); ok {
					return v, ok
				}
				return "anything", true
			}
		}},

		{"Deadlines/PastRead", checkDeadlines, func(f *fakeStream) { f.read = failIO }},
		{"Deadlines/ReachingRead", checkDeadlines, func(f *fakeStream) {
			var calls atomic.Int32
			f.read = func(b []byte) (int, error) {
				if calls.Add(1) == 1 {
					return f.Stream.Read(b)
				}
				return 0, errFake
			}
		}},
		{"Deadlines/ClearFails", checkDeadlines, func(f *fakeStream) { f.setDeadline = failDeadline }},
		{"Deadlines/UnusableAfter", checkDeadlines, func(f *fakeStream) {
			var cleared atomic.Bool
			f.setDeadline = func(t time.Time) error { cleared.Store(true); return f.Stream.SetDeadline(t) }
			f.read = func(b []byte) (int, error) {
				if cleared.Load() {
					return 0, errFake
				}
				return f.Stream.Read(b)
			}
		}},
		{"Deadlines/PastWrite", checkDeadlines, func(f *fakeStream) {
			var past atomic.Bool
			f.setWriteDeadline = func(t time.Time) error {
				past.Store(!t.IsZero() && t.Before(time.Now()))
				return f.Stream.SetWriteDeadline(t)
			}
			f.write = func(b []byte) (int, error) {
				if past.Load() {
					return len(b), nil
				}
				return f.Stream.Write(b)
			}
		}},
	}
	b := newStdnet(t, transport.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c1, c2, stop, err := TCPPipe(b)()
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			f := &fakeStream{Stream: c1}
			c.mod(f)
			if err := c.check(f, c2); err == nil {
				t.Fatal("check passed a broken stream")
			} else {
				t.Logf("check failed as it should: %v", err)
			}
		})
	}
}

// readThen returns a mod whose IsReadable answers after lie once
// something has been read, and truthfully before.
func readThen(lie func(f *fakeStream) bool) func(f *fakeStream) {
	return func(f *fakeStream) {
		var read atomic.Bool
		f.read = func(b []byte) (int, error) {
			n, err := f.Stream.Read(b)
			if n > 0 {
				read.Store(true)
			}
			return n, err
		}
		f.isReadable = func() bool {
			if read.Load() {
				return lie(f)
			}
			return f.Stream.IsReadable()
		}
	}
}

func TestResetNeedsTCPPeer(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var skip *skipError
	if err := checkIsReadableAfterReset(&fakeStream{}, b); !errors.As(err, &skip) {
		t.Fatalf("check with a net.Pipe peer = %v, want a skip", err)
	}
}

func TestIsTimeout(t *testing.T) {
	for _, err := range []error{nil, errFake, &net.DNSError{IsTimeout: true}} {
		if isTimeout(err) == nil {
			t.Errorf("isTimeout(%v) accepted it", err)
		}
	}
	if err := isTimeout(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}); err != nil {
		t.Errorf("isTimeout rejected a deadline error: %v", err)
	}
}

// shouter is a net.Conn that upper-cases what it writes.
type shouter struct{ net.Conn }

func (s shouter) Write(b []byte) (int, error) { return s.Conn.Write(bytes.ToUpper(b)) }

func TestTransferMismatch(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := transfer(shouter{a}, b, []byte("hello")); err == nil {
		t.Fatal("transfer accepted the wrong bytes")
	}
}

func TestSameAddr(t *testing.T) {
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	if !sameAddr(nil, nil) || sameAddr(a, nil) || sameAddr(nil, a) || !sameAddr(a, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}) {
		t.Fatal("sameAddr is wrong")
	}
}

// consumesReadiness breaks f so that IsReadable, once true, is false ever
// after: as if asking consumed the data.
func consumesReadiness(f *fakeStream) {
	var seen atomic.Bool
	f.isReadable = func() bool {
		if seen.Load() {
			return false
		}
		r := f.Stream.IsReadable()
		seen.Store(r)
		return r
	}
}
