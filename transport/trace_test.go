package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http/httptrace"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// recorder keeps the httptrace events it sees, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	tls    []tls.ConnectionState
	errs   []error
}

func (r *recorder) add(ev string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.errs = append(r.errs, err)
}

func (r *recorder) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		ConnectStart: func(network, addr string) { r.add("ConnectStart "+network+" "+addr, nil) },
		ConnectDone:  func(network, addr string, err error) { r.add("ConnectDone "+network+" "+addr, err) },
		TLSHandshakeStart: func() {
			r.add("TLSHandshakeStart", nil)
		},
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			r.mu.Lock()
			r.tls = append(r.tls, st)
			r.mu.Unlock()
			r.add("TLSHandshakeDone", err)
		},
	}
}

func TestTraceConnect(t *testing.T) {
	var r recorder
	ctx := httptrace.WithClientTrace(context.Background(), r.trace())
	done := transport.TraceConnect(ctx, "tcp", "192.0.2.1:80")
	done(syscall.ECONNREFUSED)
	want := []string{"ConnectStart tcp 192.0.2.1:80", "ConnectDone tcp 192.0.2.1:80"}
	if len(r.events) != 2 || r.events[0] != want[0] || r.events[1] != want[1] {
		t.Fatalf("events %q, want %q", r.events, want)
	}
	if !errors.Is(r.errs[1], syscall.ECONNREFUSED) {
		t.Errorf("ConnectDone error %v, want the attempt's", r.errs[1])
	}

	// No trace, or a trace without connect hooks: nothing happens.
	transport.TraceConnect(context.Background(), "tcp", "x:1")(nil)
	only := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{TLSHandshakeStart: func() {}})
	transport.TraceConnect(only, "tcp", "x:1")(nil)
	half := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		ConnectDone: func(string, string, error) { r.add("done only", nil) },
	})
	transport.TraceConnect(half, "tcp", "x:1")(nil)
	if got := r.events[len(r.events)-1]; got != "done only" {
		t.Errorf("a trace with only ConnectDone got %q", got)
	}
}

func TestStartTLSTraces(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := newBackend(t)

	addr, conns := tlsServer(t, serverConfig())
	var r recorder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, r.trace())
	s, err := transport.DialTLS(ctx, b, "tcp", addr, clientConfig("h2"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	closeServer(conns)
	want := []string{"ConnectStart tcp " + addr, "ConnectDone tcp " + addr, "TLSHandshakeStart", "TLSHandshakeDone"}
	if len(r.events) != len(want) {
		t.Fatalf("events %q, want %q", r.events, want)
	}
	for i := range want {
		if r.events[i] != want[i] || r.errs[i] != nil {
			t.Errorf("event %d = %q (%v), want %q without error", i, r.events[i], r.errs[i], want[i])
		}
	}
	if len(r.tls) != 1 || !r.tls[0].HandshakeComplete || r.tls[0].NegotiatedProtocol != "h2" {
		t.Errorf("TLSHandshakeDone state %+v, want a completed h2 handshake", r.tls)
	}

	// A failed handshake reports its error.
	addr, conns = tlsServer(t, serverConfig())
	var r2 recorder
	ctx2 := httptrace.WithClientTrace(ctx, r2.trace())
	cfg := clientConfig("h2")
	cfg.ServerName = "wrong.example"
	if _, err := transport.DialTLS(ctx2, b, "tcp", addr, cfg); err == nil {
		t.Fatal("DialTLS to the wrong name succeeded")
	}
	closeServer(conns)
	if n := len(r2.events); n < 2 || r2.events[n-1] != "TLSHandshakeDone" || r2.errs[n-1] == nil {
		t.Errorf("events %q errs %v: want TLSHandshakeDone with the error last", r2.events, r2.errs)
	}
}
