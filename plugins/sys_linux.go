package plugins

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errPlatform is nil: plugin hosts run on Linux.
var errPlatform error

// handoffPair returns a connected pair of SOCK_SEQPACKET unix sockets, both
// close-on-exec: the host keeps the first, the plugin process gets the
// second. Sequenced packets keep each handed-off socket's message whole.
func handoffPair() (host *net.UnixConn, peer *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	hf := os.NewFile(uintptr(fds[0]), "transportkit-handoff-host")
	peer = os.NewFile(uintptr(fds[1]), "transportkit-handoff-plugin")
	host, err = fileUnixConn(hf)
	if err != nil {
		peer.Close()
		return nil, nil, err
	}
	return host, peer, nil
}

// handoffMsgLen is the size of a handoff message: the id, big-endian.
const handoffMsgLen = 8

// sendFD sends fd over c tagged with id. The kernel takes its own
// reference to the socket: the caller may close fd afterwards.
func sendFD(c *net.UnixConn, id uint64, fd int) error {
	var msg [handoffMsgLen]byte
	binary.BigEndian.PutUint64(msg[:], id)
	_, _, err := c.WriteMsgUnix(msg[:], unix.UnixRights(fd), nil)
	return err
}

// recvFD receives one handoff message from c. A message whose
// descriptor the kernel dropped (MSG_CTRUNC, as when this process is out
// of descriptors) but whose tag arrived is reported with its id and a
// *HandoffError, so that the Dial waiting for it can fail. Any other
// message that carries no descriptor, or more than one, or a wrong-sized
// tag, is reported as a *badHandoffError. In both cases the descriptors
// that did arrive are closed. A read error ends the channel.
func recvFD(c *net.UnixConn) (id uint64, f *os.File, err error) {
	var msg [handoffMsgLen + 1]byte
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(msg[:], oob)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 && oobn == 0 {
		return 0, nil, io.EOF
	}
	var fds []int
	if cmsgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
		for _, m := range cmsgs {
			if got, rerr := unix.ParseUnixRights(&m); rerr == nil {
				fds = append(fds, got...)
			}
		}
	}
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	bad := func(why string) (uint64, *os.File, error) {
		closeAll()
		return 0, nil, &badHandoffError{why}
	}
	switch {
	case flags&unix.MSG_TRUNC != 0:
		return bad("truncated message")
	case n != handoffMsgLen:
		return bad(fmt.Sprintf("%d-byte tag", n))
	case flags&unix.MSG_CTRUNC != 0:
		closeAll()
		return binary.BigEndian.Uint64(msg[:handoffMsgLen]), nil, &HandoffError{Err: descriptorShortage(c)}
	case len(fds) != 1:
		return bad(fmt.Sprintf("%d descriptors", len(fds)))
	}
	return binary.BigEndian.Uint64(msg[:handoffMsgLen]), os.NewFile(uintptr(fds[0]), "transportkit-handoff"), nil
}

// descriptorShortage tells why a received descriptor was dropped: it
// tries to get one more descriptor, and returns EMFILE or ENFILE if that
// fails so, or nil.
func descriptorShortage(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var cause error
	rc.Control(func(fd uintptr) {
		nfd, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		switch {
		case err == nil:
			unix.Close(nfd)
		case err == unix.EMFILE || err == unix.ENFILE:
			cause = err
		}
	})
	return cause
}

// badHandoffError reports a malformed handoff message; the channel stays
// usable.
type badHandoffError struct{ why string }

func (e *badHandoffError) Error() string { return "plugins: malformed handoff message: " + e.why }

// peekReadable reports whether a read on rc would not block: data, EOF or
// an error waiting. It polls without waiting (poll(2), not a MSG_PEEK
// recv, which would consume a pending error such as ECONNRESET), and runs
// beside a blocked Read, since Control takes no read lock.
func peekReadable(rc syscall.RawConn) bool {
	readable := true
	err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if err == unix.EINTR {
				continue
			}
			readable = err != nil || (n > 0 && fds[0].Revents != 0)
			return
		}
	})
	return readable || err != nil
}

// procAttr puts the plugin process in a process group of its own, so that
// it and every child it starts can be ended together, and has the kernel
// send it SIGTERM when the host dies (the parent-death signal), even while
// it starts: Serve then ends the plugin's whole group, and a plugin that
// has not reached Serve yet dies of the signal. (SIGTERM rather than
// SIGKILL, so that the plugin can end its children too.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// waitExit blocks until process pid has exited, without reaping it, so
// that its pid (which names its process group) cannot be reused while the
// group is being killed.
func waitExit(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// killGroup sends SIGKILL to every process in the process group pgid.
func killGroup(pgid int) error {
	if pgid <= 1 {
		return fmt.Errorf("plugins: refusing to kill process group %d", pgid)
	}
	err := unix.Kill(-pgid, unix.SIGKILL)
	if err == unix.ESRCH {
		return nil
	}
	return err
}

// killOwnGroup ends this process and the processes it started, when it
// leads its own process group (which a plugin started by a host does).
// It does nothing otherwise, so it never touches the group of a parent.
func killOwnGroup() {
	if unix.Getpgrp() == unix.Getpid() {
		unix.Kill(0, unix.SIGKILL)
	}
}

// dupFile returns a close-on-exec duplicate of f's descriptor.
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("fcntl", dupErr)
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// fileOwner returns the uid that owns the file fi describes, or -1 when
// it is not known (which the trust rules refuse).
func fileOwner(fi fs.FileInfo) int {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1
	}
	return int(st.Uid)
}

// fileStamp identifies a file and its contents' version: a write changes
// its modification time, a replacement its inode. (Not its ctime, which a
// rename over the file's path changes too.)
type fileStamp struct {
	dev, ino    uint64
	size, mtime int64
}

// stampOf returns fi's stamp.
func stampOf(fi fs.FileInfo) fileStamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	return fileStamp{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: st.Mtim.Nano()}
}

// openNoFollow opens path for reading, failing if its last element is a
// symbolic link (resolveTrusted has resolved them all).
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
}

// nameProcess sets this process's name (its comm: what ps -e, pgrep and
// top show) to name, cut to the 15 bytes the kernel keeps. A plugin the
// host executed through /proc/self/fd would otherwise be named after the
// descriptor's number. It is best effort.
func nameProcess(name string) {
	if len(name) > 15 {
		name = name[:15]
	}
	f, err := os.OpenFile("/proc/self/comm", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	f.WriteString(name)
	f.Close()
}
