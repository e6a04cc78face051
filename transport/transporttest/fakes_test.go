package transporttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

// This file holds broken Streams and Backends, built by overriding one
// method of a working stdnet one, so the suite's tests can check that every
// rule it enforces does fail a stream or backend that breaks it.

var errFake = errors.New("transporttest: injected failure")

// fakeStream is a Stream whose methods can be replaced one by one; a nil
// hook forwards to the embedded stream.
type fakeStream struct {
	transport.Stream
	read, write      func([]byte) (int, error)
	closeWrite       func() error
	close            func() error
	setDeadline      func(time.Time) error
	setReadDeadline  func(time.Time) error
	setWriteDeadline func(time.Time) error
	isReadable       func() bool
	info             func(transport.InfoKey) (any, bool)
	remoteAddr       func() net.Addr
}

var _ transport.Stream = (*fakeStream)(nil)

func (f *fakeStream) Read(b []byte) (int, error) {
	if f.read != nil {
		return f.read(b)
	}
	return f.Stream.Read(b)
}

func (f *fakeStream) Write(b []byte) (int, error) {
	if f.write != nil {
		return f.write(b)
	}
	return f.Stream.Write(b)
}

func (f *fakeStream) CloseWrite() error {
	if f.closeWrite != nil {
		return f.closeWrite()
	}
	return f.Stream.CloseWrite()
}

func (f *fakeStream) Close() error {
	if f.close != nil {
		return f.close()
	}
	return f.Stream.Close()
}

func (f *fakeStream) SetDeadline(t time.Time) error {
	if f.setDeadline != nil {
		return f.setDeadline(t)
	}
	return f.Stream.SetDeadline(t)
}

func (f *fakeStream) SetReadDeadline(t time.Time) error {
	if f.setReadDeadline != nil {
		return f.setReadDeadline(t)
	}
	return f.Stream.SetReadDeadline(t)
}

func (f *fakeStream) SetWriteDeadline(t time.Time) error {
	if f.setWriteDeadline != nil {
		return f.setWriteDeadline(t)
	}
	return f.Stream.SetWriteDeadline(t)
}

func (f *fakeStream) IsReadable() bool {
	if f.isReadable != nil {
		return f.isReadable()
	}
	return f.Stream.IsReadable()
}

func (f *fakeStream) Info(key transport.InfoKey) (any, bool) {
	if f.info != nil {
		return f.info(key)
	}
	return f.Stream.Info(key)
}

func (f *fakeStream) RemoteAddr() net.Addr {
	if f.remoteAddr != nil {
		return f.remoteAddr()
	}
	return f.Stream.RemoteAddr()
}

// failIO is a Read or Write hook that always fails.
func failIO([]byte) (int, error) { return 0, errFake }

// failErr is a hook that always fails.
func failErr() error { return errFake }

// failDeadline is a deadline hook that always fails.
func failDeadline(time.Time) error { return errFake }

// infoWith answers key with (v, ok) and every other key from s.
func infoWith(s transport.Stream, key transport.InfoKey, v any, ok bool) func(transport.InfoKey) (any, bool) {
	return func(k transport.InfoKey) (any, bool) {
		if k == key {
			return v, ok
		}
		return s.Info(k)
	}
}

// eofAsError is a Read hook that turns EOF into another error.
func eofAsError(s transport.Stream) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		n, err := s.Read(b)
		if err == io.EOF {
			err = errFake
		}
		return n, err
	}
}

// fakeBackend is a Backend whose methods can be replaced; a nil hook
// forwards to the embedded backend.
type fakeBackend struct {
	transport.Backend
	name  func() string
	dial  func(ctx context.Context, network, address string) (transport.Stream, error)
	close func() error
}

var _ transport.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Name() string {
	if f.name != nil {
		return f.name()
	}
	return f.Backend.Name()
}

func (f *fakeBackend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	if f.dial != nil {
		return f.dial(ctx, network, address)
	}
	return f.Backend.Dial(ctx, network, address)
}

func (f *fakeBackend) Close() error {
	if f.close != nil {
		return f.close()
	}
	return f.Backend.Close()
}

// opErr returns the dial error a correct backend named stdnet would
// return, with cause err.
func opErr(network, address string, err error) error {
	return &transport.OpError{Op: "dial", Backend: stdnet.Name, Network: network, Address: address, Err: err}
}

// wrapDial returns a dial hook that dials through b and lets mod break
// the stream.
func wrapDial(b transport.Backend, mod func(f *fakeStream)) func(context.Context, string, string) (transport.Stream, error) {
	return func(ctx context.Context, network, address string) (transport.Stream, error) {
		s, err := b.Dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		f := &fakeStream{Stream: s}
		mod(f)
		return f, nil
	}
}

// newStdnet opens a stdnet backend, closed when t ends.
func newStdnet(t testing.TB, opts transport.Options) *stdnet.Backend {
	t.Helper()
	b, err := stdnet.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// fakeRawConn is a syscall.RawConn whose every method fails.
type fakeRawConn struct{}

func (fakeRawConn) Control(func(uintptr)) error    { return errFake }
func (fakeRawConn) Read(func(uintptr) bool) error  { return errFake }
func (fakeRawConn) Write(func(uintptr) bool) error { return errFake }

var _ syscall.RawConn = fakeRawConn{}

// fakeTB records what the suite reports instead of reporting it, so tests
// can run the suite's reporting paths and check what they said.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	skipped  bool
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, s)
}

func (f *fakeTB) Error(args ...any)                 { f.record(fmtArgs(args...)) }
func (f *fakeTB) Errorf(format string, args ...any) { f.record(fmtf(format, args...)) }
func (f *fakeTB) Fatal(args ...any)                 { f.record(fmtArgs(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.record(fmtf(format, args...)) }

func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipped = true
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// runCleanups runs the registered cleanups last first.
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

func (f *fakeTB) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

func fmtArgs(args ...any) string             { return fmt.Sprint(args...) }
func fmtf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
