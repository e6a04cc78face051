package transporttest

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sockopts are the options TestOptions reads back from a TCP socket.
type sockopts struct {
	noDelay   bool
	keepAlive bool
	keepIdle  time.Duration
}

// readSockopts reads TCP_NODELAY, SO_KEEPALIVE and TCP_KEEPIDLE from fd.
func readSockopts(fd int) (sockopts, error) {
	var o sockopts
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil {
		return o, os.NewSyscallError("getsockopt TCP_NODELAY", err)
	}
	o.noDelay = v != 0
	if v, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE); err != nil {
		return o, os.NewSyscallError("getsockopt SO_KEEPALIVE", err)
	}
	o.keepAlive = v != 0
	if v, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); err != nil {
		return o, os.NewSyscallError("getsockopt TCP_KEEPIDLE", err)
	}
	o.keepIdle = time.Duration(v) * time.Second
	return o, nil
}
