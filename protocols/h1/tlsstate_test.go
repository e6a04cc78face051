package h1

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
