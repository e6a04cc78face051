package epoll_test

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// spinPair opens a one-loop backend whose loops spin for window, and a
// stream of it whose peer echoes every byte after *delay.
func spinPair(t *testing.T, window time.Duration, delay *atomic.Int64) transport.Stream {
	t.Helper()
	old := epoll.SetSpinWindow(window)
	b := openBackend(t, `{"loops": 1}`)
	epoll.SetSpinWindow(old)
	s, peer, stop, err := transporttest.TCPPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
			time.Sleep(time.Duration(delay.Load()))
			if _, err := peer.Write(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		s.Close()
		peer.Close()
		<-done
		stop()
		b.Close()
	})
	return s
}

// exchange makes n one-byte round trips on s.
func exchange(t *testing.T, s transport.Stream, n int) {
	t.Helper()
	b := []byte{'x'}
	for range n {
		if _, err := s.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, b); err != nil {
			t.Fatal(err)
		}
	}
}

// A lone caller whose waits are short spins before it sleeps and catches
// its event in the spin. The first leads of a new loop go through the
// runtime poller (the loop is not calm yet), so they are not counted.
func TestSpinCatchesLoneEvent(t *testing.T) {
	var delay atomic.Int64
	s := spinPair(t, 5*time.Second, &delay)
	exchange(t, s, 30)
	hits, misses, _ := epoll.SpinStats(s)
	if hits < 10 || misses != 0 {
		t.Fatalf("spins: %d caught the event, %d ran out; want at least 10 and 0", hits, misses)
	}
}

// A slow peer stops the spinning after a few waits; a fast one brings it
// back. The window is long enough that a loaded machine's scheduling
// delays do not make the fast peer look slow.
func TestSpinFollowsThePeer(t *testing.T) {
	const window = 20 * time.Millisecond
	var delay atomic.Int64
	s := spinPair(t, window, &delay)
	exchange(t, s, 20)
	fastHits, before, _ := epoll.SpinStats(s)
	if fastHits == 0 {
		t.Fatal("no spin caught an event of a fast peer")
	}

	delay.Store(int64(5 * window))
	exchange(t, s, 6)
	_, misses, avg := epoll.SpinStats(s)
	if misses-before > 4 {
		t.Fatalf("%d spins ran out while the peer was slow; want at most 4", misses-before)
	}
	if avg <= window {
		t.Fatalf("average wait %v after a slow peer, want above the window %v", avg, window)
	}
	exchange(t, s, 4)
	if _, again, _ := epoll.SpinStats(s); again != misses {
		t.Fatalf("spinning went on for a slow peer: %d spins ran out, then %d", misses, again)
	}

	delay.Store(0)
	exchange(t, s, 20)
	if hits, _, _ := epoll.SpinStats(s); hits == fastHits {
		t.Fatal("the spin did not come back for a fast peer")
	}
}

// A deadline or a Close ends a spinning caller's wait.
func TestSpinningCallerWakes(t *testing.T) {
	var delay atomic.Int64
	s := spinPair(t, time.Minute, &delay)
	exchange(t, s, 12) // past the loop's first leads, so the next wait spins

	errc := make(chan error, 1)
	read := func() {
		_, err := s.Read(make([]byte, 1))
		errc <- err
	}
	waitErr := func(what string) error {
		t.Helper()
		select {
		case err := <-errc:
			return err
		case <-time.After(5 * time.Second):
			t.Fatalf("a spinning Read did not return after %s", what)
			return nil
		}
	}

	go read()
	time.Sleep(20 * time.Millisecond)
	s.SetReadDeadline(time.Now())
	if err := waitErr("its deadline passed"); !errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("Read after its deadline: %v, want a timeout", err)
	}
	s.SetReadDeadline(time.Time{})

	go read()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	if err := waitErr("Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read during Close: %v, want net.ErrClosed", err)
	}
}

// The conformance suite with a spin that lasts until the event: every
// lone wait spins, so every wake-up (data, deadline, Close, shutdown)
// reaches a spinning caller.
func TestConformanceSpinning(t *testing.T) {
	old := epoll.SetSpinWindow(time.Minute)
	b := openBackend(t, "")
	epoll.SetSpinWindow(old)
	defer b.Close()
	t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
	t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
}
