//go:build linux && !race

package epoll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysRead and sysWrite issue read(2) and write(2) as raw system calls. The
// fds are non-blocking, so the call never sleeps in the kernel and the
// goroutine need not give up its P (no entersyscall/exitsyscall), which
// the runtime's own poller cannot avoid. Race builds use the annotated
// wrappers in sys_race_linux.go instead.
func sysRead(fd int, b []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

func sysWrite(fd int, b []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}
