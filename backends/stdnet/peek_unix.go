//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package stdnet

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// peekReadable asks the kernel, with poll(2) and a zero timeout, whether a
// read would return at once: data waiting (POLLIN), EOF (POLLIN, POLLHUP)
// or a pending error (POLLERR). poll consumes nothing. recv(MSG_PEEK)
// would not do: it leaves data alone but takes a pending error such as
// ECONNRESET off the socket, so the next Read would see EOF instead.
//
// It runs inside RawConn.Control rather than RawConn.Read: Read waits for
// the fd's read lock while another goroutine is in Read, and fails once a
// read deadline has passed, where Control only pins the fd. Nothing
// parks.
func peekReadable(rc syscall.RawConn) (bool, error) {
	var readable bool
	err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// On any other error, say readable: a Read will not block but
			// report the problem.
			readable = err != nil || (n > 0 && fds[0].Revents != 0)
			return
		}
	})
	return readable, err
}
