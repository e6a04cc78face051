//go:build linux && !race

package epoll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysWrite and sysReadv issue write(2) and readv(2) as raw system calls.
// The fds are non-blocking, so the call never sleeps in the kernel and the
// goroutine need not give up its P (no entersyscall/exitsyscall), which
// the runtime's own poller cannot avoid. Race builds use the annotated
// wrappers in sys_race_linux.go instead.
func sysWrite(fd int, b []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sysReadv reads into b and then into the one byte at spill, with
// readv(2): more bytes than b holds prove the socket was not drained.
func sysReadv(fd int, b []byte, spill *byte) (int, unix.Errno) {
	iov := [2]unix.Iovec{{Base: unsafe.SliceData(b)}, {Base: spill}}
	iov[0].SetLen(len(b))
	iov[1].SetLen(1)
	r, _, e := unix.RawSyscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), 2)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}
