//go:build linux

package plugins

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

func TestTailWriter(t *testing.T) {
	var w tailWriter
	for i := range 2000 {
		fmt.Fprintf(&w, "line %d\n", i)
	}
	s := w.String()
	if len(s) > tailMax || !strings.HasSuffix(s, "line 1999") || strings.Contains(s, "line 0\n") {
		t.Errorf("tail of %d bytes ending %q", len(s), s[max(0, len(s)-20):])
	}
	w.Write([]byte("a line mentioning panic: in the middle\n"))
	w.Write([]byte("panic: boom"))
	w.Write([]byte("\n"))
	w.Write([]byte("goroutine 1 [running]:\n"))
	w.Write([]byte(strings.Repeat("x", 2*crashMax)))
	s = w.String()
	if !strings.HasPrefix(s, "panic: boom\ngoroutine 1 [running]:") || len(s) > crashMax {
		t.Errorf("crash text of %d bytes starting %q", len(s), s[:min(len(s), 40)])
	}
	var f tailWriter
	f.Write([]byte("fatal error: all goroutines are asleep\n"))
	if got := f.String(); got != "fatal error: all goroutines are asleep" {
		t.Errorf("fatal error text = %q", got)
	}
}

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
		if re.Timeout() != tc.timeout || re.Temporary() != tc.timeout {
			t.Errorf("%v: Timeout() = %v, want %v", tc.err, re.Timeout(), tc.timeout)
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

// fakeService records which method ran.
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

// socketPair returns two connected SOCK_SEQPACKET unix conns.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	a, bf, err := handoffPair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fileUnixConn(bf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRecvFD(t *testing.T) {
	send, recv := socketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := int(r.Fd())
	for _, m := range []struct {
		msg []byte
		oob []byte
	}{
		{[]byte("12345678"), nil},                           // no descriptor
		{[]byte("1234"), unix.UnixRights(fd)},               // short tag
		{[]byte("12345678"), unix.UnixRights(fd, fd)},       // two descriptors
		{[]byte("123456789"), unix.UnixRights(int(w.Fd()))}, // long tag
	} {
		if _, _, err := send.WriteMsgUnix(m.msg, m.oob, nil); err != nil {
			t.Fatal(err)
		}
		var bad *badHandoffError
		if _, f, err := recvFD(recv); !errors.As(err, &bad) || f != nil {
			t.Errorf("message %q with %d bytes of rights: %v, want a badHandoffError", m.msg, len(m.oob), err)
		}
	}
	if err := sendFD(send, 7, fd); err != nil {
		t.Fatal(err)
	}
	id, f, err := recvFD(recv)
	if err != nil || id != 7 || f == nil {
		t.Fatalf("recvFD = %d, %v, %v", id, f, err)
	}
	f.Close()
	send.Close()
	if _, _, err := recvFD(recv); !errors.Is(err, io.EOF) {
		t.Errorf("recvFD after the sender closed: %v, want io.EOF", err)
	}
}

