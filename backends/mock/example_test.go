package mock_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/transport"
)

// A scripted peer answers an HTTP/1.1 request byte for byte, and the test
// checks what the client sent.
func ExampleBackend_scripted() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:80", mock.ScriptPeer(
		mock.RecvUntil("\r\n\r\n"),
		mock.Send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
		mock.Send("hi"),
		mock.Close(),
	))

	s, err := b.Dial(context.Background(), "tcp", "example.com:80")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	io.WriteString(s, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(s), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	fmt.Printf("%q\n", b.Conns()[0].Written())
	// Output:
	// 200 OK hi
	// "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
}

// A dial to an address nobody handles is refused, with a typed error.
func ExampleBackend_Dial_refused() {
	b := mock.New()
	defer b.Close()
	_, err := b.Dial(context.Background(), "tcp", "example.com:80")
	var oe *transport.OpError
	fmt.Println(errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &oe) && oe.Op == "dial")
	fmt.Println(err)
	// Output:
	// true true
	// mock: dial tcp example.com:80: connection refused
}

// Scripted TLS: no handshake, but the stream reports the ALPN protocol the
// script chose, so HTTP/2 client code can be fed frames directly.
func ExampleTLSScriptPeer() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:443", mock.TLSScriptPeer("h2"))

	s, err := transport.DialTLS(context.Background(), b, "tcp", "example.com:443",
		&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(transport.NegotiatedProtocol(s))
	// Output: h2
}

// A handler peer serves an http.Handler with net/http's server; an
// http.Client reaches it through the backend.
func ExampleHandlerPeer() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:80", mock.HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	}), mock.HTTP1|mock.H2C))

	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return b.Dial(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://example.com/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello over HTTP/1.1
}

// TLSHandlerPeer runs real TLS with the test certificate; ALPN picks
// HTTP/2.
func ExampleTLSHandlerPeer() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:443", mock.TLSHandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s via %s", r.Proto, r.TLS.NegotiatedProtocol)
	}), nil))

	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.Dial(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: mock.RootCAs()},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://example.com/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: HTTP/2.0 via h2
}

// Faults combine with any peer. Here the server's answer is cut by a
// reset after 12 bytes, and a second address never answers.
func ExampleResetAfter() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:80", mock.ScriptPeer(mock.Send("HTTP/1.1 200 OK\r\n")), mock.ResetAfter(12))
	b.Handle("example.com:81", mock.ScriptPeer(), mock.Stall())

	s, _ := b.Dial(context.Background(), "tcp", "example.com:80")
	defer s.Close()
	got, err := io.ReadAll(s)
	fmt.Printf("%q %v\n", got, errors.Is(err, syscall.ECONNRESET))

	s2, _ := b.Dial(context.Background(), "tcp", "example.com:81")
	defer s2.Close()
	s2.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err = s2.Read(make([]byte, 1))
	fmt.Println(errors.Is(err, transport.ErrTimeout))
	// Output:
	// "HTTP/1.1 200" true
	// true
}
