package transporttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
)

// Each case opens a backend that ignores or mangles one option and
// expects TestOptions' check for it to fail (or to skip, where the stream
// hides what the check needs).
func TestOptionsChecksCatchBrokenBackends(t *testing.T) {
	shorten(t)
	// open builds a stdnet backend from opts after mod rewrites them, and
	// lets wrap break the backend.
	open := func(t *testing.T, mod func(*transport.Options), wrap func(*fakeBackend)) openFunc {
		return func(opts transport.Options) (transport.Backend, error) {
			if mod != nil {
				mod(&opts)
			}
			f := &fakeBackend{Backend: newStdnet(t, opts)}
			if wrap != nil {
				wrap(f)
			}
			return f, nil
		}
	}
	wrapControl := func(network, address string, rc syscall.RawConn) func(*transport.Options) {
		return func(o *transport.Options) {
			orig := o.Control
			o.Control = func(n, a string, c syscall.RawConn) error {
				if network != "" {
					n = network
				}
				if address != "" {
					a = address
				}
				if rc != nil {
					c = rc
				}
				return orig(n, a, c)
			}
		}
	}
	streamMod := func(mod func(*fakeStream)) func(*fakeBackend) {
		return func(f *fakeBackend) { f.dial = wrapDial(f.Backend, mod) }
	}
	sleep := 4 * hangSlack // well past the watchdog, even on a loaded machine
	cases := []struct {
		name  string
		check func(openFunc) error
		mod   func(*transport.Options)
		wrap  func(*fakeBackend)
		skip  bool
	}{
		{name: "ConnectTimeout/Ignored", check: checkConnectTimeout, wrap: func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				time.Sleep(sleep)
				return nil, opErr(network, address, transport.ErrTimeout)
			}
		}},
		{name: "ConnectTimeout/NotTimeout", check: checkConnectTimeout, wrap: func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				return nil, opErr(network, address, errFake)
			}
		}},
		{name: "ConnectTimeout/NotOpError", check: checkConnectTimeout, wrap: func(f *fakeBackend) {
			f.dial = func(context.Context, string, string) (transport.Stream, error) { return nil, errFake }
		}},
		{name: "Control/NotCalled", check: checkControl, mod: func(o *transport.Options) { o.Control = nil }},
		{name: "Control/Network", check: checkControl, mod: wrapControl("udp", "", nil)},
		{name: "Control/Address", check: checkControl, mod: wrapControl("", "elsewhere:1", nil)},
		{name: "Control/RawConn", check: checkControl, mod: wrapControl("", "", fakeRawConn{})},
		{name: "Control/DialFails", check: checkControl, wrap: func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				return nil, opErr(network, address, errFake)
			}
		}},
		{name: "ControlError/Ignored", check: checkControlError, mod: func(o *transport.Options) { o.Control = nil }},
		{name: "ControlError/Replaced", check: checkControlError, mod: func(o *transport.Options) {
			o.Control = func(string, string, syscall.RawConn) error { return errFake }
		}},
		{name: "LocalAddr/Ignored", check: checkLocalAddr, mod: func(o *transport.Options) { o.LocalAddr = nil }},
		{name: "NoDelay/Ignored", check: checkNoDelay, mod: func(o *transport.Options) { o.DisableNoDelay = false }},
		{name: "NoDelay/NoFD", check: checkNoDelay, skip: true, wrap: streamMod(func(s *fakeStream) {
			s.info = infoWith(s.Stream, transport.InfoFD, nil, false)
		})},
		{name: "NoDelay/BadFD", check: checkNoDelay, wrap: streamMod(func(s *fakeStream) {
			s.info = infoWith(s.Stream, transport.InfoFD, 1<<24, true)
		})},
		{name: "KeepAlive/AlwaysOff", check: checkKeepAlive, mod: func(o *transport.Options) { o.KeepAlive = -1 }},
		{name: "KeepAlive/DefaultPeriod", check: checkKeepAlive, mod: func(o *transport.Options) {
			if o.KeepAlive > 0 {
				o.KeepAlive = 0
			}
		}},
		{name: "KeepAlive/NoFD", check: checkKeepAlive, skip: true, wrap: streamMod(func(s *fakeStream) {
			s.info = infoWith(s.Stream, transport.InfoFD, nil, false)
		})},
		{name: "KeepAlive/BadFD", check: checkKeepAlive, wrap: streamMod(func(s *fakeStream) {
			s.info = infoWith(s.Stream, transport.InfoFD, 1<<24, true)
		})},
		{name: "KeepAlive/DialFails", check: checkKeepAlive, wrap: func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				return nil, opErr(network, address, errFake)
			}
		}},
		{name: "Resolver/Replaced", check: checkResolver, mod: func(o *transport.Options) {
			o.Resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
				return nil, errFake
			}}
		}},
		{name: "Resolver/Bypassed", check: checkResolver, wrap: func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				_, port, _ := net.SplitHostPort(address)
				return f.Backend.Dial(ctx, network, net.JoinHostPort("127.0.0.1", port))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.check(open(t, c.mod, c.wrap))
			var skip *skipError
			switch {
			case c.skip && !errors.As(err, &skip):
				t.Fatalf("check returned %v, want a skip", err)
			case err == nil:
				t.Fatal("check passed a broken backend")
			}
			t.Logf("check failed as it should: %v", err)
		})
	}
}

