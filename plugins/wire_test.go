//go:build linux

package plugins

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc"

	"github.com/transportkit/transportkit/transport"
)

func TestWireErrors(t *testing.T) {
	if encodeError(nil) != nil || (*wireError)(nil).decode() != nil {
		t.Fatal("nil errors do not stay nil")
	}
	for _, tc := range []struct {
		err     error
		matches []error
		timeout bool
	}{
		{&transport.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, []error{syscall.ECONNREFUSED}, false},
		{os.ErrDeadlineExceeded, []error{transport.ErrTimeout, os.ErrDeadlineExceeded}, true},
		{transport.ErrTimeout, []error{transport.ErrTimeout, context.DeadlineExceeded}, true},
		{context.Canceled, []error{context.Canceled}, false},
		{fmt.Errorf("udp: %w", transport.ErrUnsupported), []error{transport.ErrUnsupported, errors.ErrUnsupported}, false},
		{net.ErrClosed, []error{net.ErrClosed}, false},
		{io.ErrUnexpectedEOF, []error{io.ErrUnexpectedEOF}, false},
		{transport.ErrUnavailable, []error{transport.ErrUnavailable}, false},
		{&ExitError{Plugin: "p"}, []error{transport.ErrBackendExited}, false},
		{fmt.Errorf("handshake: %w", tls.AlertError(42)), nil, false},
	} {
		got := encodeError(tc.err).decode()
		var re *RemoteError
		if !errors.As(got, &re) {
			t.Fatalf("%v came back as %T", tc.err, got)
		}
		for _, m := range tc.matches {
			if !errors.Is(got, m) {
				t.Errorf("%v came back as %v, which does not match %v", tc.err, got, m)
			}
		}
		ne, isNetError := errors.AsType[net.Error](got)
		if re.Timeout() != tc.timeout || (isNetError && ne.Timeout()) != tc.timeout {
			t.Errorf("%v: Timeout() = %v, net.Error %v; want a timeout: %v", tc.err, re.Timeout(), ne, tc.timeout)
		}
		if errors.Is(got, syscall.ECONNRESET) {
			t.Errorf("%v came back matching ECONNRESET", tc.err)
		}
	}
	var alert tls.AlertError
	if got := encodeError(tls.AlertError(42)).decode(); !errors.As(got, &alert) || alert != 42 {
		t.Errorf("a TLS alert came back as %v", got)
	}
	if got := encodeError(&transport.OpError{Op: "dial", Err: errors.New("inner")}).decode(); got.Error() != "inner" {
		t.Errorf("an OpError came back as %q, want its cause", got)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, e := range []error{
		&ChecksumError{Path: "/p", Want: "aa", Got: "bb"},
		&PermissionError{Path: "/p", Mode: 0o777},
		&ExitError{Plugin: "plugin:x", Status: "exit status 2", Output: "panic: x"},
		&ExitError{Plugin: "plugin:x"},
		&badHandoffError{"why"},
	} {
		if e.Error() == "" || !strings.HasPrefix(e.Error(), "plugins: ") {
			t.Errorf("%T message %q", e, e.Error())
		}
	}
}

func TestWireAddr(t *testing.T) {
	if toWireAddr(nil) != (wireAddr{}) || (wireAddr{}).addr() != nil {
		t.Error("an empty address does not stay empty")
	}
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80},
		&net.TCPAddr{IP: net.IPv6loopback, Port: 443},
		&net.UnixAddr{Net: "unix", Name: "/tmp/s"},
		plainAddr{network: "socks", address: "example.test:80"},
	} {
		got := toWireAddr(a).addr()
		if got.Network() != a.Network() || got.String() != a.String() {
			t.Errorf("%v (%s) came back as %v (%s)", a, a.Network(), got, got.Network())
		}
	}
	if _, ok := (wireAddr{Network: "tcp", Address: "example.test:80"}).addr().(plainAddr); !ok {
		t.Error("a host name address was resolved")
	}
}

type fakeService struct{ called string }

func (f *fakeService) describe(context.Context, *describeRequest) (*Description, error) {
	f.called = "describe"
	return &Description{Name: "fake"}, nil
}

func (f *fakeService) open(context.Context, *openRequest) (*openResponse, error) { return nil, nil }

func (f *fakeService) dial(context.Context, *dialRequest) (*dialResponse, error) { return nil, nil }

func (f *fakeService) status(context.Context, *streamRequest) (*statusResponse, error) {
	return nil, nil
}

func (f *fakeService) release(context.Context, *streamRequest) (*emptyResponse, error) {
	return nil, nil
}

func TestUnaryHandler(t *testing.T) {
	h := serviceDesc.Methods[0].Handler
	dec := func(any) error { return nil }
	f := &fakeService{}
	if _, err := h(f, context.Background(), dec, nil); err != nil || f.called != "describe" {
		t.Errorf("direct call: %v, called %q", err, f.called)
	}
	var method string
	ic := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		method = info.FullMethod
		return handler(ctx, req)
	}
	resp, err := h(f, context.Background(), dec, ic)
	if d, ok := resp.(*Description); err != nil || !ok || d.Name != "fake" || method != "/transportkit.plugin.v1.Backend/Describe" {
		t.Errorf("through an interceptor: %v, %v, method %q", resp, err, method)
	}
	bad := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(ctx, "not a request")
	}
	if _, err := h(f, context.Background(), dec, bad); err == nil {
		t.Error("an interceptor that swaps the request went unnoticed")
	}
	if _, err := h("not a service", context.Background(), dec, nil); err == nil {
		t.Error("a handler on the wrong server type succeeded")
	}
	decErr := errors.New("undecodable")
	if _, err := h(f, context.Background(), func(any) error { return decErr }, nil); !errors.Is(err, decErr) {
		t.Errorf("a decoding error came back as %v", err)
	}
}