func TestReceiver(t *testing.T) {
	send, recv := socketPair(t)
	r := newReceiver(recv, hclog.NewNullLogger())
	defer r.close()
	p1, p2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	defer p2.Close()
	send.WriteMsgUnix([]byte("bad"), nil, nil) // logged and skipped
	ch := r.expect(1)
	if err := sendFD(send, 1, int(p1.Fd())); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-ch:
		h.f.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the socket never arrived")
	}
	r.forget(1)
	// A message whose descriptors the kernel truncated (here: more than
	// the receiver takes) tells the waiting Dial.
	ch = r.expect(4)
	fd := int(p1.Fd())
	if _, _, err := send.WriteMsgUnix([]byte{0, 0, 0, 0, 0, 0, 0, 4}, unix.UnixRights(fd, fd, fd, fd, fd), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-ch:
		var he *HandoffError
		if h.f != nil || !errors.As(h.err, &he) || he.Err != nil || !errors.Is(h.err, ErrHandoffLost) {
			t.Errorf("truncated handoff: %+v, want a *HandoffError without a cause", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the truncated handoff was never reported")
	}
	r.forget(4)
	// Unclaimed ones are closed: by forget, or by the receiver.
	r.expect(2)
	sendFD(send, 2, int(p1.Fd()))
	sendFD(send, 3, int(p1.Fd()))
	time.Sleep(50 * time.Millisecond)
	r.forget(2)
	r.forget(99)
}

func TestHandoffFromEnv(t *testing.T) {
	t.Setenv(envHandoffFD, "")
	if c, err := handoffFromEnv(); c != nil || err != nil {
		t.Errorf("no variable: %v, %v", c, err)
	}
	for _, v := range []string{"x", "2", "-1"} {
		t.Setenv(envHandoffFD, v)
		if _, err := handoffFromEnv(); err == nil {
			t.Errorf("%s=%s accepted", envHandoffFD, v)
		}
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	nf, err := dupFile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envHandoffFD, fmt.Sprint(nf.Fd()))
	if _, err := handoffFromEnv(); err == nil {
		t.Error("a regular file was taken for a handoff socket")
	}
}

func TestWatchHost(t *testing.T) {
	host, peer := socketPair(t)
	s := newServer(ServeConfig{Name: "w"}, hclog.NewNullLogger(), peer)
	exited := make(chan struct{})
	go s.watchHost(func() { close(exited) })
	host.Close()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the host's end closed but the plugin did not exit")
	}
	s.mu.Lock()
	shutting := s.shutting
	s.mu.Unlock()
	if !shutting {
		t.Error("the server was not shut down")
	}

	// A backend whose Close hangs does not keep the plugin from exiting.
	hang := make(chan struct{})
	defer close(hang)
	host3, peer3 := socketPair(t)
	s3 := newServer(ServeConfig{Name: "w"}, hclog.NewNullLogger(), peer3)
	s3.backend = hangingBackend{hang}
	exited3 := make(chan struct{})
	go s3.watchHost(func() { close(exited3) })
	host3.Close()
	select {
	case <-exited3:
	case <-time.After(10 * time.Second):
		t.Fatal("a backend's hanging Close kept the plugin from exiting")
	}

	// After a shutdown, the watcher just returns.
	host2, peer2 := socketPair(t)
	s2 := newServer(ServeConfig{Name: "w"}, hclog.NewNullLogger(), peer2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s2.watchHost(func() { t.Error("exit called after a shutdown") })
	}()
	s2.shutdown()
	host2.Close()
	<-done
}

// hangingBackend's Close blocks until its channel closes.
type hangingBackend struct{ hang chan struct{} }

func (b hangingBackend) Name() string { return "hanging" }
func (b hangingBackend) Dial(context.Context, string, string) (transport.Stream, error) {
	return nil, net.ErrClosed
}
func (b hangingBackend) Close() error {
	<-b.hang
	return nil
}

func TestServeConfigCheck(t *testing.T) {
	open := func(transport.Options) (transport.Backend, error) { return nil, nil }
	for _, cfg := range []ServeConfig{
		{Open: open},
		{Name: "x"},
		{Name: "bad name", Open: open},
	} {
		if err := Serve(cfg); err == nil {
			t.Errorf("Serve(%+v) accepted", cfg)
		}
	}
	s := newServer(ServeConfig{Name: "v"}, hclog.NewNullLogger(), nil)
	if v := s.version(); v == "" {
		t.Error("no version from the build information")
	}
}

