//go:build linux

package plugins_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// TestConnectTraceBytePath runs the ConnectTrace check on byte streams,
// in process and through the plugin process: the host's own unix
// connection to the plugin is not the caller's connect.
func TestConnectTraceBytePath(t *testing.T) {
	transporttest.TestBackendChecks(t, func(t *testing.T) transport.Backend {
		return inProcess(t, testConfig{Bytes: "all"})
	}, "ConnectTrace")
	transporttest.TestBackendChecks(t, func(t *testing.T) transport.Backend {
		return openSubprocess(t, testConfig{Bytes: "all"}, transport.Options{})
	}, "ConnectTrace")
}

// events records what a dial reports to its ClientTrace.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf(format, args...))
}

func (e *events) context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart:      func(network, addr string) { e.add("connect %s %s", network, addr) },
		ConnectDone:       func(network, addr string, err error) { e.add("connected %s %s %v", network, addr, err != nil) },
		TLSHandshakeStart: func() { e.add("tls") },
		TLSHandshakeDone:  func(cs tls.ConnectionState, err error) { e.add("tls done %q %v", cs.NegotiatedProtocol, err != nil) },
	})
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.got, "; ")
}

// TestTraceTLSInPlugin: a handshake done in the plugin is reported after
// the connect, with its outcome, and a connect that fails reports no
// handshake.
func TestTraceTLSInPlugin(t *testing.T) {
	b := inProcess(t, testConfig{TLS: true})
	ln, _ := tlsEchoServer(t)
	addr := ln.Addr().String()
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}

	var ok events
	s, err := transport.DialTLS(ok.context(dialCtx(t)), b, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if want := fmt.Sprintf(`connect tcp %s; connected tcp %s false; tls; tls done "h2" false`, addr, addr); ok.String() != want {
		t.Errorf("events %q, want %q", ok.String(), want)
	}

	var untrusted events
	if _, err := transport.DialTLS(untrusted.context(dialCtx(t)), b, "tcp", addr, &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Fatal("DialTLS to an untrusted server succeeded")
	}
	if want := fmt.Sprintf(`connect tcp %s; connected tcp %s false; tls; tls done "" true`, addr, addr); untrusted.String() != want {
		t.Errorf("events %q, want %q", untrusted.String(), want)
	}

	ln2 := listenTCP(t)
	refused := ln2.Addr().String()
	ln2.Close()
	var dead events
	if _, err := transport.DialTLS(dead.context(dialCtx(t)), b, "tcp", refused, cfg); err == nil {
		t.Fatal("DialTLS to a closed port succeeded")
	}
	if want := fmt.Sprintf(`connect tcp %s; connected tcp %s true`, refused, refused); dead.String() != want {
		t.Errorf("events %q, want %q", dead.String(), want)
	}
}

// TestLaunch: Launch starts the plugin before the first Dial and says how
// long it took; then, and for backends that are not plugins, it does
// nothing.
func TestLaunch(t *testing.T) {
	b := openSubprocess(t, testConfig{}, transport.Options{})
	if plugins.PID(b) != 0 {
		t.Fatal("the plugin runs before Launch")
	}
	d, err := plugins.Launch(dialCtx(t), b)
	if err != nil || d <= 0 || plugins.PID(b) == 0 {
		t.Fatalf("Launch = %v, %v (pid %d); want a duration and a running plugin", d, err, plugins.PID(b))
	}
	if d, err := plugins.Launch(dialCtx(t), b); d != 0 || err != nil {
		t.Errorf("second Launch = %v, %v; want 0, nil", d, err)
	}
	if d, err := plugins.Launch(dialCtx(t), direct(transport.Options{})); d != 0 || err != nil {
		t.Errorf("Launch of a backend that is not a plugin = %v, %v; want 0, nil", d, err)
	}
	b.Close()
	var oe *transport.OpError
	if _, err := plugins.Launch(dialCtx(t), b); !errors.As(err, &oe) || oe.Op != "launch" || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Launch after Close: %v, want a launch OpError matching ErrClosed", err)
	}
}
