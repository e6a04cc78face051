package testenv

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer serves an upper-case-free echo on loopback until cleanup.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTLSRelay(t *testing.T) {
	r := StartTLSRelay(t, echoServer(t), nil)
	cfg := SharedCerts(t).ClientConfig()
	c, err := tls.Dial("tcp", r.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("relayed")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "relayed" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// Half-close: the echo ends, and so does the relayed connection.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after CloseWrite: %q, %v", rest, err)
	}

	// A connection open when the relay closes is closed with it.
	c2, err := tls.Dial("tcp", r.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("x"))
	io.ReadFull(c2, buf[:1])
	r.Close()
	r.Close() // idempotent
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(buf); err == nil {
		t.Fatal("read after relay Close succeeded")
	}
	if _, err := tls.Dial("tcp", r.Addr, cfg); err == nil {
		t.Fatal("dial after relay Close succeeded")
	}
}

func TestTLSRelayDeadTarget(t *testing.T) {
	r := StartTLSRelay(t, FreePort(t), SharedCerts(t).ServerConfig())
	c, err := tls.Dial("tcp", r.Addr, SharedCerts(t).ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a relay whose target refuses succeeded")
	}
}