// inProcessBackend serves cfg in this process and launches it; the
// backend is closed when t ends.
func inProcessBackend(t *testing.T, cfg ServeConfig, opts transport.Options) *Backend {
	t.Helper()
	b, err := ServeInProcess(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.Launch(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// loopbackStream returns a stdnet stream and its peer.
func loopbackStream(t *testing.T) (transport.Stream, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := stdnet.New(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); peer.Close() })
	return s, peer
}

func TestStreamLifecycle(t *testing.T) {
	s := newServer(ServeConfig{Name: "l"}, hclog.NewNullLogger(), nil)
	defer s.shutdown()

	// Never attached: it expires.
	st, peer := loopbackStream(t)
	id, _, err := s.addStream(st)
	if err != nil {
		t.Fatal(err)
	}
	ps := s.streams[id]
	ps.expired()
	if _, ok := s.streams[id]; ok {
		t.Error("an expired stream is still registered")
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer of an expired stream read %v, want EOF", err)
	}
	if resp, _ := s.status(context.Background(), &streamRequest{StreamID: id}); resp.Known {
		t.Error("status of an expired stream is known")
	}

	// Released before the host connected: the stream waits for its
	// connection; released with abort: it closes at once.
	st2, _ := loopbackStream(t)
	id2, _, _ := s.addStream(st2)
	ps2 := s.streams[id2]
	s.release(context.Background(), &streamRequest{StreamID: id2})
	if ps2.closed || s.streams[id2] != ps2 {
		t.Error("a stream released before its connection arrived was dropped at once")
	}
	ps2.release(true)
	if !ps2.closed {
		t.Error("an aborted stream is still open")
	}
	ps2.expired() // a no-op now

	// A connection for a stream that is gone is refused.
	if ps2.setRaw(nil) {
		t.Error("a closed stream took a connection")
	}

	// After shutdown no stream is added.
	s.shutdown()
	st3, _ := loopbackStream(t)
	if _, _, err := s.addStream(st3); !errors.Is(err, net.ErrClosed) {
		t.Errorf("addStream after shutdown: %v, want net.ErrClosed", err)
	}
	if resp, _ := s.open(context.Background(), &openRequest{}); resp.Err == nil {
		t.Error("open after shutdown succeeded")
	}
	if resp, _ := s.dial(context.Background(), &dialRequest{Network: "tcp", Address: "127.0.0.1:1"}); resp.Err == nil {
		t.Error("dial without a backend succeeded")
	}
}

// TestReleaseBeforeAttach: the host connects, writes and closes, and its
// Release beats the plugin's attach: the bytes still reach the stream,
// which then closes.
func TestReleaseBeforeAttach(t *testing.T) {
	s := newServer(ServeConfig{Name: "r"}, hclog.NewNullLogger(), nil)
	defer s.shutdown()
	st, peer := loopbackStream(t)
	id, token, err := s.addStream(st)
	if err != nil {
		t.Fatal(err)
	}
	s.release(context.Background(), &streamRequest{StreamID: id})
	hostF, pluginF := socketPairStream(t)
	host, err := net.FileConn(hostF)
	hostF.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	plug, err := net.FileConn(pluginF)
	pluginF.Close()
	if err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, streamHeaderLen)
	binary.BigEndian.PutUint64(hdr, id)
	copy(hdr[8:], token[:])
	host.Write(append(hdr, "last words"...))
	host.Close()
	s.wg.Add(1)
	go s.attach(plug)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "last words" {
		t.Errorf("the stream's peer read %q, %v; want the host's bytes, then EOF", got, err)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 50: backoffMax} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestOpenTwice(t *testing.T) {
	b := inProcessBackend(t, ServeConfig{Name: "twice", Open: func(opts transport.Options) (transport.Backend, error) {
		return stdnet.New(transport.Options{})
	}}, transport.Options{})
	b.mu.Lock()
	inst := b.inst
	b.mu.Unlock()
	resp := new(openResponse)
	if err := inst.call(context.Background(), methodOpen, &openRequest{}, resp); err != nil || resp.Err == nil {
		t.Errorf("a second Open: %v, %+v; want a refusal", err, resp)
	}
}

func TestOpenFails(t *testing.T) {
	for name, open := range map[string]func(transport.Options) (transport.Backend, error){
		"error": func(transport.Options) (transport.Backend, error) { return nil, errors.New("no backend today") },
		"nil":   func(transport.Options) (transport.Backend, error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			b := newBackend("plugin:fails", transport.Options{})
			defer b.Close()
			inst, err := startInProcess(ServeConfig{Name: "fails", Open: open}, b.name, b.log)
			if err != nil {
				t.Fatal(err)
			}
			var re *RemoteError
			if err := b.openInstance(context.Background(), inst); !errors.As(err, &re) {
				t.Errorf("openInstance: %v, want the plugin's error", err)
			}
			if inst.alive() {
				t.Error("the instance of a failed open is still alive")
			}
		})
	}
}

func TestStreamGone(t *testing.T) {
	b := inProcessBackend(t, ServeConfig{Name: "gone", Open: func(opts transport.Options) (transport.Backend, error) {
		return stdnet.New(transport.Options{})
	}, DisableHandoff: true}, transport.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := b.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	bs := s.(*byteStream)
	bs.inst.release(bs.id, true) // the plugin drops it
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, errStreamGone) {
		t.Errorf("Read of a dropped stream: %v, want errStreamGone", err)
	}
	for {
		if _, err := s.Write(make([]byte, 64<<10)); err != nil {
			if !errors.Is(err, errStreamGone) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("Write to a dropped stream: %v", err)
			}
			break
		}
	}
}

func TestExitErrorLingering(t *testing.T) {
	inst := newInstance("plugin:linger")
	stopped := make(chan struct{})
	inst.stopFn = func() { close(stopped) }
	e := inst.exitError()
	if e.Status == "" || !errors.Is(e, transport.ErrBackendExited) {
		t.Errorf("exitError of a live instance = %v", e)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Error("a plugin whose control connection broke was not stopped")
	}
	select {
	case <-inst.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Error("the instance is still alive")
	}
}

