//go:build !linux

package transporttest

import (
	"runtime"
	"time"
)

// sockopts are the options TestOptions reads back from a TCP socket.
type sockopts struct {
	noDelay   bool
	keepAlive bool
	keepIdle  time.Duration
}

// readSockopts is only written for Linux; the checks that need it skip.
func readSockopts(fd int) (sockopts, error) {
	return sockopts{}, skipf("reading socket options back is not implemented on %s", runtime.GOOS)
}
