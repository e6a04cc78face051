package h2

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/internal/testenv"
)

// TestReady shows that Ready waits for the peer's SETTINGS, so that
// MaxConcurrent is the peer's limit once it is closed.
func TestReady(t *testing.T) {
	c := mockH2C(t, hello, 7, Options{})
	select {
	case <-c.Ready():
	case <-testContext(t).Done():
		t.Fatal("Ready never closed")
	}
	if st := c.State(); st.MaxConcurrent != 7 {
		t.Fatalf("MaxConcurrent after Ready = %d, want 7", st.MaxConcurrent)
	}
}

// TestReadyOnClose shows that a peer that never sends SETTINGS leaves
// Ready open until the Conn is closed.
func TestReadyOnClose(t *testing.T) {
	b := newMock(t)
	silent := make(chan struct{})
	b.Handle("silent.test:80", mock.FuncPeer(func(nc net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := nc.Read(buf); err != nil {
				close(silent)
				return
			}
		}
	}))
	s, err := b.Dial(testContext(t), "tcp", "silent.test:80")
	must(t, err)
	c := startConn(t, s, Options{})
	select {
	case <-c.Ready():
		t.Fatal("Ready closed before any SETTINGS")
	default:
	}
	c.Close()
	select {
	case <-c.Ready():
	case <-testContext(t).Done():
		t.Fatal("Ready not closed by Close")
	}
	<-silent
}

// TestOnIdle shows that OnIdle runs when the last request ends and when
// the last reservation is released, and not while something is active.
func TestOnIdle(t *testing.T) {
	var idle atomic.Int32
	c := mockH2C(t, hello, 0, Options{OnIdle: func() { idle.Add(1) }})
	if body, _, err := get(testContext(t), c, "http://h2c.test/a"); err != nil || body != "hello /a" {
		t.Fatalf("%q %v", body, err)
	}
	if n := idle.Load(); n != 1 {
		t.Fatalf("OnIdle after one request: %d calls", n)
	}
	for range 2 {
		if !c.Reserve() {
			t.Fatal("Reserve failed")
		}
	}
	c.Release()
	if n := idle.Load(); n != 1 {
		t.Fatalf("OnIdle with a slot still reserved: %d calls", n)
	}
	c.Release()
	if n := idle.Load(); n != 2 {
		t.Fatalf("OnIdle after the last Release: %d calls", n)
	}
	c.Release() // nothing reserved: no call
	if n := idle.Load(); n != 2 {
		t.Fatalf("OnIdle after an empty Release: %d calls", n)
	}
}

// TestRoundTripWaitsAtLimit shows that a RoundTrip without a reservation
// on a full Conn waits for a stream, and
// that the full Conn is not retired as unusable.
func TestRoundTripWaitsAtLimit(t *testing.T) {
	hold := make(chan struct{})
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-hold
		}
		io.WriteString(w, "ok")
	})
	c := mockH2C(t, h, 1, Options{})
	<-c.Ready()
	first := make(chan error, 1)
	go func() {
		_, _, err := get(testContext(t), c, "http://h2c.test/1")
		first <- err
	}()
	testenv.Eventually(t, testTimeout, func() bool { return n.Load() > 0 }) // the first request arrives
	second := make(chan error, 1)
	go func() {
		body, _, err := get(testContext(t), c, "http://h2c.test/2")
		if err == nil && body != "ok" {
			err = errors.New(body)
		}
		second <- err
	}()
	// The second request is waiting for a stream, not failed.
	select {
	case err := <-second:
		t.Fatalf("second request returned while the only stream was busy: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	must(t, <-first)
	must(t, <-second)
	if st := c.State(); st.GoingAway || st.Active != 0 {
		t.Fatalf("State = %+v, want a usable idle Conn", st)
	}
}
