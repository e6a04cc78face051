//go:build linux

package plugins_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
)

// procInfo is what /proc/PID/stat says about a process.
type procInfo struct {
	pid, ppid, pgrp int
	state           byte
}

// processes lists every process in /proc.
func processes(t testing.TB) []procInfo {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var ps []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		rest := string(data[bytes.LastIndexByte(data, ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		ps = append(ps, procInfo{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0]})
	}
	return ps
}

// descendants returns the pids of this process's descendants.
func descendants(t testing.TB) []int {
	ps := processes(t)
	children := map[int][]int{}
	for _, p := range ps {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var out []int
	queue := []int{os.Getpid()}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// groupMembers returns the pids in process group pgrp.
func groupMembers(t testing.TB, pgrp int) []int {
	var out []int
	for _, p := range processes(t) {
		if p.pgrp == pgrp {
			out = append(out, p.pid)
		}
	}
	return out
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// silentServer accepts connections on ln and holds them without reading or
// writing until the test ends.
func silentServer(t testing.TB, ln net.Listener) {
	testenv.Serve(t, ln, func(net.Conn) {})
}

// echoServer echoes every connection accepted on ln. It copies through
// a buffer of its own, never with splice(2): io.Copy between kernel
// sockets splices through pipes that package internal/poll caches in a
// sync.Pool and closes only when the garbage collector empties the pool,
// which a test counting descriptors would take for a leak.
func echoServer(t testing.TB, ln net.Listener) {
	testenv.Serve(t, ln, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit)) // a peer left open cannot hang the cleanup
		copyNoSplice(c, c)
	})
}

// copyNoSplice copies src to dst through a plain buffer: hiding
// io.ReaderFrom and io.WriterTo keeps io.CopyBuffer off splice(2).
func copyNoSplice(dst io.Writer, src io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 32<<10))
}

