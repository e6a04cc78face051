//go:build linux && race

package epoll

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Under the race detector, reads and writes go through the x/sys wrappers,
// which tell the detector that bytes written to one fd and read from
// another are ordered, as the standard library's do.

func sysReadv(fd int, b []byte, spill *byte) (int, unix.Errno) {
	n, err := unix.Readv(fd, [][]byte{b, unsafe.Slice(spill, 1)})
	if n < 0 {
		n = 0
	}
	return n, errnoOf(err)
}

func sysWrite(fd int, b []byte) (int, unix.Errno) {
	n, err := unix.Write(fd, b)
	if n < 0 {
		n = 0
	}
	return n, errnoOf(err)
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}
