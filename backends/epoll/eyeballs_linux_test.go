package epoll_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport/transporttest"
)

func TestHappyEyeballs(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := openBackend(t, "")
	defer b.Close()
	v4 := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closeEach(t, ln)
	port := ln.Addr().(*net.TCPAddr).Port
	for _, ips := range [][]netip.Addr{{v6, v4}, {v4, v6}, {v4, v4}} {
		s, err := b.DialAddrs(ctxT(t), ips, port)
		if err != nil {
			t.Errorf("%v: %v", ips, err)
			continue
		}
		if got := s.RemoteAddr().(*net.TCPAddr).IP; !got.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("%v: connected to %v", ips, got)
		}
		s.Close()
	}
	// Nobody listens on either family.
	ln2, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln2.Addr().(*net.TCPAddr).Port
	ln2.Close()
	if _, err := b.DialAddrs(ctxT(t), []netip.Addr{v4, v6}, closed); err == nil {
		t.Error("dial to closed ports succeeded")
	}
	// Several addresses share the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.DialAddrs(ctx, []netip.Addr{v4, v4, v4}, closed); err == nil {
		t.Error("dial to closed ports succeeded")
	}
	// The primary hangs; the fallback joins after the delay and wins.
	hang := newBlackhole(t)
	_, hp, _ := net.SplitHostPort(hang)
	hport, _ := strconv.Atoi(hp)
	ln6, err := net.Listen("tcp6", "[::1]:"+hp)
	if err != nil {
		t.Skipf("no IPv6 loopback on port %s: %v", hp, err)
	}
	defer ln6.Close()
	go func() {
		c, err := ln6.Accept()
		if err == nil {
			c.Close()
		}
	}()
	s, err := b.DialAddrs(ctxT(t), []netip.Addr{v4, v6}, hport)
	if err != nil {
		t.Fatalf("fallback: %v", err)
	}
	if s.RemoteAddr().(*net.TCPAddr).IP.To4() != nil {
		t.Errorf("fallback connected to %v", s.RemoteAddr())
	}
	s.Close()
}