func listenTCP(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func listenUnix(t testing.TB) net.Listener {
	t.Helper()
	dir, err := os.MkdirTemp("", "pt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// roundTrip writes msg on s and reads it back from an echo server.
func roundTrip(t testing.TB, s net.Conn, msg string) {
	t.Helper()
	s.SetDeadline(time.Now().Add(waitLimit))
	defer s.SetDeadline(time.Time{})
	if _, err := io.WriteString(s, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("read %q, want %q", got, msg)
	}
}

func dataPath(s transport.Stream) string {
	v, _ := s.Info(plugins.InfoDataPath)
	p, _ := v.(string)
	return p
}

// TestKill kills the plugin process with SIGKILL while a byte stream is
// blocked reading and another blocked writing, and checks that both fail
// with ErrBackendExited within a second, that a handed-off stream keeps
// working, that the next Dial relaunches the plugin, and that no process
// is left: not the plugin, not the child it started.
func TestKill(t *testing.T) {
	before := len(descendants(t))
	b := openSubprocess(t, testConfig{Bytes: "unix", Spawn: true}, transport.Options{})

	echo := listenTCP(t)
	echoServer(t, echo)
	silent := listenUnix(t)
	silentServer(t, silent)

	handoff, err := b.Dial(dialCtx(t), "tcp", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer handoff.Close()
	if p := dataPath(handoff); p != plugins.DataPathHandoff {
		t.Fatalf("tcp stream data path = %q, want %q", p, plugins.DataPathHandoff)
	}
	roundTrip(t, handoff, "before")

	reader, err := b.Dial(dialCtx(t), "unix", silent.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	writer, err := b.Dial(dialCtx(t), "unix", silent.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if p := dataPath(reader); p != plugins.DataPathBytes {
		t.Fatalf("unix stream data path = %q, want %q", p, plugins.DataPathBytes)
	}

	pid := plugins.PID(b)
	if pid <= 0 {
		t.Fatal("no plugin process")
	}
	eventually(t, "two processes in the plugin's group", func() bool { return len(groupMembers(t, pid)) >= 2 })
	if n := len(descendants(t)); n < before+2 {
		t.Fatalf("%d descendants with the plugin running, want at least %d", n, before+2)
	}

	type result struct {
		err     error
		elapsed time.Duration
	}
	killed := make(chan time.Time, 2)
	readRes := make(chan result, 1)
	go func() {
		_, err := reader.Read(make([]byte, 1))
		readRes <- result{err, time.Since(<-killed)}
	}()
	writeRes := make(chan result, 1)
	writing := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		close(writing)
		for {
			if _, err := writer.Write(buf); err != nil {
				writeRes <- result{err, time.Since(<-killed)}
				return
			}
		}
	}()
	<-writing
	time.Sleep(100 * time.Millisecond) // let both block in the kernel
	now := time.Now()
	killed <- now
	killed <- now
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	for name, ch := range map[string]chan result{"Read": readRes, "Write": writeRes} {
		select {
		case r := <-ch:
			t.Logf("%s failed %v after the kill: %v", name, r.elapsed, firstLine(r.err))
			if !errors.Is(r.err, transport.ErrBackendExited) {
				t.Errorf("%s after the kill: %v, want an error matching ErrBackendExited", name, r.err)
			}
			if r.elapsed > time.Second {
				t.Errorf("%s failed %v after the kill, want within 1s", name, r.elapsed)
			}
			var ee *plugins.ExitError
			if !errors.As(r.err, &ee) || ee.Plugin != "plugin:test" {
				t.Errorf("%s after the kill: %#v, want a *plugins.ExitError for plugin:test", name, r.err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s still blocked %v after the kill", name, waitLimit)
		}
	}
	// Later calls keep failing the same way.
	if _, err := reader.Read(make([]byte, 1)); !errors.Is(err, transport.ErrBackendExited) {
		t.Errorf("second Read after the kill: %v, want ErrBackendExited", err)
	}

	eventually(t, "the plugin's group gone", func() bool { return len(groupMembers(t, pid)) == 0 })
	roundTrip(t, handoff, "after the plugin died")

	again, err := b.Dial(dialCtx(t), "tcp", echo.Addr().String())
	if err != nil {
		t.Fatalf("Dial after the kill: %v", err)
	}
	roundTrip(t, again, "relaunched")
	again.Close()
	if p := plugins.PID(b); p == pid || p <= 0 {
		t.Errorf("plugin pid after relaunch = %d, want a new process (was %d)", p, pid)
	}

	b.Close()
	eventually(t, "no descendant left", func() bool { return len(descendants(t)) == before })
	roundTrip(t, handoff, "after Close")
}

// TestCrashOutput makes the plugin panic during a Dial: the Dial fails with
// an *ExitError carrying the panic, which the host's log has too, and the
// next Dial relaunches the plugin.
func TestCrashOutput(t *testing.T) {
	logs := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	b := openSubprocess(t, testConfig{}, transport.Options{Logger: log})
	_, err := b.Dial(dialCtx(t), "tcp", "panic")
	if !errors.Is(err, transport.ErrBackendExited) {
		t.Fatalf("Dial that panics the plugin: %v, want ErrBackendExited", err)
	}
	var ee *plugins.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %T is not a *plugins.ExitError", err)
	}
	if !strings.Contains(ee.Output, "panic: test plugin asked to panic") {
		t.Errorf("ExitError.Output = %q, want the panic", ee.Output)
	}
	if ee.Status == "" {
		t.Error("ExitError.Status is empty")
	}
	eventually(t, "the panic in the host's log", func() bool {
		return strings.Contains(logs.String(), "test plugin asked to panic")
	})

	echo := listenTCP(t)
	echoServer(t, echo)
	s, err := b.Dial(dialCtx(t), "tcp", echo.Addr().String())
	if err != nil {
		t.Fatalf("Dial after the crash: %v", err)
	}
	roundTrip(t, s, "relaunched")
	s.Close()
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var _ = fmt.Sprint

func firstLine(err error) string {
	s := fmt.Sprint(err)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
