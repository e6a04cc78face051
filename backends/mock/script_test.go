package mock

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
)

func TestScriptHTTPExchange(t *testing.T) {
	b := newBackend(t)
	const req = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
	b.Handle("example.com:80", ScriptPeer(
		RecvUntil("\r\n\r\n"),
		Send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
		Send("hello"),
		Close(),
	))
	s := dial(t, b, "example.com:80")
	if _, err := io.WriteString(s, req); err != nil {
		t.Fatal(err)
	}
	reads, err := readAll(t, s)
	want := []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "hello"}
	if err != io.EOF || !equal(reads, want) {
		t.Fatalf("reads %q, %v; want %q, EOF", reads, err, want)
	}
	c := b.Conns()[0]
	if got := string(c.Written()); got != req {
		t.Fatalf("Written = %q, want %q", got, req)
	}
	select {
	case <-c.Done():
	case <-time.After(waitLimit):
		t.Fatal("script not done")
	}
	if c.Err() != nil {
		t.Fatalf("script error: %v", c.Err())
	}
}

func TestScriptRecvCountsBytesAcrossSteps(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(
		Recv(2), Send("got 2"),
		RecvUntil("e"), Send("got e"),
		Recv(0), Recv(1), Send("got 1"),
		Close(),
	))
	s := dial(t, b, "a:1")
	// One write feeds three steps; the bytes left by one go to the next.
	s.Write([]byte("abcdef"))
	reads, err := readAll(t, s)
	if want := []string{"got 2", "got e", "got 1"}; err != io.EOF || !equal(reads, want) {
		t.Fatalf("reads %q, %v; want %q", reads, err, want)
	}
}

func TestScriptAwait(t *testing.T) {
	b := newBackend(t)
	release := make(chan struct{})
	b.Handle("a:1", ScriptPeer(Await(release), Send("now")))
	s := dial(t, b, "a:1")
	if s.IsReadable() {
		t.Fatal("readable before the script was released")
	}
	close(release)
	buf := make([]byte, 8)
	s.SetReadDeadline(time.Now().Add(waitLimit))
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "now" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}

	// A closed connection ends the wait, failing the script.
	b.Handle("b:1", ScriptPeer(Await(make(chan struct{})), Send("never")))
	s = dial(t, b, "b:1")
	s.Close()
	c := b.Conns()[1]
	<-c.Done()
	if !errors.Is(c.Err(), net.ErrClosed) {
		t.Fatalf("script error %v, want net.ErrClosed", c.Err())
	}
}

func TestScriptCloseWrite(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(Send("bye"), CloseWrite(), Recv(4), Send("late")))
	s := dial(t, b, "a:1")
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := s.Write([]byte("more")); err != nil {
		t.Fatalf("Write after the peer's CloseWrite: %v", err)
	}
	c := b.Conns()[0]
	<-c.Done()
	// The script's Send after its CloseWrite failed.
	if !errors.Is(c.Err(), syscall.EPIPE) {
		t.Fatalf("script error %v, want EPIPE", c.Err())
	}
}

func TestScriptReset(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(Send("part"), Reset(), Send("never")))
	s := dial(t, b, "a:1")
	reads, err := readAll(t, s)
	if !equal(reads, []string{"part"}) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reads %q, %v; want \"part\", ECONNRESET", reads, err)
	}
	c := b.Conns()[0]
	<-c.Done()
	if c.Err() != nil {
		t.Fatalf("script error %v after a Reset step", c.Err())
	}
}

func TestScriptEndKeepsConnectionOpen(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(Send("hi")))
	s := dial(t, b, "a:1")
	c := b.Conns()[0]
	<-c.Done()
	// The peer drops what comes after the script: a write larger than
	// the buffer completes, and Written keeps it all.
	big := bytes.Repeat([]byte("z"), 3*bufferSize)
	s.SetWriteDeadline(time.Now().Add(waitLimit))
	if n, err := s.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write after the script = %d, %v", n, err)
	}
	if got := c.Written(); !bytes.Equal(got, big) {
		t.Fatalf("Written kept %d bytes, want %d", len(got), len(big))
	}
	buf := make([]byte, 8)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := s.Read(buf); !errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("Read past the script: %v, want a timeout (the peer stays open)", err)
	}
}

