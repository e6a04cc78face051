//go:build linux

package plugins_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
)

// closeBound is how long Close may take on a plugin that does not answer:
// the graceful shutdown's bound and the kill, with room for a loaded
// machine. It is far below waitLimit and the start timeouts used here.
const closeBound = 10 * time.Second

// returnsWithin runs f and fails t if it has not returned within d. It
// then calls unblock, if not nil, and waits for f anyway, so nothing is
// left running.
func returnsWithin(t *testing.T, what string, d time.Duration, f, unblock func()) time.Duration {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(d):
		t.Errorf("%s still blocked after %v", what, d)
	}
	if unblock != nil {
		unblock()
	}
	<-done
	return time.Since(start)
}

// TestCloseStoppedPlugin stops the plugin process (SIGSTOP), so that it
// answers nothing, not even go-plugin's Shutdown call: Close and Cleanup
// still return, having killed it and the child it started.
func TestCloseStoppedPlugin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(*plugins.Backend)
	}{
		{"Close", func(b *plugins.Backend) { b.Close() }},
		{"Cleanup", func(*plugins.Backend) { plugins.Cleanup() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(descendants(t))
			b := openSubprocess(t, testConfig{Spawn: true}, transport.Options{})
			if _, err := b.Describe(dialCtx(t)); err != nil {
				t.Fatal(err)
			}
			pid := plugins.PID(b)
			eventually(t, "the plugin's child started", func() bool { return len(groupMembers(t, pid)) >= 2 })
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			took := returnsWithin(t, tc.name+" of a stopped plugin", closeBound, func() { tc.close(b) }, func() {
				syscall.Kill(-pid, syscall.SIGKILL)
			})
			t.Logf("%s returned after %v", tc.name, took)
			eventually(t, "the plugin's group gone", func() bool { return len(groupMembers(t, pid)) == 0 })
			eventually(t, "no descendant left", func() bool { return len(descendants(t)) == before })
			if _, err := b.Dial(dialCtx(t), "tcp", "127.0.0.1:1"); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Dial after %s: %v, want net.ErrClosed", tc.name, err)
			}
		})
	}
}

// TestCloseDuringLaunch closes the Backend while its plugin is starting
// and will not answer the handshake before a long start timeout: Close
// aborts the launch at once, the waiting Dial fails with net.ErrClosed,
// and no process is left.
func TestCloseDuringLaunch(t *testing.T) {
	before := len(descendants(t))
	path := script(t, "exec sleep 120")
	b, err := plugins.Open(plugins.Plugin{Name: "script", Path: path, StartTimeout: time.Minute}, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dialed := make(chan error, 1)
	go func() {
		_, err := b.Dial(context.Background(), "tcp", "127.0.0.1:1")
		dialed <- err
	}()
	eventually(t, "the plugin process started", func() bool { return len(descendants(t)) > before })
	took := returnsWithin(t, "Close during a launch", closeBound, func() { b.Close() }, nil)
	t.Logf("Close returned after %v", took)
	select {
	case err := <-dialed:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("the Dial waiting for the launch: %v, want net.ErrClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the Dial waiting for the launch still blocked after Close")
	}
	eventually(t, "no descendant left", func() bool { return len(descendants(t)) == before })
}

// TestVerifyCanceledDuringLaunch cancels Verify's context while the
// plugin starts: Verify returns the context's error and the process is
// gone, not left to run out its start timeout.
func TestVerifyCanceledDuringLaunch(t *testing.T) {
	before := len(descendants(t))
	path := script(t, "exec sleep 120")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verified := make(chan error, 1)
	go func() {
		_, err := plugins.Verify(ctx, path, plugins.VerifyOptions{StartTimeout: time.Minute})
		verified <- err
	}()
	eventually(t, "the plugin process started", func() bool { return len(descendants(t)) > before })
	cancel()
	select {
	case err := <-verified:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Verify: %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Verify still blocked after its context was canceled")
	}
	eventually(t, "no descendant left", func() bool { return len(descendants(t)) == before })
}
