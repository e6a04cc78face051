//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package stdnet

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// peekReadable peeks at one byte with recv(MSG_PEEK|MSG_DONTWAIT). It runs
// inside RawConn.Control rather than RawConn.Read: Read would wait for the
// fd's read lock while another goroutine is in Read, and would fail once a
// read deadline has passed, where Control only pins the fd. Nothing is
// consumed and nothing parks. Data, EOF and a pending socket error all
// count as readable; only EAGAIN does not.
func peekReadable(rc syscall.RawConn) (bool, error) {
	var readable bool
	err := rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case n > 0:
				readable = true
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EWOULDBLOCK):
				readable = false
			default: // EOF (n == 0) or an error waiting to be read
				readable = true
			}
			return
		}
	})
	return readable, err
}