func TestScriptFailsWhenClientHangsUp(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(Recv(10), Send("never")))
	s := dial(t, b, "a:1")
	c := b.Conns()[0]
	if c.Err() != nil {
		t.Fatal("Err set before the script ended")
	}
	s.Write([]byte("short"))
	s.Close()
	<-c.Done()
	if !errors.Is(c.Err(), io.ErrUnexpectedEOF) || !strings.Contains(c.Err().Error(), "step 1") {
		t.Fatalf("script error %v, want step 1 and io.ErrUnexpectedEOF", c.Err())
	}
	if string(c.Written()) != "short" {
		t.Fatalf("Written = %q", c.Written())
	}
}

func TestScriptPerConnection(t *testing.T) {
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer(Send("same"), Close()))
	for i := range 3 {
		got, err := io.ReadAll(dial(t, b, "a:1"))
		if err != nil || string(got) != "same" {
			t.Fatalf("connection %d read %q, %v", i, got, err)
		}
	}
}

func TestScriptedTLS(t *testing.T) {
	b := newBackend(t)
	b.Handle("example.com:443", TLSScriptPeer("h2", Send("frames")))
	b.Handle("example.com:8443", ScriptPeer(Send("plain")))

	s, err := transport.DialTLS(t.Context(), b, "tcp", "example.com:443", &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := transport.NegotiatedProtocol(s); p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	v, ok := s.Info(transport.InfoTLS)
	st, _ := v.(tls.ConnectionState)
	if !ok || !st.HandshakeComplete || st.NegotiatedProtocol != "h2" || st.ServerName != "example.com" || st.Version != tls.VersionTLS13 {
		t.Fatalf("InfoTLS = %+v, %v", v, ok)
	}
	if cs, ok := s.(interface{ ConnectionState() tls.ConnectionState }); !ok || cs.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatal("no ConnectionState method, or it disagrees with Info")
	}
	if nc, ok := s.(interface{ NetConn() net.Conn }); !ok || nc.NetConn() == nil {
		t.Fatal("no NetConn method")
	}
	if v, _ := s.Info(transport.InfoBackend); v != Name {
		t.Fatalf("InfoBackend = %v", v)
	}
	buf := make([]byte, 8)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "frames" {
		t.Fatalf("Read = %q, %v (the bytes are the script's, in the clear)", buf[:n], err)
	}

	// A client that offers no ALPN gets none.
	s2, err := b.DialTLS(t.Context(), "tcp", "example.com:443", &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if p := transport.NegotiatedProtocol(s2); p != "" {
		t.Fatalf("ALPN %q with nothing offered, want none", p)
	}

	// A script without ALPN negotiates none.
	s3, err := b.DialTLS(t.Context(), "tcp", "example.com:8443", &tls.Config{NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if p := transport.NegotiatedProtocol(s3); p != "" {
		t.Fatalf("ALPN %q from a script without one", p)
	}

	// Offering protocols the script does not speak fails as a server would.
	_, err = b.DialTLS(t.Context(), "tcp", "example.com:443", &tls.Config{NextProtos: []string{"http/1.1"}})
	var alert tls.AlertError
	var oe *transport.OpError
	if !errors.As(err, &alert) || alert != 120 || !errors.As(err, &oe) || oe.Op != "tls" || oe.Address != "example.com:443" {
		t.Fatalf("DialTLS with no common protocol: %v, want a tls OpError with alert 120", err)
	}
	_, err = b.DialTLS(t.Context(), "tcp", "example.com:443", nil)
	if !errors.As(err, &oe) || oe.Op != "tls" {
		t.Fatalf("DialTLS with a nil config: %v", err)
	}
	// Failed handshakes closed their connections.
	for _, c := range b.Conns()[3:] {
		if !transport.IsClosed(c.p.client()) {
			t.Fatal("a failed DialTLS left its stream open")
		}
	}
	// Dial errors come through DialTLS unchanged.
	if _, err := b.DialTLS(t.Context(), "tcp", "nowhere:443", nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("DialTLS to an unconfigured address: %v", err)
	}
}

func TestWrittenIsBounded(t *testing.T) {
	defer func(n int) { maxRecorded = n }(maxRecorded)
	maxRecorded = 1000
	b := newBackend(t)
	b.Handle("a:1", ScriptPeer())
	s := dial(t, b, "a:1")
	c := b.Conns()[0]
	<-c.Done()
	s.Write([]byte("head"))
	s.Write(make([]byte, 600))
	s.Write(make([]byte, 600))
	if n := len(c.Written()); n != maxRecorded {
		t.Fatalf("Written kept %d bytes, want the first %d", n, maxRecorded)
	}
	if !bytes.HasPrefix(c.Written(), []byte("head")) {
		t.Fatal("Written lost the first bytes")
	}
}