func TestConnectErrors(t *testing.T) {
	inst := newInstance("plugin:c")
	ctx := context.Background()
	if _, err := inst.connect(ctx, 1, []byte("short")); err == nil {
		t.Error("a short token was accepted")
	}
	token := make([]byte, tokenLen)
	inst.streamAddr = wireAddr{Network: "tcp", Address: "127.0.0.1:1"}
	if _, err := inst.connect(ctx, 1, token); err == nil {
		t.Error("a tcp stream listener was accepted")
	}
	inst.streamAddr = wireAddr{Network: "unix", Address: t.TempDir() + "/none"}
	if _, err := inst.connect(ctx, 1, token); !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connecting to a missing socket: %v", err)
	}
}

func TestFileStreamErrors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := newFileStream(r, "plugin:x"); err == nil {
		t.Error("a pipe was taken for a socket")
	}
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := dupFile(f); err == nil {
		t.Error("dupFile of a closed file succeeded")
	}
	// A unix socket stream without a reported remote address shows the
	// socket's own.
	_, peer := socketPairStream(t)
	s, err := newFileStream(peer, "plugin:x")
	if err != nil {
		t.Fatal(err)
	}
	h := &handoffStream{Stream: s, backend: "plugin:x"}
	if h.RemoteAddr() != s.RemoteAddr() {
		t.Errorf("RemoteAddr = %v, want the socket's %v", h.RemoteAddr(), s.RemoteAddr())
	}
	if v, ok := h.Info(transport.InfoFD); !ok || v.(int) < 0 {
		t.Errorf("Info(InfoFD) = %v, %v", v, ok)
	}
	s.Close()
	if _, ok := h.Info(transport.InfoFD); ok {
		t.Error("InfoFD after Close")
	}
	if v, _ := h.Info(transport.InfoClosed); v != true {
		t.Error("InfoClosed is not true after Close")
	}
	if !h.IsReadable() {
		t.Error("IsReadable is false after Close")
	}
}

// socketPairStream returns two connected unix stream sockets as files.
func socketPairStream(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestServeInProcessRefuses(t *testing.T) {
	open := func(transport.Options) (transport.Backend, error) { return stdnet.New(transport.Options{}) }
	for _, tc := range []struct {
		cfg  ServeConfig
		opts transport.Options
		want error
	}{
		{ServeConfig{Open: open}, transport.Options{}, nil},
		{ServeConfig{Name: "x", Open: open}, transport.Options{Resolver: &net.Resolver{}}, transport.ErrUnsupported},
	} {
		b, err := ServeInProcess(tc.cfg, tc.opts)
		var oe *transport.OpError
		if b != nil || !errors.As(err, &oe) || oe.Op != "open" || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("ServeInProcess(%+v, %+v) = %v, %v; want an open error", tc.cfg, tc.opts, b, err)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	dir := t.TempDir()
	if err := (Plugin{Name: "d", Path: dir}).Check(); err == nil {
		t.Error("a directory passed the check")
	}
	missing := Plugin{Name: "m", Path: dir + "/missing", Checksum: "00"}
	if status, _ := missing.ChecksumStatus(); status != ChecksumUnreadable {
		t.Errorf("status of a missing binary = %q", status)
	}
	if _, err := cachedSHA256(dir + "/missing"); err == nil {
		t.Error("hashing a missing file succeeded")
	}
	if _, err := FileSHA256(dir); err == nil {
		t.Error("hashing a directory succeeded")
	}
	if err := checkOptions(transport.Options{Control: func(string, string, syscall.RawConn) error { return nil }}); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("Control: %v", err)
	}
}

func TestAttachRefusals(t *testing.T) {
	b := inProcessBackend(t, ServeConfig{Name: "attach", Open: func(opts transport.Options) (transport.Backend, error) {
		return stdnet.New(transport.Options{})
	}}, transport.Options{})
	b.mu.Lock()
	inst := b.inst
	b.mu.Unlock()
	for name, hdr := range map[string][]byte{
		"no header":      nil,
		"unknown stream": make([]byte, streamHeaderLen),
	} {
		c, err := net.Dial("unix", inst.streamAddr.Address)
		if err != nil {
			t.Fatal(err)
		}
		if hdr != nil {
			c.Write(hdr)
		} else {
			c.(*net.UnixConn).CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: the plugin answered %v, want it to close the connection", name, err)
		}
		c.Close()
	}
	if err := (Plugin{Name: "x", Path: os.Args[0], Checksum: "not hex"}).Check(); err == nil || errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("a malformed pinned checksum: %v", err)
	}
}
