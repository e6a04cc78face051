package mock

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// Each fault test shows the error a client sees: its type (errors.Is and
// errors.As) and that it comes when the client's own deadline says, not
// before and not never.

// isTimeout fails t unless err is a timeout by every test of the contract.
func isTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v (%T) is not a timeout", err, err)
	}
}

func TestFaultRefuse(t *testing.T) {
	b := newBackend(t)
	b.Handle("down:80", ScriptPeer(Send("never")), Refuse())
	_, err := b.Dial(t.Context(), "tcp", "down:80")
	oe := dialErr(t, err, "tcp", "down:80")
	if !errors.Is(oe, syscall.ECONNREFUSED) {
		t.Fatalf("Dial: %v, want ECONNREFUSED", err)
	}
	if oe.Timeout() {
		t.Fatal("a refused Dial reports a timeout")
	}
	if len(b.Conns()) != 0 {
		t.Fatal("a refused Dial made a connection")
	}
}

func TestFaultDelay(t *testing.T) {
	b := newBackend(t)
	b.Handle("slow:80", ScriptPeer(), Delay(time.Hour))
	b.Handle("bit-slow:80", ScriptPeer(Send("ok")), Delay(time.Millisecond))
	b.Handle("slow-down:80", ScriptPeer(), Delay(time.Millisecond), Refuse())

	t.Run("deadline", func(t *testing.T) {
		const d = 30 * time.Millisecond
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		_, err := b.Dial(ctx, "tcp", "slow:80")
		if time.Since(start) < d {
			t.Fatal("Dial gave up before its context's deadline")
		}
		oe := dialErr(t, err, "tcp", "slow:80")
		isTimeout(t, oe)
		if !errors.Is(oe, context.DeadlineExceeded) {
			t.Fatalf("%v does not match context.DeadlineExceeded", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(10*time.Millisecond, cancel)
		_, err := b.Dial(ctx, "tcp", "slow:80")
		if oe := dialErr(t, err, "tcp", "slow:80"); !errors.Is(oe, context.Canceled) || oe.Timeout() {
			t.Fatalf("Dial: %v, want context.Canceled", err)
		}
	})
	t.Run("elapsed", func(t *testing.T) {
		s := dial(t, b, "bit-slow:80")
		buf := make([]byte, 4)
		if n, err := s.Read(buf); err != nil || string(buf[:n]) != "ok" {
			t.Fatalf("Read after a delayed connect = %q, %v", buf[:n], err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, err := b.Dial(t.Context(), "tcp", "slow-down:80")
		if !errors.Is(dialErr(t, err, "tcp", "slow-down:80"), syscall.ECONNREFUSED) {
			t.Fatalf("Dial: %v, want ECONNREFUSED", err)
		}
	})
}

func TestFaultStall(t *testing.T) {
	b := newBackend(t)
	ran := make(chan struct{}, 1)
	b.Handle("stuck:80", FuncPeer(func(net.Conn) { ran <- struct{}{} }), Stall())
	b.Handle("stuck:443", TLSScriptPeer("h2", Send("never")), Stall())
	const d = 30 * time.Millisecond

	t.Run("read", func(t *testing.T) {
		s := dial(t, b, "stuck:80")
		start := time.Now()
		s.SetReadDeadline(start.Add(d))
		n, err := s.Read(make([]byte, 1))
		if time.Since(start) < d {
			t.Fatal("Read gave up before its deadline")
		}
		if n != 0 {
			t.Fatalf("Read %d bytes from a stalled peer", n)
		}
		isTimeout(t, err)
	})
	t.Run("write", func(t *testing.T) {
		s := dial(t, b, "stuck:80")
		s.SetWriteDeadline(time.Now().Add(d))
		n, err := s.Write(make([]byte, 2*bufferSize))
		isTimeout(t, err)
		if n > bufferSize {
			t.Fatalf("Write accepted %d bytes, more than the buffer's %d", n, bufferSize)
		}
	})
	t.Run("scriptedTLS", func(t *testing.T) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		_, err := b.DialTLS(ctx, "tcp", "stuck:443", &tls.Config{NextProtos: []string{"h2"}})
		if time.Since(start) < d {
			t.Fatal("DialTLS gave up before its deadline")
		}
		var oe *transport.OpError
		if !errors.As(err, &oe) || oe.Op != "tls" {
			t.Fatalf("DialTLS: %v, want a tls *transport.OpError", err)
		}
		isTimeout(t, err)
	})
	t.Run("realTLS", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		_, err := transport.DialTLS(ctx, b, "tcp", "stuck:80", &tls.Config{RootCAs: RootCAs()})
		isTimeout(t, err)
	})
	select {
	case <-ran:
		t.Fatal("a stalled peer ran")
	default:
	}
}

// readAll reads s until an error and returns what it read in each Read.
func readAll(t *testing.T, s net.Conn) ([]string, error) {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(waitLimit))
	var reads []string
	buf := make([]byte, 64)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			reads = append(reads, string(buf[:n]))
		}
		if err != nil {
			return reads, err
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultSplitReads(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:80", ScriptPeer(Send("hello world"), Send("!"), Close()), SplitReads(3))
	reads, err := readAll(t, dial(t, b, "a:80"))
	if want := []string{"hel", "lo ", "wor", "ld", "!"}; err != io.EOF || !equal(reads, want) {
		t.Fatalf("reads %q, %v; want %q, EOF", reads, err, want)
	}
}

func TestFaultSplitWrites(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b, SplitWrites(4), SplitReads(0))
	if n, err := c1.Write([]byte("abcdefghij")); n != 10 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	c1.Close()
	reads, err := readAll(t, c2)
	if want := []string{"abcd", "efgh", "ij"}; err != io.EOF || !equal(reads, want) {
		t.Fatalf("peer reads %q, %v; want %q, EOF", reads, err, want)
	}
	// SplitReads(0) counts as 1: the other direction is byte by byte.
	c3, c4 := pairOn(t, b, SplitReads(0))
	c4.Write([]byte("xyz"))
	c4.Close()
	if reads, _ := readAll(t, c3); !equal(reads, []string{"x", "y", "z"}) {
		t.Fatalf("reads %q with SplitReads(0)", reads)
	}
}

func TestFaultResetAfter(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:80", ScriptPeer(Send("hello world")), ResetAfter(5))
	s := dial(t, b, "a:80")
	reads, err := readAll(t, s)
	if !equal(reads, []string{"hello"}) {
		t.Fatalf("reads %q before the reset, want \"hello\"", reads)
	}
	var oe *transport.OpError
	if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" || oe.Backend != Name {
		t.Fatalf("Read after the reset: %v, want a read OpError matching ECONNRESET", err)
	}
	if !s.IsReadable() {
		t.Fatal("IsReadable false on a reset stream")
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after the reset: %v, want ECONNRESET", err)
	}
	// The peer's end failed too.
	c := b.Conns()[0]
	<-c.Done()
	if !errors.Is(c.Err(), syscall.ECONNRESET) {
		t.Fatalf("script error %v, want ECONNRESET", c.Err())
	}
}

