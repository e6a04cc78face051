package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// silentServer listens on loopback, accepts connections and never
// answers; it returns the URL and closes everything at the test's end.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String() + "/"
}

// TestInterruptedCommand: a command whose context a signal ended stops
// promptly without a report, says "interrupted" and returns 128 plus the
// signal's number.
func TestInterruptedCommand(t *testing.T) {
	noEnv(t)
	url := silentServer(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		args []string
	}{
		{syscall.SIGINT, 130, []string{"probe", "--timeout", "30s", "--backend", "stdnet", url}},
		{syscall.SIGTERM, 143, []string{"bench", "-d", "30s", "--rounds", "2", "-c", "1", "--backend", "stdnet", url}},
		{syscall.SIGINT, 130, []string{"bench", "-d", "30s", "--rounds", "2", "-c", "1", "--backend", "stdnet"}},
	} {
		ctx, cancel := context.WithCancelCause(context.Background())
		timer := time.AfterFunc(200*time.Millisecond, func() { cancel(&interrupted{tc.sig}) })
		var out, errOut strings.Builder
		start := time.Now()
		code := runContext(ctx, tc.args, &out, &errOut)
		timer.Stop()
		cancel(nil)
		if code != tc.code || errOut.String() != "transportctl: interrupted\n" {
			t.Errorf("%v, %v: exit %d, stderr %q; want %d and \"transportctl: interrupted\"", tc.args, tc.sig, code, errOut.String(), tc.code)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v took %v after the signal at 200ms", tc.args, d)
		}
		if out.Len() > 0 {
			t.Errorf("%v printed a report after the signal:\n%s", tc.args, out.String())
		}
	}
}

func TestInterruptedCode(t *testing.T) {
	if c := (&interrupted{syscall.SIGTERM}).code(); c != 143 {
		t.Errorf("SIGTERM: %d, want 143", c)
	}
	if s := (&interrupted{syscall.SIGINT}).Error(); !strings.Contains(s, "interrupt") {
		t.Errorf("Error() = %q", s)
	}
}
