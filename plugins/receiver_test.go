//go:build linux

package plugins

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	a, bf, err := handoffPair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fileUnixConn(bf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRecvFD(t *testing.T) {
	send, recv := socketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := int(r.Fd())
	for _, m := range []struct {
		msg []byte
		oob []byte
	}{
		{[]byte("12345678"), nil},                           // no descriptor
		{[]byte("1234"), unix.UnixRights(fd)},               // short tag
		{[]byte("12345678"), unix.UnixRights(fd, fd)},       // two descriptors
		{[]byte("123456789"), unix.UnixRights(int(w.Fd()))}, // long tag
	} {
		if _, _, err := send.WriteMsgUnix(m.msg, m.oob, nil); err != nil {
			t.Fatal(err)
		}
		var bad *badHandoffError
		if _, f, err := recvFD(recv); !errors.As(err, &bad) || f != nil {
			t.Errorf("message %q with %d bytes of rights: %v, want a badHandoffError", m.msg, len(m.oob), err)
		}
	}
	if err := sendFD(send, 7, fd); err != nil {
		t.Fatal(err)
	}
	id, f, err := recvFD(recv)
	if err != nil || id != 7 || f == nil {
		t.Fatalf("recvFD = %d, %v, %v", id, f, err)
	}
	f.Close()
	send.Close()
	if _, _, err := recvFD(recv); !errors.Is(err, io.EOF) {
		t.Errorf("recvFD after the sender closed: %v, want io.EOF", err)
	}
}

func TestReceiver(t *testing.T) {
	send, recv := socketPair(t)
	r := newReceiver(recv, hclog.NewNullLogger())
	defer r.close()
	p1, p2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	defer p2.Close()
	send.WriteMsgUnix([]byte("bad"), nil, nil) // logged and skipped
	ch := r.expect(1)
	if err := sendFD(send, 1, int(p1.Fd())); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-ch:
		h.f.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the socket never arrived")
	}
	r.forget(1)
	// A message whose descriptors the kernel truncated (here: more than
	// the receiver takes) tells the waiting Dial.
	ch = r.expect(4)
	fd := int(p1.Fd())
	if _, _, err := send.WriteMsgUnix([]byte{0, 0, 0, 0, 0, 0, 0, 4}, unix.UnixRights(fd, fd, fd, fd, fd), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-ch:
		var he *HandoffError
		if h.f != nil || !errors.As(h.err, &he) || he.Err != nil || !errors.Is(h.err, ErrHandoffLost) {
			t.Errorf("truncated handoff: %+v, want a *HandoffError without a cause", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the truncated handoff was never reported")
	}
	r.forget(4)
	// Unclaimed ones are closed: by forget, or by the receiver.
	r.expect(2)
	sendFD(send, 2, int(p1.Fd()))
	sendFD(send, 3, int(p1.Fd()))
	time.Sleep(50 * time.Millisecond)
	r.forget(2)
	r.forget(99)
}

func TestHandoffFromEnv(t *testing.T) {
	t.Setenv(envHandoffFD, "")
	if c, err := handoffFromEnv(); c != nil || err != nil {
		t.Errorf("no variable: %v, %v", c, err)
	}
	for _, v := range []string{"x", "2", "-1"} {
		t.Setenv(envHandoffFD, v)
		if _, err := handoffFromEnv(); err == nil {
			t.Errorf("%s=%s accepted", envHandoffFD, v)
		}
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	// A bare descriptor, owned (and closed) by handoffFromEnv alone: an
	// *os.File of it would close it again from its finalizer, whatever
	// the number names by then.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envHandoffFD, fmt.Sprint(fd))
	if _, err := handoffFromEnv(); err == nil {
		t.Error("a regular file was taken for a handoff socket")
	}
}