func TestWithBackendFailures(t *testing.T) {
	opens := map[string]openFunc{
		"OpenFails": func(transport.Options) (transport.Backend, error) { return nil, errFake },
		"OpensNil":  func(transport.Options) (transport.Backend, error) { return nil, nil },
		"CloseFails": func(opts transport.Options) (transport.Backend, error) {
			return &fakeBackend{Backend: newStdnet(t, opts), close: failErr}, nil
		},
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			if err := checkControl(open); err == nil {
				t.Fatal("check passed")
			}
		})
	}
}

// The suite's reporting: run turns a check's result into a pass, skip or
// failure, and VerifyNoLeaks reports descriptors and goroutines left
// behind.

func TestRunReports(t *testing.T) {
	shorten(t)
	checkTimeout = 100 * time.Millisecond
	cases := []struct {
		name     string
		check    func(release chan struct{}) error
		wantErrs int
		wantSkip bool
		wantHang bool
	}{
		{name: "Pass", check: func(chan struct{}) error { return nil }},
		{name: "Fail", check: func(chan struct{}) error { return errFake }, wantErrs: 1},
		{name: "Skip", check: func(chan struct{}) error { return skipf("no %s here", "thing") }, wantSkip: true},
		{name: "Hang", check: func(release chan struct{}) error { <-release; return nil }, wantErrs: 1, wantHang: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fb := &fakeTB{TB: t}
			release := make(chan struct{})
			hung := false
			run(fb, func() error { return c.check(release) }, func() { hung = true; close(release) })
			if got := len(fb.errors()); got != c.wantErrs || fb.skipped != c.wantSkip || hung != c.wantHang {
				t.Fatalf("run reported %d errors %q, skipped %v, hang %v; want %d, %v, %v",
					got, fb.errors(), fb.skipped, hung, c.wantErrs, c.wantSkip, c.wantHang)
			}
		})
	}
	if err := skipf("reason"); !strings.Contains(err.Error(), "reason") || errors.Unwrap(err) == nil {
		t.Errorf("skip error %v does not carry its reason", err)
	}
}

func TestVerifyNoLeaksReports(t *testing.T) {
	shorten(t)
	fb := &fakeTB{TB: t}
	VerifyNoLeaks(fb)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		<-release
		close(done)
	}()
	fb.runCleanups()
	close(release)
	<-done
	r.Close()
	w.Close()
	errs := fb.errors()
	if len(errs) != 2 || !strings.Contains(errs[0], "goroutines leaked") || !strings.Contains(errs[1], "pipe:") {
		t.Fatalf("VerifyNoLeaks reported %q, want a goroutine leak and a pipe fd leak", errs)
	}

	clean := &fakeTB{TB: t}
	VerifyNoLeaks(clean)
	clean.runCleanups()
	if errs := clean.errors(); len(errs) != 0 {
		t.Fatalf("VerifyNoLeaks reported %q for a clean test", errs)
	}
}

func TestReadProcFDsMissing(t *testing.T) {
	if _, err := readProcFDs("/nonexistent/fd"); err == nil {
		t.Fatal("readProcFDs of a missing directory succeeded")
	}
}

// TestVerifyNoLeaksSplicePipes relays bytes from one TCP connection into
// another with io.Copy, which splices through a pipe the runtime caches
// after the copy: those pipes are not the test's leak.
func TestVerifyNoLeaksSplicePipes(t *testing.T) {
	shorten(t)
	fb := &fakeTB{TB: t}
	VerifyNoLeaks(fb)
	pair := func() (net.Conn, net.Conn) { return testenv.TCPPair(t) }
	srcW, srcR := pair()
	dstW, dstR := pair()
	payload := bytes.Repeat([]byte("splice"), 10000)
	go func() { srcW.Write(payload); srcW.Close() }()
	got := make(chan int, 1)
	go func() { n, _ := io.Copy(io.Discard, dstR); got <- int(n) }()
	if _, err := io.Copy(dstW.(*net.TCPConn), srcR); err != nil {
		t.Fatal(err)
	}
	dstW.Close()
	if n := <-got; n != len(payload) {
		t.Fatalf("relayed %d bytes, want %d", n, len(payload))
	}
	srcR.Close()
	dstR.Close()
	fb.runCleanups()
	if errs := fb.errors(); len(errs) != 0 {
		t.Fatalf("VerifyNoLeaks reported %q after a splice relay", errs)
	}
}
