//go:build linux

package plugins_test

import (
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
)

// procFDs returns the open descriptors of this process and what each
// names.
func procFDs(t testing.TB) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil { // the directory's own descriptor is gone by now
			m[e.Name()] = target
		}
	}
	return m
}

// waitFDsBack polls, for up to 2s, until no more descriptors are open
// than in before, and fails t naming the new ones otherwise.
func waitFDsBack(t testing.TB, before map[string]string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		now := procFDs(t)
		if len(now) <= len(before) {
			return
		}
		if time.Now().After(deadline) {
			var extra []string
			for fd, target := range now {
				if before[fd] != target {
					extra = append(extra, fmt.Sprintf("%s -> %s", fd, target))
				}
			}
			slices.Sort(extra)
			t.Fatalf("%d descriptors open, %d before; new: %s", len(now), len(before), strings.Join(extra, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHandoffNoFDLeft dials through a plugin process with the socket
// handed off, closes the stream and then the Backend, and checks that
// every descriptor the launch and the dial opened is closed by then:
// closed, not dropped for the garbage collector to finalize, which is
// kept from running here so that it cannot hide such a leak.
func TestHandoffNoFDLeft(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ln := listenTCP(t)
	echoServer(t, ln)
	before := procFDs(t)

	b, err := plugins.Open(plugins.Plugin{Name: "test", Path: testPluginPath}, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.Dial(dialCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if p := dataPath(s); p != plugins.DataPathHandoff {
		t.Errorf("data path %q, want handoff", p)
	}
	roundTrip(t, s, "hello")
	if err := s.Close(); err != nil {
		t.Errorf("stream Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Backend Close: %v", err)
	}
	waitFDsBack(t, before)
}
