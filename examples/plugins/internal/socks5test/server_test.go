package socks5test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/proxy"

	"github.com/transportkit/transportkit/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 10 * time.Second

// target listens on 127.0.0.1 and runs serve on each connection.
func target(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	return testenv.Serve(t, nil, serve)
}

func echo(c net.Conn) {
	go func() {
		defer c.Close()
		io.Copy(c, c)
	}()
}

func dial(t *testing.T, s *Server, auth *proxy.Auth, addr string) (net.Conn, error) {
	t.Helper()
	d, err := proxy.SOCKS5("tcp", s.Addr(), auth, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return d.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
}

func TestConnect(t *testing.T) {
	s := StartTest(t, "", "")
	addr := target(t, echo)
	c, err := dial(t, s, nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c)
	_, port, _ := net.SplitHostPort(addr)
	byName, err := dial(t, s, nil, net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatal(err)
	}
	defer byName.Close()
	roundTrip(t, byName)
	if n := s.Connects.Load(); n != 2 {
		t.Errorf("Connects = %d, want 2", n)
	}
}

func TestAuth(t *testing.T) {
	s := StartTest(t, "u", "p")
	addr := target(t, echo)
	c, err := dial(t, s, &proxy.Auth{User: "u", Password: "p"}, addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
	c.Close()
	if _, err := dial(t, s, &proxy.Auth{User: "u", Password: "wrong"}, addr); err == nil {
		t.Error("a wrong password was accepted")
	}
	if _, err := dial(t, s, nil, addr); err == nil {
		t.Error("no authentication was accepted by a proxy that asks for it")
	}
}

func TestRefused(t *testing.T) {
	s := StartTest(t, "", "")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := dial(t, s, nil, addr); err == nil {
		t.Error("a CONNECT to a closed port succeeded")
	}
}

func TestResetRelayed(t *testing.T) {
	s := StartTest(t, "", "")
	addr := target(t, func(c net.Conn) {
		// Reset once the client has spoken, so that the connect itself
		// surely succeeded.
		c.SetReadDeadline(time.Now().Add(waitLimit))
		c.Read(make([]byte, 1))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	c, err := dial(t, s, nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	c.Write([]byte("x"))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Read after the target reset: %v, want ECONNRESET", err)
	}
}

// raw sends b to the proxy and returns what it answers before closing.
func raw(t *testing.T, s *Server, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	c.Write(b)
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	return got
}

func TestMalformed(t *testing.T) {
	s := StartTest(t, "", "")
	for name, tc := range map[string]struct {
		send, want []byte
	}{
		"bad version":      {[]byte{4, 1, 0}, nil},
		"no method":        {[]byte{5, 1, 2}, []byte{5, 0xff}},
		"bind":             {[]byte{5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80}, []byte{5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0}},
		"bad address type": {[]byte{5, 1, 0, 5, 1, 0, 9}, []byte{5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0}},
		"short request":    {[]byte{5, 1, 0, 5, 1}, []byte{5, 0}},
		"short domain":     {[]byte{5, 1, 0, 5, 1, 0, 3, 9, 'a'}, []byte{5, 0}},
		"short ipv4":       {[]byte{5, 1, 0, 5, 1, 0, 1, 127}, []byte{5, 0}},
		"no port":          {[]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1}, []byte{5, 0}},
		"no domain length": {[]byte{5, 1, 0, 5, 1, 0, 3}, []byte{5, 0}},
		"short methods":    {[]byte{5, 3, 0}, nil},
	} {
		if got := raw(t, s, tc.send); string(got) != string(tc.want) {
			t.Errorf("%s: proxy answered %v, want %v", name, got, tc.want)
		}
	}
	sa := StartTest(t, "u", "p")
	for name, send := range map[string][]byte{
		"bad auth version": {5, 1, 2, 9, 1},
		"short user":       {5, 1, 2, 1, 3, 'u'},
		"no password len":  {5, 1, 2, 1, 1, 'u'},
		"short password":   {5, 1, 2, 1, 1, 'u', 3, 'p'},
	} {
		if got := raw(t, sa, send); string(got) != string([]byte{5, 2}) {
			t.Errorf("%s: proxy answered %v", name, got)
		}
	}
}

func TestCloseRefusesNew(t *testing.T) {
	s, err := Start("", "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s.track(nil) {
		t.Error("a closed proxy took a connection")
	}
}
