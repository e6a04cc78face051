package epoll_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
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
