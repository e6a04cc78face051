package protocols

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
)

// TestRequestSettingsOverHTTP2: UserAgent, ResponseHeaderTimeout and
// ExpectContinueTimeout of the Transport apply to HTTP/2 as to HTTP/1.1.
func TestRequestSettingsOverHTTP2(t *testing.T) {
	release := make(chan struct{})
	var bodySeenAfter = make(chan time.Duration, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ua":
			io.WriteString(w, r.Header.Get("User-Agent")+"|"+r.Proto)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/continue":
			start := time.Now()
			io.ReadAll(r.Body) // asks the client for the body: 100 Continue
			bodySeenAfter <- time.Since(start)
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	defer close(release)

	b, err := stdnet.Open(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr := &Transport{Backend: b, TLSClientConfig: &tls.Config{RootCAs: roots},
		ResponseHeaderTimeout: 200 * time.Millisecond, ExpectContinueTimeout: 5 * time.Second}
	defer tr.Close()

	for _, tc := range []struct{ ua, want string }{{"", "transportkit|HTTP/2.0"}, {"custom/1", "custom/1|HTTP/2.0"}} {
		tr.UserAgent = tc.ua
		tr.CloseIdleConnections()
		resp, body, err := do(t, tr, mustRequest(t, "GET", srv.URL+"/ua", nil))
		if err != nil || resp.ProtoMajor != 2 || body != tc.want {
			t.Errorf("UserAgent %q: %v %q, want %q over HTTP/2", tc.ua, err, body, tc.want)
		}
	}

	start := time.Now()
	_, _, err = do(t, tr, mustRequest(t, "GET", srv.URL+"/slow", nil))
	var ne interface{ Timeout() bool }
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("slow head over HTTP/2: %v, want the response header timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the header timeout took %v", d)
	}

	req := mustRequest(t, "POST", srv.URL+"/continue", strings.NewReader("body"))
	req.Header.Set("Expect", "100-continue")
	resp, _, err := do(t, tr, req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("100-continue over HTTP/2: %v", err)
	}
	if d := <-bodySeenAfter; d > 3*time.Second {
		t.Errorf("the body came %v after the server asked: the client waited for the timeout instead of 100 Continue", d)
	}
}

func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
