package h1_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/protocols/internal/h1"
)

func ExampleConn_RoundTrip() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:80", mock.HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Count")
		io.WriteString(w, "streamed")
		w.Header().Set("X-Count", "1")
	}), mock.HTTP1))

	s, err := b.Dial(context.Background(), "tcp", "example.com:80")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := h1.NewConn(s, h1.Options{OnDone: func(reusable bool) { fmt.Println("reusable:", reusable) }})
	defer c.Close()

	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body) // EOF ends the exchange
	resp.Body.Close()
	fmt.Println(resp.Status, resp.TransferEncoding, string(body), resp.Trailer.Get("X-Count"))
	// Output:
	// reusable: true
	// 200 OK [chunked] streamed 1
}
