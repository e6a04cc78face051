package stdnet_test

import (
	"context"
	"net"
	"testing"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
)

// acceptAll accepts and closes connections on a loopback listener until
// the benchmark ends.
func acceptAll(b *testing.B) string {
	b.Helper()
	return testenv.Serve(b, nil, func(c net.Conn) { c.Close() })
}

// BenchmarkDial compares a stdnet Dial with a bare net.Dialer dial to the
// same listener, in one run: the ratio is stdnet's overhead.
func BenchmarkDial(b *testing.B) {
	addr := acceptAll(b)
	ctx := context.Background()
	b.Run("stdnet", func(b *testing.B) {
		be, err := stdnet.Open(transport.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		b.ReportAllocs()
		for b.Loop() {
			s, err := be.Dial(ctx, "tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("net.Dialer", func(b *testing.B) {
		var d net.Dialer
		b.ReportAllocs()
		for b.Loop() {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

// BenchmarkIsReadable measures the cost of the pool's liveness probe on
// an idle stream (one poll(2) system call).
func BenchmarkIsReadable(b *testing.B) {
	be, err := stdnet.Open(transport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	s, err := be.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	peer, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	b.ReportAllocs()
	for b.Loop() {
		if s.IsReadable() {
			b.Fatal("idle stream is readable")
		}
	}
}
