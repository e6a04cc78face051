//go:build linux

package plugins_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// noAdopt hides a backend's Adopt.
type noAdopt struct{ transport.Backend }

// TestHandoffFallback runs handed-off sockets without an in-process
// backend that adopts them: on the plugins package's own streams.
func TestHandoffFallback(t *testing.T) {
	for name, in := range map[string]func() transport.Backend{
		"none": func() transport.Backend { return nil },
		"no-adopt": func() transport.Backend {
			sb, err := stdnet.Open(transport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return noAdopt{sb}
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := inProcess(t, testConfig{})
			plugins.SetInProcess(b, in())
			transporttest.TestStream(t, transporttest.TCPPipe(b))
			s, err := b.Dial(dialCtx(t), "unix", listenUnixAddr(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if p := dataPath(s); p != plugins.DataPathHandoff {
				t.Errorf("data path %q, want handoff", p)
			}
			if v, ok := s.Info(transport.InfoBackend); !ok || v != "plugin:test" {
				t.Errorf("InfoBackend = %v", v)
			}
		})
	}
}

func listenUnixAddr(t *testing.T) string {
	ln := listenUnix(t)
	silentServer(t, ln)
	return ln.Addr().String()
}

// TestByteStreamErrors: errors of the plugin's stream reach the host's
// calls, typed.
func TestByteStreamErrors(t *testing.T) {
	b := inProcess(t, testConfig{Bytes: "all"})
	ln := listenTCP(t)
	defer ln.Close()

	// The server resets: the host's Read fails matching ECONNRESET.
	s, err := b.Dial(dialCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()
	s.SetReadDeadline(time.Now().Add(waitLimit))
	_, err = s.Read(make([]byte, 1))
	var re *plugins.RemoteError
	if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &re) {
		t.Errorf("Read after the server reset: %v, want a RemoteError matching ECONNRESET", err)
	}
	if !s.IsReadable() {
		t.Error("IsReadable is false on a failed stream")
	}

	// The server stops reading and resets: the host's Writes fail with
	// the plugin's write error.
	s2, err := b.Dial(dialCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	peer2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer2.(*net.TCPConn).SetLinger(0)
	peer2.Close()
	s2.SetWriteDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 64<<10)
	for {
		if _, err = s2.Write(buf); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Write after the server reset: %v, want ECONNRESET or EPIPE", err)
	}
	if _, err := s2.Write(buf); err == nil {
		t.Error("a second Write after the failure succeeded")
	}

	// Deadlines are the host's own.
	s3, err := b.Dial(dialCtx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	peer3, _ := ln.Accept()
	defer peer3.Close()
	s3.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := s3.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read past the deadline: %v", err)
	}
	s3.CloseWrite()
	if _, err := s3.Write(buf); err == nil {
		t.Error("Write after CloseWrite succeeded")
	}
	s3.Close()
	if err := s3.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("CloseWrite after Close: %v", err)
	}
	if err := s3.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestConfigErrorAtDial: the plugin checks its config when it is launched,
// at the first Dial.
func TestConfigErrorAtDial(t *testing.T) {
	b, err := plugins.Open(plugins.Plugin{Name: "test", Path: testPluginPath}, transport.Options{Config: []byte(`{"nope": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Dial(dialCtx(t), "tcp", "127.0.0.1:1")
	var re *plugins.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "test plugin config") {
		t.Errorf("Dial with a bad config: %v, want the plugin's config error", err)
	}
	// Failed launches back off: the next Dial waits, bounded by its
	// context.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := b.Dial(ctx, "tcp", "127.0.0.1:1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial during the backoff: %v, want a deadline error", err)
	}
}

func TestClosedBackend(t *testing.T) {
	b := openSubprocess(t, testConfig{}, transport.Options{})
	if _, err := b.Describe(dialCtx(t)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := b.Describe(dialCtx(t)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Describe after Close: %v, want net.ErrClosed", err)
	}
	if _, err := b.DialTLS(dialCtx(t), "tcp", "127.0.0.1:1", nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("DialTLS after Close: %v, want net.ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b2 := openSubprocess(t, testConfig{}, transport.Options{})
	if _, err := b2.Dial(ctx, "tcp", "127.0.0.1:1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a canceled context: %v", err)
	}
}

// TestCleanup: Cleanup closes every open plugin backend and ends its
// process.
func TestCleanup(t *testing.T) {
	before := len(descendants(t))
	b := openSubprocess(t, testConfig{}, transport.Options{})
	if _, err := b.Describe(dialCtx(t)); err != nil {
		t.Fatal(err)
	}
	plugins.Cleanup()
	if _, err := b.Dial(dialCtx(t), "tcp", "127.0.0.1:1"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Cleanup: %v, want net.ErrClosed", err)
	}
	eventually(t, "no descendant left", func() bool { return len(descendants(t)) == before })
}
