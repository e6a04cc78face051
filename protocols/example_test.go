package protocols_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/protocols"
)

func ExampleTransport_RoundTrip() {
	// An in-memory backend whose example.com:80 is served by a handler.
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:80", mock.HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	}), mock.HTTP1))

	tr := &protocols.Transport{Backend: b}
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for i := 0; i < 2; i++ {
		resp, err := client.Get("http://example.com/")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, string(body))
	}
	fmt.Println("dials:", tr.Stats().Dials)
	// Output:
	// 200 OK hello from example.com
	// 200 OK hello from example.com
	// dials: 1
}

func ExampleTransport_http2() {
	// An in-memory backend whose example.com serves HTTP/2 over TLS
	// (offered by ALPN) and h2c on port 80.
	b := mock.New()
	defer b.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s over %s", r.Proto, map[bool]string{true: "TLS", false: "clear text"}[r.TLS != nil])
	})
	b.Handle("example.com:443", mock.TLSHandlerPeer(h, nil))
	b.Handle("example.com:80", mock.HandlerPeer(h, mock.H2C))

	tr := &protocols.Transport{
		Backend:         b,
		TLSClientConfig: &tls.Config{RootCAs: mock.RootCAs()},
		H2C:             true, // HTTP/2 with prior knowledge for http URLs
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for _, url := range []string{"https://example.com/", "http://example.com/"} {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Proto, string(body))
	}
	fmt.Println("HTTP/2 connections:", tr.Stats().HTTP2)
	// Output:
	// HTTP/2.0 HTTP/2.0 over TLS
	// HTTP/2.0 HTTP/2.0 over clear text
	// HTTP/2 connections: 2
}
