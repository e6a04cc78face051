package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/transportkit/transportkit/transport"
)

// TestResponseTLSState checks that every response over TLS carries the
// connection's state, whether the stream gives it by ConnectionState (as
// transport.StartTLS's streams do: a copy per response, none kept while
// idle) or only through Info(InfoTLS) (copied once when the Conn is made).
func TestResponseTLSState(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	d := newDialer(t)
	for _, tc := range []struct {
		name string
		wrap func(transport.Stream) transport.Stream
	}{
		{"ConnectionState", func(s transport.Stream) transport.Stream { return s }},
		{"Info only", func(s transport.Stream) transport.Stream { return struct{ transport.Stream }{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			raw, err := d.b.Dial(ctx, "tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := transport.StartTLS(ctx, raw, &tls.Config{RootCAs: roots, ServerName: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			c := NewConn(tc.wrap(s), Options{})
			defer c.Close()
			for i := range 2 {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != "hello" {
					t.Fatalf("response %d: %q, %v", i, body, err)
				}
				if resp.TLS == nil || !resp.TLS.HandshakeComplete || resp.TLS.Version != tls.VersionTLS13 ||
					len(resp.TLS.PeerCertificates) == 0 || resp.TLS.ServerName != "example.com" {
					t.Fatalf("response %d: TLS state %+v", i, resp.TLS)
				}
			}
		})
	}
}

// TestHeaderOutlivesExchange checks that a response's header, whose
// values are stored with the response, keeps its values after the
// connection has read the next responses, for heads that fit in that
// storage and heads that do not.
func TestHeaderOutlivesExchange(t *testing.T) {
	long := strings.Repeat("v", 400) // past the storage for the head's text
	n := 0
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			n++
			extra := ""
			if n%2 == 0 {
				extra = "X-Long: " + long + "\r\n"
			}
			for i := range 10 { // past the storage for values
				extra += fmt.Sprintf("X-F%d: %d-%d\r\n", i, n, i)
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-N: %d\r\n%sContent-Length: 2\r\n\r\nok", n, extra)
		}
	})
	c, _ := newDialer(t).conn(t, srv.Addr(), Options{})
	var kept []http.Header
	for range 4 {
		resp, err := c.RoundTrip(newReq(t, "GET", srv.Addr(), nil))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		kept = append(kept, resp.Header)
	}
	for i, h := range kept {
		n := i + 1
		if got := h.Get("X-N"); got != strconv.Itoa(n) {
			t.Errorf("response %d: X-N %q", n, got)
		}
		if got := h.Get("X-F9"); got != fmt.Sprintf("%d-9", n) {
			t.Errorf("response %d: X-F9 %q", n, got)
		}
		if want := map[bool]string{true: long, false: ""}[n%2 == 0]; h.Get("X-Long") != want {
			t.Errorf("response %d: X-Long of %d bytes", n, len(h.Get("X-Long")))
		}
	}
}

// TestResponseSizeClasses pins the sizes the response allocations were
// chosen for: a response in the 704-byte size class, and one over TLS
// outside the 896-byte class of crypto/tls's long-lived objects (see
// tlsResponse).
func TestResponseSizeClasses(t *testing.T) {
	if got := unsafe.Sizeof(response{}); got > 704 {
		t.Errorf("response is %d bytes, want at most 704", got)
	}
	if got := unsafe.Sizeof(tlsResponse{}); got <= 896 || got > 1024 {
		t.Errorf("tlsResponse is %d bytes, want 897 to 1024", got)
	}
}

// TestConnSize pins the Conn in the 384-byte size class (see its padding).
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got <= 352 || got > 384 {
		t.Errorf("Conn is %d bytes, want 353 to 384", got)
	}
}
