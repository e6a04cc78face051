//go:build linux

package plugins_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
)

// exhaustFDs lowers this process's descriptor limit to just above the
// descriptors it holds and fills every free number below it, so that the
// next descriptor the process would get, a received one included, fails
// with EMFILE. The returned function gives everything back.
func exhaustFDs(t *testing.T) (restore func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > highest {
			highest = fd
		}
	}
	low := old
	low.Cur = uint64(highest + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var filler []int
	restore = func() {
		for _, fd := range filler {
			unix.Close(fd)
		}
		filler = nil
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Error(err)
		}
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			return restore
		}
		if err != nil {
			restore()
			t.Fatal(err)
		}
		filler = append(filler, fd)
	}
}

// TestHandoffOutOfDescriptors dials through a plugin that hands the socket
// off while the host has no descriptor left: the kernel drops the
// descriptor (MSG_CTRUNC), and the Dial fails at once with an error that
// says so (ErrHandoffLost, matching EMFILE) instead of waiting until its
// deadline. Once descriptors are free again, Dials work.
func TestHandoffOutOfDescriptors(t *testing.T) {
	b := openSubprocess(t, testConfig{}, transport.Options{})
	ln := listenTCP(t) // never accepts: connections complete in its backlog
	defer ln.Close()
	addr := ln.Addr().String()
	s, err := b.Dial(dialCtx(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Every Dial while the host is out of descriptors fails at once; the
	// issue saw most of 200 requests hang until their deadline.
	const (
		deadline = 10 * time.Second
		dials    = 20
	)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	errs := make([]error, dials)
	restore := exhaustFDs(t)
	start := time.Now()
	for i := range errs {
		if s, err := b.Dial(ctx, "tcp", addr); err == nil {
			s.Close()
		} else {
			errs[i] = err
		}
	}
	took := time.Since(start)
	restore()
	t.Logf("%d Dials with no descriptor left took %v; the first failed with: %v", dials, took, errs[0])
	for i, err := range errs {
		var he *plugins.HandoffError
		if !errors.Is(err, plugins.ErrHandoffLost) || !errors.Is(err, syscall.EMFILE) || !errors.As(err, &he) {
			t.Errorf("Dial %d with no descriptor left: %v, want a *plugins.HandoffError matching ErrHandoffLost and EMFILE", i, err)
		}
	}
	if took >= deadline/2 {
		t.Errorf("the Dials took %v to fail, want them to fail at once (their deadline was %v)", took, deadline)
	}

	for i := range 3 {
		s, err := b.Dial(dialCtx(t), "tcp", addr)
		if err != nil {
			t.Fatalf("Dial %d once descriptors are free: %v", i, err)
		}
		if p := dataPath(s); p != plugins.DataPathHandoff {
			t.Errorf("data path %q, want %q", p, plugins.DataPathHandoff)
		}
		s.Close()
	}
}
