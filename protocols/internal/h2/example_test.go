package h2_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/protocols/internal/h2"
)

// ExampleConn_RoundTrip runs two requests over one HTTP/2 connection to
// an in-memory server speaking h2c.
func ExampleConn_RoundTrip() {
	b := mock.New()
	defer b.Close()
	b.Handle("example.com:80", mock.HandlerPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}), mock.H2C))

	ctx := context.Background()
	s, err := b.Dial(ctx, "tcp", "example.com:80")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := h2.NewConn(s, h2.Options{}) // c owns s now
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	for _, path := range []string{"/a", "/b"} {
		if !c.Reserve() { // a pool would use another connection
			fmt.Println("connection full")
			return
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://example.com"+path, nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			fmt.Println(err, "retryable:", h2.IsRetryable(err))
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	fmt.Println("active:", c.State().Active)
	// Output:
	// 200 HTTP/2.0 /a
	// 200 HTTP/2.0 /b
	// active: 0
}
