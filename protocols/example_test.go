package protocols_test

import (
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
