package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/transportkit/transportkit/transport"
)

func TestSentinels(t *testing.T) {
	if !errors.Is(transport.ErrUnsupported, errors.ErrUnsupported) {
		t.Error("ErrUnsupported does not match errors.ErrUnsupported")
	}
	if !errors.Is(transport.ErrClosed, net.ErrClosed) {
		t.Error("ErrClosed does not match net.ErrClosed")
	}
	var ne net.Error
	if !errors.As(transport.ErrTimeout, &ne) || !ne.Timeout() {
		t.Error("ErrTimeout is not a net.Error with Timeout() true")
	}
	for _, target := range []error{os.ErrDeadlineExceeded, context.DeadlineExceeded} {
		//lint:ignore SA1032 the test checks that ErrTimeout matches these targets
		if !errors.Is(transport.ErrTimeout, target) {
			t.Errorf("ErrTimeout does not match %v", target)
		}
	}
	if errors.Is(transport.ErrTimeout, context.Canceled) {
		t.Error("ErrTimeout matches context.Canceled")
	}
	for _, err := range []error{transport.ErrUnsupported, transport.ErrTimeout, transport.ErrUnavailable, transport.ErrBackendExited} {
		if err.Error() == "" {
			t.Errorf("%#v has an empty message", err)
		}
	}
}

func TestOpError(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		timeout bool
	}{
		{"Refused", syscall.ECONNREFUSED, false},
		{"Deadline", os.ErrDeadlineExceeded, true},
		{"Context", context.DeadlineExceeded, true},
		{"WrappedContext", fmt.Errorf("resolving: %w", context.DeadlineExceeded), true},
		{"NetTimeout", &net.DNSError{Err: "slow", IsTimeout: true}, true},
		{"Canceled", context.Canceled, false},
		{"ErrTimeout", transport.ErrTimeout, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &transport.OpError{Op: "dial", Backend: "stdnet", Network: "tcp", Address: "127.0.0.1:1", Err: c.err}
			if !errors.Is(e, c.err) || errors.Unwrap(e) != c.err {
				t.Errorf("OpError does not unwrap to %v", c.err)
			}
			if e.Timeout() != c.timeout || e.Temporary() != c.timeout {
				t.Errorf("Timeout() = %v, Temporary() = %v; want %v", e.Timeout(), e.Temporary(), c.timeout)
			}
			var ne net.Error
			if !errors.As(error(e), &ne) {
				t.Error("OpError is not a net.Error")
			}
		})
	}
}

func ExampleOpError() {
	fmt.Println(&transport.OpError{Op: "dial", Backend: "epoll", Network: "tcp", Address: "127.0.0.1:1", Err: syscall.ECONNREFUSED})
	fmt.Println(&transport.OpError{Op: "close", Err: net.ErrClosed})
	// Output:
	// epoll: dial tcp 127.0.0.1:1: connection refused
	// close: use of closed network connection
}

func TestContextError(t *testing.T) {
	if transport.ContextError(nil) != nil {
		t.Error("ContextError(nil) is not nil")
	}
	for _, err := range []error{context.DeadlineExceeded, fmt.Errorf("x: %w", context.DeadlineExceeded)} {
		got := transport.ContextError(err)
		if got != transport.ErrTimeout {
			t.Errorf("ContextError(%v) = %v, want ErrTimeout", err, got)
		}
		if !errors.Is(got, os.ErrDeadlineExceeded) || !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("ContextError(%v) = %v does not match both deadline errors", err, got)
		}
	}
	for _, err := range []error{context.Canceled, syscall.ECONNRESET} {
		if got := transport.ContextError(err); got != err {
			t.Errorf("ContextError(%v) = %v, want it unchanged", err, got)
		}
	}
}
