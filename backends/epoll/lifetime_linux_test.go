package epoll_test

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
)

// TestIsReadableRacesLastClose calls IsReadable on a stream while it is
// closed, after Backend.Close, so that the close ends the loop: the loop's
// epoll fd must never be used after the loop closed it, nor one that
// reused its number (issue 11, defect 5).
func TestIsReadableRacesLastClose(t *testing.T) {
	for i := 0; i < 300; i++ {
		b := openBackend(t, `{"loops": 1}`)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		s, err := b.NewStream(fds[0], "")
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for !stop.Load() {
					s.IsReadable()
				}
			})
		}
		s.Close()
		// Fds opened now may take the numbers the loop just gave back.
		var more [4]int
		for j := range more {
			more[j], _ = unix.Eventfd(0, unix.EFD_CLOEXEC)
		}
		stop.Store(true)
		wg.Wait()
		for _, fd := range more {
			unix.Close(fd)
		}
		unix.Close(fds[1])
	}
}

// calm makes s's loop calm: rounds round trips on s alone, each Read
// waiting for its byte, so that each is a lead without followers.
func calm(t *testing.T, s transport.Stream, c net.Conn, rounds int) {
	t.Helper()
	got := make(chan error, 1)
	for range rounds {
		go func() { _, err := io.ReadFull(s, make([]byte, 1)); got <- err }()
		testenv.Eventually(t, waitTimeout, func() bool { return epoll.Leading(s) }) // a waiting reader
		c.Write([]byte("c"))
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoneLeader: a caller waiting alone sleeps in epoll_wait by itself;
// a second caller that must wait on the same loop is served at once (the
// lone leader dispatches its event and goes on through the runtime
// poller), and a deadline, data and Close all end a lone wait. Lone waits
// are made long here, so that the test sees them.
func TestLoneLeader(t *testing.T) {
	defer epoll.SetLoneWait(epoll.SetLoneWait(int(waitTimeout / time.Millisecond)))
	for _, procs := range []int{1, 2} {
		t.Run(strconv.Itoa(procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			b := openBackend(t, `{"loops": 1}`)
			defer b.Close()
			s1, c1 := pair(t, b)
			s2, c2 := pair(t, b)
			calm(t, s1, c1, 10)

			// Data ends a lone wait.
			got := make(chan error, 1)
			go func() {
				buf := make([]byte, 3)
				_, err := io.ReadFull(s1, buf)
				if err == nil && string(buf) != "abc" {
					err = errors.New("read " + string(buf))
				}
				got <- err
			}()
			testenv.Eventually(t, waitTimeout, func() bool { return epoll.LoneLeader(t, s1) }) // lone leader
			c1.Write([]byte("abc"))
			if err := <-got; err != nil {
				t.Fatal(err)
			}

			// A second waiter is served while the first still waits.
			go func() { _, err := s1.Read(make([]byte, 1)); got <- err }()
			testenv.Eventually(t, waitTimeout, func() bool { return epoll.LoneLeader(t, s1) }) // lone leader
			second := make(chan error, 1)
			go func() { _, err := s2.Read(make([]byte, 1)); second <- err }()
			testenv.Eventually(t, waitTimeout, func() bool { return epoll.ReadParked(s2) })
			c2.Write([]byte("x"))
			select {
			case err := <-second:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("the second waiter was not served while the first waited")
			}
			select {
			case err := <-got:
				t.Fatalf("the first waiter returned early: %v", err)
			default:
			}
			c1.Write([]byte("y"))
			if err := <-got; err != nil {
				t.Fatal(err)
			}

			// An event of another stream, which nobody reads, ends the
			// lone lead (the wait goes on through the runtime poller) and
			// is seen by IsReadable.
			calm(t, s1, c1, 10)
			go func() { _, err := s1.Read(make([]byte, 1)); got <- err }()
			testenv.Eventually(t, waitTimeout, func() bool { return epoll.LoneLeader(t, s1) }) // lone leader
			c2.Write([]byte("o"))
			testenv.Eventually(t, waitTimeout, func() bool { return !epoll.LoneLeader(t, s1) && epoll.Leading(s1) }) // the end of the lone lead
			if !s2.IsReadable() {
				t.Error("the other stream's data is not seen by IsReadable")
			}
			c1.Write([]byte("w"))
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(s2, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}

			// After enough lone waits the loop sleeps alone again, and a
			// deadline and Close end such a wait.
			calm(t, s1, c1, 10)
			s1.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			go func() { _, err := s1.Read(make([]byte, 1)); got <- err }()
			testenv.Eventually(t, waitTimeout, func() bool { return epoll.LoneLeader(t, s1) }) // lone leader
			if err := <-got; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read past the deadline: %v", err)
			}
			s1.SetReadDeadline(time.Time{})
			go func() { _, err := s1.Read(make([]byte, 1)); got <- err }()
			testenv.Eventually(t, waitTimeout, func() bool { return epoll.LoneLeader(t, s1) }) // lone leader
			s1.Close()
			if err := <-got; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Read across Close: %v", err)
			}
		})
	}
}

// TestLoneWaitBound: a lone wait longer than its bound goes on through the
// runtime poller and still ends with the data, a deadline or Close.
func TestLoneWaitBound(t *testing.T) {
	b := openBackend(t, `{"loops": 1}`)
	defer b.Close()
	s, c := pair(t, b)
	calm(t, s, c, 10)
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(s, make([]byte, 1)); got <- err }()
	time.Sleep(30 * time.Millisecond) // well past the 1 ms bound
	c.Write([]byte("x"))
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	calm(t, s, c, 10)
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	calm(t, s, c, 10)
	go func() { _, err := s.Read(make([]byte, 1)); got <- err }()
	time.Sleep(30 * time.Millisecond)
	s.Close()
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read across Close: %v", err)
	}
}
