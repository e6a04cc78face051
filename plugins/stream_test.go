//go:build linux

package plugins

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/transport"
)

func TestFileStreamErrors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := newFileStream(r, "plugin:x"); err == nil {
		t.Error("a pipe was taken for a socket")
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := dupFile(f); err == nil {
		t.Error("dupFile of a closed file succeeded")
	}
	// A unix socket stream without a reported remote address shows the
	// socket's own.
	_, peer := socketPairStream(t)
	s, err := newFileStream(peer, "plugin:x")
	if err != nil {
		t.Fatal(err)
	}
	h := &handoffStream{Stream: s, backend: "plugin:x"}
	if h.RemoteAddr() != s.RemoteAddr() {
		t.Errorf("RemoteAddr = %v, want the socket's %v", h.RemoteAddr(), s.RemoteAddr())
	}
	if v, ok := h.Info(transport.InfoFD); !ok || v.(int) < 0 {
		t.Errorf("Info(InfoFD) = %v, %v", v, ok)
	}
	s.Close()
	if _, ok := h.Info(transport.InfoFD); ok {
		t.Error("InfoFD after Close")
	}
	if v, _ := h.Info(transport.InfoClosed); v != true {
		t.Error("InfoClosed is not true after Close")
	}
	if !h.IsReadable() {
		t.Error("IsReadable is false after Close")
	}
}

func socketPairStream(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
