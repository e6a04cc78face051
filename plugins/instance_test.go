//go:build linux

package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

func TestTailWriter(t *testing.T) {
	var w tailWriter
	for i := range 2000 {
		fmt.Fprintf(&w, "line %d\n", i)
	}
	s := w.String()
	if len(s) > tailMax || !strings.HasSuffix(s, "line 1999") || strings.Contains(s, "line 0\n") {
		t.Errorf("tail of %d bytes ending %q", len(s), s[max(0, len(s)-20):])
	}
	w.Write([]byte("a line mentioning panic: in the middle\n"))
	w.Write([]byte("panic: boom"))
	w.Write([]byte("\n"))
	w.Write([]byte("goroutine 1 [running]:\n"))
	w.Write([]byte(strings.Repeat("x", 2*crashMax)))
	s = w.String()
	if !strings.HasPrefix(s, "panic: boom\ngoroutine 1 [running]:") || len(s) > crashMax {
		t.Errorf("crash text of %d bytes starting %q", len(s), s[:min(len(s), 40)])
	}
	var f tailWriter
	f.Write([]byte("fatal error: all goroutines are asleep\n"))
	if got := f.String(); got != "fatal error: all goroutines are asleep" {
		t.Errorf("fatal error text = %q", got)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 50: backoffMax} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestExitErrorLingering(t *testing.T) {
	inst := newInstance("plugin:linger")
	stopped := make(chan struct{})
	inst.stopFn = func() { close(stopped) }
	e := inst.exitError()
	if e.Status == "" || !errors.Is(e, transport.ErrBackendExited) {
		t.Errorf("exitError of a live instance = %v", e)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Error("a plugin whose control connection broke was not stopped")
	}
	select {
	case <-inst.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Error("the instance is still alive")
	}
}

func TestConnectErrors(t *testing.T) {
	inst := newInstance("plugin:c")
	ctx := context.Background()
	if _, err := inst.connect(ctx, 1, []byte("short")); err == nil {
		t.Error("a short token was accepted")
	}
	token := make([]byte, tokenLen)
	inst.streamAddr = wireAddr{Network: "tcp", Address: "127.0.0.1:1"}
	if _, err := inst.connect(ctx, 1, token); err == nil {
		t.Error("a tcp stream listener was accepted")
	}
	inst.streamAddr = wireAddr{Network: "unix", Address: t.TempDir() + "/none"}
	if _, err := inst.connect(ctx, 1, token); !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connecting to a missing socket: %v", err)
	}
}