func TestFaultResetAfterOnHandler(t *testing.T) {
	b := newBackend(t)
	peerErr := make(chan error, 1)
	b.Handle("a:80", FuncPeer(func(c net.Conn) {
		n, err := c.Write([]byte("0123456789"))
		if n != 4 {
			err = errors.New("the write crossing the limit sent the wrong count")
		}
		peerErr <- err
	}), ResetAfter(4))
	reads, err := readAll(t, dial(t, b, "a:80"))
	if !equal(reads, []string{"0123"}) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reads %q, %v; want \"0123\", ECONNRESET", reads, err)
	}
	if err := <-peerErr; !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer Write: %v, want ECONNRESET", err)
	}
}

func TestFaultResetAtOnce(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:80", ScriptPeer(Send("x")), ResetAfter(-1))
	s := dial(t, b, "a:80")
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read: %v, want ECONNRESET", err)
	}
	if _, err := b.DialTLS(t.Context(), "tcp", "a:80", &tls.Config{}); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("scripted DialTLS to a reset peer: %v, want ECONNRESET", err)
	}
}

func TestFaultCloseAfter(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:80", ScriptPeer(Send("HTTP/1.1 200 OK\r\n"), Send("rest")), CloseAfter(8))
	s := dial(t, b, "a:80")
	reads, err := readAll(t, s)
	if !equal(reads, []string{"HTTP/1.1"}) || err != io.EOF {
		t.Fatalf("reads %q, %v; want \"HTTP/1.1\", EOF", reads, err)
	}
	if _, err := s.Write([]byte("GET")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after the peer closed: %v, want EPIPE", err)
	}
	c := b.Conns()[0]
	<-c.Done()
	if !errors.Is(c.Err(), net.ErrClosed) {
		t.Fatalf("script error %v, want net.ErrClosed (its end was closed)", c.Err())
	}

	b.Handle("b:80", ScriptPeer(Send("x")), CloseAfter(0))
	s = dial(t, b, "b:80")
	if reads, err := readAll(t, s); len(reads) != 0 || err != io.EOF {
		t.Fatalf("CloseAfter(0): reads %q, %v; want EOF at once", reads, err)
	}
	if _, err := b.DialTLS(t.Context(), "tcp", "b:80", &tls.Config{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("scripted DialTLS to a closed peer: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestFaultResetAndCloseCombined(t *testing.T) {
	b := newBackend(t)
	b.Handle("reset-first:80", ScriptPeer(Send("abcdefgh")), ResetAfter(3), CloseAfter(5))
	b.Handle("close-first:80", ScriptPeer(Send("abcdefgh")), CloseAfter(3), ResetAfter(5))
	b.Handle("tie:80", ScriptPeer(Send("abcdefgh")), CloseAfter(3), ResetAfter(3))
	cases := []struct {
		addr string
		want error
	}{
		{"reset-first:80", syscall.ECONNRESET},
		{"close-first:80", io.EOF},
		{"tie:80", syscall.ECONNRESET},
	}
	for _, c := range cases {
		reads, err := readAll(t, dial(t, b, c.addr))
		if !equal(reads, []string{"abc"}) || !errors.Is(err, c.want) {
			t.Errorf("%s: reads %q, %v; want \"abc\", %v", c.addr, reads, err, c.want)
		}
	}
}
