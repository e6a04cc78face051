package mock

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// makePipe returns a MakePipe dialing through a fresh backend with faults;
// stop closes the backend too, so nothing outlives a pair.
func makePipe(faults ...Fault) transporttest.MakePipe {
	return func() (transport.Stream, net.Conn, func(), error) {
		b := New()
		peer, ch := handOver()
		b.Handle("example.com:80", peer, faults...)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		c1, err := b.Dial(ctx, "tcp", "example.com:80")
		if err != nil {
			b.Close()
			return nil, nil, nil, err
		}
		c2 := <-ch
		return c1, c2, func() { b.Close() }, nil
	}
}

func TestConformance(t *testing.T) {
	t.Run("plain", func(t *testing.T) { transporttest.TestStream(t, makePipe()) })
	t.Run("split", func(t *testing.T) {
		transporttest.TestStream(t, makePipe(SplitReads(1000), SplitWrites(700)))
	})
	t.Run("scriptedTLS", func(t *testing.T) {
		transporttest.TestStream(t, func() (transport.Stream, net.Conn, func(), error) {
			b := New()
			// A script whose steps ran out leaves the peer end
			// untouched: the test takes it over.
			b.Handle("example.com:443", TLSScriptPeer("h2"))
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			s, err := b.DialTLS(ctx, "tcp", "example.com:443", &tls.Config{NextProtos: []string{"h2"}})
			if err != nil {
				b.Close()
				return nil, nil, nil, err
			}
			c := b.Conns()[0]
			select {
			case <-c.Done():
			case <-time.After(waitLimit):
			}
			// Undo the script's discarding so the peer end reads.
			c.p.mu.Lock()
			c.p.dirs[clientSide].discard = false
			c.p.mu.Unlock()
			return s, c.p.peer(), func() { b.Close() }, nil
		})
	})
}

// TestStreamDirect runs the suite on a bare pair, without a backend.
func TestStreamDirect(t *testing.T) {
	transporttest.TestStream(t, func() (transport.Stream, net.Conn, func(), error) {
		p := newPair(&Conn{done: make(chan struct{})}, &Addr{Net: "tcp", Address: "mock:1"}, &Addr{Net: "tcp", Address: "x:1"})
		return p.client(), p.peer(), p.closeAll, nil
	})
}

// backendChecks are the checks of transporttest.TestBackend that apply to
// memory. The others need real sockets: DialTCP, DialUnix and Concurrent
// dial listeners of the standard library, and Deadline and Cancel need a
// dial that hangs at a blackholed port (the mock hangs only where a Delay
// fault says so; TestFaultDelay checks the same contract there).
var backendChecks = []string{"Name", "Refused", "CanceledBefore", "Unsupported", "BadAddress", "Closed"}

// TestBackendSuite runs those checks of the shared suite, unchanged, in a
// child process of this test binary, since a test cannot skip some of a
// suite's subtests from outside.
func TestBackendSuite(t *testing.T) {
	if os.Getenv("MOCK_BACKEND_SUITE") == "1" {
		transporttest.TestBackend(t, func(t *testing.T) transport.Backend { return New() })
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run := "-test.run=^TestBackendSuite$/^(" + strings.Join(backendChecks, "|") + ")$"
	cmd := exec.CommandContext(ctx, os.Args[0], run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "MOCK_BACKEND_SUITE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("suite failed: %v\n%s", err, out)
	}
	for _, c := range backendChecks {
		if !bytes.Contains(out, []byte("--- PASS: TestBackendSuite/"+c+" ")) {
			t.Errorf("check %s did not pass:\n%s", c, out)
		}
	}
}
