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
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 20 * time.Second

func startProxy(t testing.TB, user, password string) *socks5test.Server {
	t.Helper()
	s, err := socks5test.Start(user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawConfig(t testing.TB, c config) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inProcess serves the plugin in the test process through go-plugin.
func inProcess(t testing.TB, c config) transport.Backend {
	return pluginstest.TestBackend(t, serveConfig(), transport.Options{Config: rawConfig(t, c)})
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	proxy := startProxy(t, "", "")
	b := inProcess(t, config{Proxy: proxy.Addr()})
	transporttest.TestStream(t, transporttest.TCPPipe(b))
	if proxy.Connects.Load() == 0 {
		t.Error("no connection went through the proxy")
	}
}

func TestHandoffAndAuth(t *testing.T) {
	proxy := startProxy(t, "user", "secret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()

	b := inProcess(t, config{Proxy: proxy.Addr(), Username: "user", Password: "secret"})
	s, err := b.Dial(ctx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Info(plugins.InfoDataPath); v != plugins.DataPathHandoff {
		t.Errorf("data path %v, want %s", v, plugins.DataPathHandoff)
	}
	if _, ok := s.Info(transport.InfoFD); !ok {
		t.Error("a handed-off stream has no InfoFD")
	}
	if s.RemoteAddr().String() != ln.Addr().String() {
		t.Errorf("RemoteAddr = %v, want the target %v", s.RemoteAddr(), ln.Addr())
	}
	s.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(s, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v", buf, err)
	}

	wrong := inProcess(t, config{Proxy: proxy.Addr(), Username: "user", Password: "wrong"})
	if _, err := wrong.Dial(ctx(t), "tcp", ln.Addr().String()); err == nil {
		t.Error("Dial with a wrong password succeeded")
	}
}

func TestDialErrors(t *testing.T) {
	proxy := startProxy(t, "", "")
	b := inProcess(t, config{Proxy: proxy.Addr()})
	if _, err := b.Dial(ctx(t), "unix", "/tmp/x"); !errors.Is(err, transport.ErrUnsupported) {
		t.Errorf("Dial unix: %v, want ErrUnsupported", err)
	}
	// A closed port: the proxy refuses.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var oe *transport.OpError
	if _, err := b.Dial(ctx(t), "tcp", addr); !errors.As(err, &oe) || oe.Op != "dial" || oe.Address != addr {
		t.Errorf("Dial to a closed port: %v, want an OpError for the address", err)
	}
	// A proxy that is not there.
	gone := inProcess(t, config{Proxy: addr})
	if _, err := gone.Dial(ctx(t), "tcp", proxy.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial through a missing proxy: %v, want ECONNREFUSED", err)
	}
}

func TestConfig(t *testing.T) {
	for _, raw := range []string{``, `{}`, `{"proxy": "nope"}`, `{"proxy": "127.0.0.1:1", "extra": 1}`} {
		if _, err := open(transport.Options{Config: json.RawMessage(raw)}); err == nil {
			t.Errorf("config %s accepted", raw)
		}
	}
	b, err := open(transport.Options{Config: json.RawMessage(`{"proxy": "127.0.0.1:1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "plugin:socks5" {
		t.Errorf("Name = %q", b.Name())
	}
	b.Close()
	if a := targetAddr("tcp", "example.test:80"); a.String() != "example.test:80" || a.Network() != "tcp" {
		t.Errorf("targetAddr of a name = %v", a)
	}
}
