//go:build !linux

package plugins

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"

	"github.com/transportkit/transportkit/transport"
)

// errPlatform says why plugins cannot be hosted here: the host relies on
// Linux process groups, waitid and SCM_RIGHTS.
var errPlatform = fmt.Errorf("plugins: hosting plugin backends needs Linux: %w", transport.ErrUnavailable)

func handoffPair() (*net.UnixConn, *os.File, error) { return nil, nil, errPlatform }

func sendFD(*net.UnixConn, uint64, int) error { return errPlatform }

func recvFD(*net.UnixConn) (uint64, *os.File, error) { return 0, nil, errPlatform }

// badHandoffError reports a malformed handoff message.
type badHandoffError struct{ why string }

func (e *badHandoffError) Error() string { return "plugins: malformed handoff message: " + e.why }

// peekReadable cannot peek here: it reports false, so a pool notices a
// closed idle stream only when it uses it.
func peekReadable(syscall.RawConn) bool { return false }

func procAttr() *syscall.SysProcAttr { return nil }

func waitExit(int) {}

func killGroup(int) error { return errPlatform }

func killOwnGroup() {}

func dupFile(*os.File) (*os.File, error) { return nil, errPlatform }

// fileOwner is not known here: -1, which the trust rules refuse.
func fileOwner(fs.FileInfo) int { return -1 }

// fileStamp identifies a file's version by its size and modification time.
type fileStamp struct {
	size, mtime int64
}

func stampOf(fi fs.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

func openNoFollow(string) (*os.File, error) { return nil, errPlatform }

func nameProcess(string) {}
