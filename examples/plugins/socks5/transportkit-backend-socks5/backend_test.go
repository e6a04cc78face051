package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/examples/plugins/internal/socks5test"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 20 * time.Second

// serveConfig is what main serves, for the in-process tests.
func serveConfig() plugins.ServeConfig {
	return plugins.ServeConfig{Name: "socks5", Open: plugins.OpenDialer("socks5", open)}
}

// inProcess serves the plugin in the test process through the plugin
// protocol, with cfg as its config section.
func inProcess(t testing.TB, cfg config) transport.Backend {
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: raw})
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return c
}

// TestStreams runs the stream suite through a proxy that passes resets
// on (socks5test), over TCP (through the proxy) and unix (direct).
func TestStreams(t *testing.T) {
	proxy := socks5test.StartTest(t, "", "")
	b := inProcess(t, config{Proxy: proxy.Addr()})
	t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
	t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
	if proxy.Connects.Load() == 0 {
		t.Error("no connection went through the proxy")
	}
}

// TestBackend runs the backend suite through microsocks, a real SOCKS5
// proxy in its own process (so that the dials it keeps trying after the
// suite gave up are not counted as this process's leaks).
func TestBackend(t *testing.T) {
	proxy := testenv.StartMicrosocks(t, testenv.MicrosocksOptions{})
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
		return inProcess(t, config{Proxy: proxy.Addr})
	})
}

// echo listens on loopback, echoes what each connection sends and
// returns the address.
func echo(t *testing.T) string {
	return testenv.Serve(t, nil, func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
	})
}

func TestHandoffAndAuth(t *testing.T) {
	proxy := socks5test.StartTest(t, "user", "secret")
	target := echo(t)
	b := inProcess(t, config{Proxy: proxy.Addr(), Username: "user", Password: "secret"})
	s, err := b.Dial(ctx(t), "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Info(plugins.InfoDataPath); v != plugins.DataPathHandoff {
		t.Errorf("data path %v, want %s", v, plugins.DataPathHandoff)
	}
	if s.RemoteAddr().String() != target {
		t.Errorf("RemoteAddr = %v, want the target %v", s.RemoteAddr(), target)
	}
	s.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(s, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	for name, cfg := range map[string]config{
		"wrong password": {Proxy: proxy.Addr(), Username: "user", Password: "wrong"},
		"no credentials": {Proxy: proxy.Addr()},
	} {
		_, err := inProcess(t, cfg).Dial(ctx(t), "tcp", target)
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("%s: %v, want an error matching EACCES", name, err)
		}
	}
}

// fakeProxy answers every SOCKS5 CONNECT with the reply code and bound
// address given, then sends hello.
func fakeProxy(t *testing.T, code byte, bound []byte) string {
	return testenv.Serve(t, nil, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		buf := make([]byte, 512)
		io.ReadFull(c, buf[:3])        // greeting, one method
		c.Write([]byte{5, 0})          // no authentication
		io.ReadFull(c, buf[:5])        // request, up to the name's length
		io.ReadFull(c, buf[:buf[4]+2]) // the name and port
		c.Write(append(append([]byte{5, code, 0}, bound...), 0x1f, 0x90))
		if code == 0 {
			c.Write([]byte("hello"))
		}
		c.Close()
	})
}

func TestReplies(t *testing.T) {
	for code, want := range map[byte]error{
		2: syscall.EACCES, 3: syscall.ENETUNREACH, 4: syscall.EHOSTUNREACH, 5: syscall.ECONNREFUSED,
		6: syscall.EHOSTUNREACH, 7: syscall.EOPNOTSUPP, 8: syscall.EAFNOSUPPORT,
	} {
		b := inProcess(t, config{Proxy: fakeProxy(t, code, []byte{1, 0, 0, 0, 0})})
		_, err := b.Dial(ctx(t), "tcp", "example.test:80")
		var oe *transport.OpError
		if !errors.Is(err, want) || !errors.As(err, &oe) || oe.Timeout() {
			t.Errorf("reply %d: %v, want an OpError matching %v", code, err, want)
		}
	}
	for _, code := range []byte{1, 9} {
		b := inProcess(t, config{Proxy: fakeProxy(t, code, []byte{1, 0, 0, 0, 0})})
		var errno syscall.Errno
		if _, err := b.Dial(ctx(t), "tcp", "example.test:80"); err == nil || errors.As(err, &errno) {
			t.Errorf("reply %d: %v, want a failure without an errno", code, err)
		}
	}
	// The bound address is read whatever its type, and the stream starts
	// after it.
	for name, bound := range map[string][]byte{
		"ipv4": {1, 127, 0, 0, 1},
		"ipv6": append([]byte{4}, net.IPv6loopback...),
		"name": append([]byte{3, 9}, "localhost"...),
	} {
		b := inProcess(t, config{Proxy: fakeProxy(t, 0, bound)})
		s, err := b.Dial(ctx(t), "tcp", "[::1]:443")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.SetDeadline(time.Now().Add(waitLimit))
		got, err := io.ReadAll(s)
		s.Close()
		if string(got) != "hello" || err != nil {
			t.Errorf("%s: read %q, %v; want hello", name, got, err)
		}
	}
}

func TestConfig(t *testing.T) {
	for raw, want := range map[string]error{
		`{}`:                                  nil,
		`{"proxy": "127.0.0.1:1", "port": 1}`: registry.ErrUnknownField,
		`{"proxy": 1}`:                        nil,
	} {
		open := serveConfig().Open
		_, err := open(transport.Options{Config: json.RawMessage(raw)})
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Errorf("config %s: %v, want an error matching %v", raw, err, want)
		}
	}
	b, err := serveConfig().Open(transport.Options{Config: json.RawMessage(`{"proxy": "127.0.0.1:1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "plugin:socks5" {
		t.Errorf("Name = %q", b.Name())
	}
	b.Close()
}
