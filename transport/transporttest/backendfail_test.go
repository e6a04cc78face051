package transporttest

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// Each case breaks one rule of TestBackend and expects its check to fail.
func TestBackendChecksCatchBrokenBackends(t *testing.T) {
	shorten(t)
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// slow ignores the context and answers a timeout after hangSlack.
	sleep := 4 * hangSlack // well past the watchdog, even on a loaded machine
	slow := func(ctx context.Context, network, address string) (transport.Stream, error) {
		time.Sleep(sleep)
		return nil, opErr(network, address, transport.ErrTimeout)
	}
	failWith := func(cause error) func(context.Context, string, string) (transport.Stream, error) {
		return func(ctx context.Context, network, address string) (transport.Stream, error) {
			return nil, opErr(network, address, cause)
		}
	}
	cases := []struct {
		name  string
		check func(transport.Backend) error
		mod   func(f *fakeBackend)
	}{
		{"Name/Empty", checkName, func(f *fakeBackend) { f.name = func() string { return "" } }},
		{"DialTCP/Fails", checkDialTCP, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"DialTCP/WrongBackendInfo", checkDialTCP, func(f *fakeBackend) {
			f.dial = wrapDial(f.Backend, func(s *fakeStream) { s.info = infoWith(s.Stream, transport.InfoBackend, "other", true) })
		}},
		{"DialTCP/WrongRemoteAddr", checkDialTCP, func(f *fakeBackend) {
			f.dial = wrapDial(f.Backend, func(s *fakeStream) { s.remoteAddr = func() net.Addr { return &net.TCPAddr{} } })
		}},
		{"DialTCP/NoExchange", checkDialTCP, func(f *fakeBackend) {
			f.dial = wrapDial(f.Backend, func(s *fakeStream) { s.read = failIO })
		}},
		{"DialUnix/Fails", checkDialUnix, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"DialUnix/WrongBackendInfo", checkDialUnix, func(f *fakeBackend) {
			f.dial = wrapDial(f.Backend, func(s *fakeStream) { s.info = infoWith(s.Stream, transport.InfoBackend, "other", true) })
		}},
		{"DialUnix/CloseWriteFails", checkDialUnix, func(f *fakeBackend) {
			f.dial = wrapDial(f.Backend, func(s *fakeStream) { s.closeWrite = failErr })
		}},
		{"DialUnix/NoEOF", checkDialUnix, func(f *fakeBackend) {
			f.dial = wrapDial(f.Backend, func(s *fakeStream) { s.closeWrite = func() error { return nil } })
		}},
		{"Concurrent/Fails", checkConcurrent, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"Refused/NotOpError", checkRefused, func(f *fakeBackend) {
			f.dial = func(context.Context, string, string) (transport.Stream, error) { return nil, errFake }
		}},
		{"Refused/NilNil", checkRefused, func(f *fakeBackend) {
			f.dial = func(context.Context, string, string) (transport.Stream, error) { return nil, nil }
		}},
		{"Refused/WrongCause", checkRefused, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"Refused/Timeout", checkRefused, func(f *fakeBackend) {
			f.dial = failWith(errors.Join(syscall.ECONNREFUSED, transport.ErrTimeout))
		}},
		{"ConnectTrace/Silent", checkConnectTrace, func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				return f.Backend.Dial(withoutTrace(ctx), network, address)
			}
		}},
		{"ConnectTrace/OwnSocket", checkConnectTrace, func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				transport.TraceConnect(ctx, "unix", "/run/backend-control.sock")(nil)
				return f.Backend.Dial(ctx, network, address)
			}
		}},
		{"ConnectTrace/RefusedAsConnected", checkConnectTrace, func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				done := transport.TraceConnect(ctx, network, address)
				s, err := f.Backend.Dial(withoutTrace(ctx), network, address)
				done(nil)
				return s, err
			}
		}},
		{"ConnectTrace/NoDone", checkConnectTrace, func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				transport.TraceConnect(ctx, network, address)
				return f.Backend.Dial(withoutTrace(ctx), network, address)
			}
		}},
		{"Deadline/IgnoresContext", checkDeadline, func(f *fakeBackend) { f.dial = slow }},
		{"Deadline/NotTimeout", checkDeadline, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"Deadline/Connects", checkDeadline, func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				return f.Backend.Dial(ctx, network, live.Addr().String())
			}
		}},
		{"Cancel/NotCanceled", checkCancel, func(f *fakeBackend) { f.dial = failWith(transport.ErrTimeout) }},
		{"Cancel/NotOpError", checkCancel, func(f *fakeBackend) {
			f.dial = func(context.Context, string, string) (transport.Stream, error) { return nil, context.Canceled }
		}},
		{"CanceledBefore/IgnoresContext", checkCanceledBefore, func(f *fakeBackend) {
			f.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
				return f.Backend.Dial(context.Background(), network, address)
			}
		}},
		{"CanceledBefore/WrongCause", checkCanceledBefore, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"Unsupported/WrongCause", checkUnsupported, func(f *fakeBackend) { f.dial = failWith(errFake) }},
		{"BadAddress/NotOpError", checkBadAddress, func(f *fakeBackend) {
			f.dial = func(context.Context, string, string) (transport.Stream, error) { return nil, errFake }
		}},
		{"Closed/CloseFails", checkClosedBackend, func(f *fakeBackend) { f.close = failErr }},
		{"Closed/SecondCloseFails", checkClosedBackend, func(f *fakeBackend) {
			var calls atomic.Int32
			f.close = func() error {
				if calls.Add(1) > 1 {
					return errFake
				}
				return f.Backend.Close()
			}
		}},
		{"Closed/StillDials", checkClosedBackend, func(f *fakeBackend) { f.close = func() error { return nil } }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeBackend{Backend: newStdnet(t, transport.Options{})}
			c.mod(f)
			err := c.check(f)
			var skip *skipError
			switch {
			case errors.As(err, &skip):
				t.Skip(skip)
			case err == nil:
				t.Fatal("check passed a broken backend")
			}
			t.Logf("check failed as it should: %+v", err)
		})
	}
}

// withoutTrace returns a context with ctx's deadline and cancellation but
// none of its values, so no httptrace.ClientTrace.
func withoutTrace(ctx context.Context) context.Context {
	c, cancel := context.WithCancel(context.Background())
	if d, ok := ctx.Deadline(); ok {
		c, cancel = context.WithDeadline(context.Background(), d)
	}
	context.AfterFunc(ctx, cancel)
	return c
}

func TestDialErrFields(t *testing.T) {
	b := &fakeBackend{name: func() string { return "stdnet" }}
	for _, err := range []error{
		nil,
		errFake,
		&transport.OpError{Op: "read", Backend: "stdnet", Network: "tcp", Address: "a", Err: errFake},
		&transport.OpError{Op: "dial", Backend: "stdnet", Network: "tcp", Address: "a"},
	} {
		if _, got := dialErr(b, err, "tcp", "a"); got == nil {
			t.Errorf("dialErr accepted %#v", err)
		}
	}
}

func TestPipeNeverAccepted(t *testing.T) {
	shorten(t)
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	b := &fakeBackend{Backend: newStdnet(t, transport.Options{})}
	// Dial a listener other than the pair's: nothing is accepted.
	b.dial = func(ctx context.Context, network, address string) (transport.Stream, error) {
		return b.Backend.Dial(ctx, network, other.Addr().String())
	}
	if _, _, _, err := TCPPipe(b)(); err == nil || !strings.Contains(err.Error(), "no connection accepted") {
		t.Fatalf("TCPPipe = %v, want an error saying nothing was accepted", err)
	}
}
