//go:build linux

package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

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

func loopbackStream(t *testing.T) (transport.Stream, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := stdnet.Open(transport.Options{})
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

func TestOpenTwice(t *testing.T) {
	b := inProcessBackend(t, ServeConfig{Name: "twice", Open: func(opts transport.Options) (transport.Backend, error) {
		return stdnet.Open(transport.Options{})
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
		return stdnet.Open(transport.Options{})
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

func TestServeInProcessRefuses(t *testing.T) {
	open := func(transport.Options) (transport.Backend, error) { return stdnet.Open(transport.Options{}) }
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

func TestAttachRefusals(t *testing.T) {
	b := inProcessBackend(t, ServeConfig{Name: "attach", Open: func(opts transport.Options) (transport.Backend, error) {
		return stdnet.Open(transport.Options{})
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
