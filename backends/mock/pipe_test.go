package mock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/transport"
)

func TestWritesAreBuffered(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	msg := bytes.Repeat([]byte("x"), 100<<10)
	// Nobody reads yet: the write still completes, as over TCP.
	if n, err := c1.Write(msg); n != len(msg) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(msg))
	}
	got := make([]byte, len(msg))
	c2.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(c2, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("peer read %d bytes, %v", len(got), err)
	}
}

func TestWriteBlocksWhenFull(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := c1.Write(make([]byte, 2*bufferSize))
		res <- result{n, err}
	}()
	// Wait until the direction is full, then time the writer out.
	p := c1.(*end).p
	within(t, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for p.dirs[clientSide].size < bufferSize {
			p.wait()
		}
	})
	c1.SetWriteDeadline(time.Now().Add(-time.Second))
	r := <-res
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a full direction: %v, want a timeout", r.err)
	}
	if r.n != bufferSize {
		t.Fatalf("Write accepted %d bytes before the buffer filled, want %d", r.n, bufferSize)
	}
	// Reading makes room again.
	c1.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := c1.Write(make([]byte, maxPiece))
		done <- err
	}()
	if _, err := c2.Read(make([]byte, maxPiece)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Write after the peer read: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Write still blocked after the peer made room")
	}
}

func TestReadsKeepWriteBoundaries(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	for _, w := range []string{"ab", "cde", "f"} {
		if _, err := c2.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	for _, want := range []string{"ab", "c", "de", "f"} {
		size := len(buf)
		if want == "c" {
			size = 1
		}
		n, err := c1.Read(buf[:size])
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
		}
	}
}

func TestZeroLengthCalls(t *testing.T) {
	b := newBackend(t)
	c1, _ := pairOn(t, b)
	if n, err := c1.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	if n, err := c1.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
}

// TestDeadlineChangeWakesBlockedCalls: a deadline moved to the past wakes
// a Read blocked without one. In a synctest bubble, synctest.Wait tells
// when the Read is blocked.
func TestDeadlineChangeWakesBlockedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t)
		c1, _ := pairOn(t, b)
		errc := make(chan error, 1)
		go func() {
			_, err := c1.Read(make([]byte, 1))
			errc <- err
		}()
		// The Read blocks with no deadline; setting one in the past wakes it.
		synctest.Wait()
		c1.SetReadDeadline(time.Now().Add(-time.Second))
		select {
		case err := <-errc:
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("woken Read: %v, want a timeout", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Read still blocked after its deadline moved to the past")
		}
	})
}

// TestClearedDeadlineDoesNotFire: a deadline cleared before it passes
// does not end a Read that waits past it. The bubble's clock makes the
// write come 60 ms later, after the cleared deadline, whatever the load.
func TestClearedDeadlineDoesNotFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t)
		c1, c2 := pairOn(t, b)
		c1.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		c1.SetReadDeadline(time.Time{})
		go func() {
			time.Sleep(60 * time.Millisecond)
			c2.Write([]byte("late"))
		}()
		buf := make([]byte, 8)
		n, err := c1.Read(buf)
		if err != nil || string(buf[:n]) != "late" {
			t.Fatalf("Read = %q, %v; want \"late\" (the cleared deadline fired)", buf[:n], err)
		}
	})
}

// TestCloseWakesBlockedCalls: Close wakes a blocked Read and a blocked
// Write with net.ErrClosed. In a synctest bubble, synctest.Wait tells when
// both are blocked.
func TestCloseWakesBlockedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t)
		c1, _ := pairOn(t, b)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := c1.Read(make([]byte, 1))
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := c1.Write(make([]byte, 3*bufferSize))
			errs <- err
		}()
		synctest.Wait() // both calls are blocked
		if err := c1.Close(); err != nil {
			t.Fatal(err)
		}
		within(t, wg.Wait)
		close(errs)
		for err := range errs {
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked call woken by Close: %v, want net.ErrClosed", err)
			}
		}
		if err := c1.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v, want net.ErrClosed", err)
		}
		if !transport.IsClosed(c1) || !c1.IsReadable() {
			t.Error("a closed stream must report InfoClosed and IsReadable")
		}
	})
}

func TestPeerCloseGivesEOFThenEPIPE(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	c2.Write([]byte("bye"))
	c2.Close()
	if !c1.IsReadable() {
		t.Fatal("IsReadable false with data and EOF waiting")
	}
	got, err := io.ReadAll(c1)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	_, err = c1.Write([]byte("x"))
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after the peer closed: %v, want EPIPE", err)
	}
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "write" || oe.Backend != Name || oe.Address != "pair" || oe.Network != "tcp" {
		t.Fatalf("error %#v lacks the operation's details", err)
	}
}

func TestCloseWrite(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	c1.Write([]byte("req"))
	if err := c1.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c1.CloseWrite(); err != nil {
		t.Fatalf("second CloseWrite: %v", err)
	}
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "req" {
		t.Fatalf("peer ReadAll = %q, %v", got, err)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write after CloseWrite: %v, want EPIPE", err)
	}
	// The other direction still works.
	c2.Write([]byte("resp"))
	buf := make([]byte, 8)
	n, err := c1.Read(buf)
	if err != nil || string(buf[:n]) != "resp" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

func TestIsReadable(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	if c1.IsReadable() {
		t.Fatal("IsReadable on a quiet stream")
	}
	c2.Write([]byte("x"))
	for i := range 2 { // asking twice shows that asking consumes nothing
		if !c1.IsReadable() {
			t.Fatalf("IsReadable false with data waiting (call %d)", i+1)
		}
	}
	c1.Read(make([]byte, 1))
	if c1.IsReadable() {
		t.Fatal("IsReadable true after draining")
	}
	c2.(*end).CloseWrite()
	if !c1.IsReadable() {
		t.Fatal("IsReadable false with EOF waiting")
	}
}

func TestInfo(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	if v, ok := c1.Info(transport.InfoBackend); v != Name || !ok {
		t.Errorf("InfoBackend = %v, %v", v, ok)
	}
	if v, _ := c1.Info(transport.InfoRemoteAddr); v.(net.Addr).String() != "pair" || v.(net.Addr).Network() != "tcp" {
		t.Errorf("InfoRemoteAddr = %v", v)
	}
	if v, _ := c1.Info(transport.InfoLocalAddr); v.(net.Addr).String() != "mock:1" {
		t.Errorf("InfoLocalAddr = %v, want mock:1", v)
	}
	if c2.LocalAddr() != c1.RemoteAddr() || c2.RemoteAddr() != c1.LocalAddr() {
		t.Error("the peer's addresses are not the client's, swapped")
	}
	for _, k := range []transport.InfoKey{transport.InfoFD, transport.InfoTLS, transport.InfoALPN} {
		if _, ok := c1.Info(k); ok {
			t.Errorf("plain stream answers %q", k)
		}
	}
}

func TestConcurrentWritesDoNotInterleave(t *testing.T) {
	b := newBackend(t)
	c1, c2 := pairOn(t, b)
	const size = 300 << 10
	var wg sync.WaitGroup
	for _, c := range []byte("ab") {
		wg.Go(func() {
			if _, err := c1.Write(bytes.Repeat([]byte{c}, size)); err != nil {
				t.Error(err)
			}
		})
	}
	got := make([]byte, 2*size)
	c2.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(c2, got); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got[0] == got[size] || bytes.Count(got[:size], got[:1]) != size {
		t.Fatal("two concurrent Writes were interleaved")
	}
}
