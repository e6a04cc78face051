package protocols

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// server is what the interop suite talks to: nginx, or an in-memory
// handler with the same endpoints for the mock backend.
type server struct {
	http, https, shortIdle string // base URLs
	tls                    *tls.Config
	httpsProto             string // what ALPN chooses on https
}

func bigBody() []byte {
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	return big
}

// TestInteropNginx runs the suite against a real nginx on every backend
// that can reach it.
func TestInteropNginx(t *testing.T) {
	n := startNginx(t)
	srv := server{
		http:       "http://" + n.http,
		https:      "https://" + n.https,
		shortIdle:  "http://" + n.shortIdle,
		tls:        n.tlsConfig(),
		httpsProto: ProtoHTTP11, // that server does not offer h2
	}
	t.Run("stdnet", func(t *testing.T) {
		transporttest.VerifyNoLeaks(t)
		b, err := stdnet.Open(transport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		runSuite(t, b, srv)
	})
	t.Run("epoll", func(t *testing.T) {
		if err := epoll.Available(); err != nil {
			t.Skipf("epoll unavailable: %v", err)
		}
		transporttest.VerifyNoLeaks(t)
		b, err := epoll.Open(transport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		runSuite(t, b, srv)
	})
}

// TestInteropMock runs the suite on the mock backend, against handler
// peers that mimic the nginx endpoints.
func TestInteropMock(t *testing.T) {
	transporttest.VerifyNoLeaks(t)
	b := mock.New()
	defer b.Close()
	h := nginxLike()
	b.Handle("web.test:80", mock.HandlerPeer(h, mock.HTTP1))
	b.Handle("web.test:443", mock.TLSHandlerPeer(h, nil))
	b.Handle("idle.test:80", mock.FuncPeer(shortIdlePeer))
	runSuite(t, b, server{
		http:       "http://web.test",
		https:      "https://web.test",
		shortIdle:  "http://idle.test",
		tls:        &tls.Config{RootCAs: mock.RootCAs()},
		httpsProto: ProtoH2,
	})
}

// nginxLike serves what the nginx config of the suite serves.
func nginxLike() http.Handler {
	big := bigBody()
	var mu sync.Mutex
	files := map[string][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/hello", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	})
	mux.HandleFunc("/mid", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(midSize))
		w.Write(big[:midSize])
	})
	mux.HandleFunc("/chunked/", func(w http.ResponseWriter, r *http.Request) {
		data := []byte("chunked hello\n")
		if r.URL.Path == "/chunked/big" {
			data = big
		}
		for len(data) > 0 {
			k := min(len(data), 10000)
			w.Write(data[:k])
			w.(http.Flusher).Flush()
			data = data[k:]
		}
	})
	mux.HandleFunc("/up/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case "PUT":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(400)
				return
			}
			files[r.URL.Path] = b
			w.WriteHeader(201)
		default:
			b, ok := files[r.URL.Path]
			if !ok {
				w.WriteHeader(404)
				return
			}
			w.Write(b)
		}
	})
	return mux
}

// shortIdlePeer answers GETs with "hello" and, like nginx with
// keepalive_timeout 1s, closes a connection idle for a second.
func shortIdlePeer(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"); err != nil {
			return
		}
	}
}

// onlyReader hides every method but Read, so a body's length is unknown
// and it is sent chunked.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func runSuite(t *testing.T, b transport.Backend, srv server) {
	tr := &Transport{Backend: b, TLSClientConfig: srv.tls}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	big := bigBody()

	get := func(t *testing.T, method, url string, body io.Reader) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: body: %v", method, url, err)
		}
		return resp, data
	}

	t.Run("GET", func(t *testing.T) {
		resp, data := get(t, "GET", srv.http+"/hello", nil)
		if resp.StatusCode != 200 || string(data) != "hello" || resp.ContentLength != 5 {
			t.Errorf("%d %q %d", resp.StatusCode, data, resp.ContentLength)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, data := get(t, "HEAD", srv.http+"/big", nil)
		if resp.StatusCode != 200 || len(data) != 0 || resp.ContentLength != bigSize {
			t.Errorf("%d %q %d", resp.StatusCode, data, resp.ContentLength)
		}
	})
	t.Run("204", func(t *testing.T) {
		resp, data := get(t, "GET", srv.http+"/empty", nil)
		if resp.StatusCode != 204 || len(data) != 0 {
			t.Errorf("%d %q", resp.StatusCode, data)
		}
	})
	t.Run("404 is a response", func(t *testing.T) {
		resp, _ := get(t, "GET", srv.http+"/up/never-written", nil)
		if resp.StatusCode != 404 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, data := get(t, "GET", srv.http+"/redirect", nil)
		if resp.StatusCode != 200 || string(data) != "hello" {
			t.Errorf("%d %q", resp.StatusCode, data)
		}
	})
	t.Run("chunked download", func(t *testing.T) {
		resp, data := get(t, "GET", srv.http+"/chunked/small", nil)
		if string(data) != "chunked hello\n" || len(resp.TransferEncoding) != 1 || resp.ContentLength != -1 {
			t.Errorf("%q te %v length %d", data, resp.TransferEncoding, resp.ContentLength)
		}
		resp, data = get(t, "GET", srv.http+"/chunked/big", nil)
		if !bytes.Equal(data, big) || len(resp.TransferEncoding) != 1 {
			t.Errorf("big chunked body: %d bytes, te %v", len(data), resp.TransferEncoding)
		}
	})
	t.Run("1MiB body", func(t *testing.T) {
		resp, data := get(t, "GET", srv.http+"/big", nil)
		if !bytes.Equal(data, big) || resp.ContentLength != bigSize {
			t.Errorf("%d bytes, length %d", len(data), resp.ContentLength)
		}
	})
	t.Run("chunked upload", func(t *testing.T) {
		name := fmt.Sprintf("/up/chunked-%p", t)
		resp, _ := get(t, "PUT", srv.http+name, onlyReader{bytes.NewReader(big)})
		if resp.StatusCode != 201 && resp.StatusCode != 204 {
			t.Fatalf("PUT status %d", resp.StatusCode)
		}
		_, data := get(t, "GET", srv.http+name, nil)
		if !bytes.Equal(data, big) {
			t.Errorf("uploaded %d bytes, read back %d", len(big), len(data))
		}
	})
	t.Run("1MiB upload", func(t *testing.T) {
		name := fmt.Sprintf("/up/length-%p", t)
		resp, _ := get(t, "PUT", srv.http+name, bytes.NewReader(big))
		if resp.StatusCode != 201 && resp.StatusCode != 204 {
			t.Fatalf("PUT status %d", resp.StatusCode)
		}
		_, data := get(t, "GET", srv.http+name, nil)
		if !bytes.Equal(data, big) {
			t.Errorf("read back %d bytes", len(data))
		}
	})
	t.Run("keep-alive reuse", func(t *testing.T) {
		get(t, "GET", srv.http+"/hello", nil)
		before := tr.Stats().Dials
		for i := 0; i < 50; i++ {
			get(t, "GET", srv.http+"/hello", nil)
		}
		if d := tr.Stats().Dials - before; d != 0 {
			t.Errorf("%d dials for 50 sequential requests on a warm pool", d)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					resp, err := client.Get(srv.http + "/hello")
					if err != nil {
						errs <- err
						return
					}
					data, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || string(data) != "hello" {
						errs <- fmt.Errorf("body %q: %v", data, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if s := tr.Stats(); s.Open > 16 || s.Idle > s.Open {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		resp, data := get(t, "GET", srv.https+"/hello", nil)
		if string(data) != "hello" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != srv.httpsProto {
			t.Fatalf("%q tls %+v", data, resp.TLS)
		}
		before := tr.Stats().Dials
		_, data = get(t, "GET", srv.https+"/big", nil)
		if !bytes.Equal(data, big) || tr.Stats().Dials != before {
			t.Errorf("TLS big body %d bytes, dials %d -> %d", len(data), before, tr.Stats().Dials)
		}
	})
	t.Run("server closes idle connections", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits for keepalive_timeout")
		}
		// Bursts of concurrent requests, with pauses longer than the
		// server's keep-alive timeout between them: connections die while
		// pooled and no request may fail.
		for burst := 0; burst < 3; burst++ {
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						resp, err := client.Get(srv.shortIdle + "/hello")
						if err != nil {
							errs <- err
							return
						}
						data, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if string(data) != "hello" {
							errs <- fmt.Errorf("body %q", data)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("burst %d: %v", burst, err)
			}
			if burst < 2 {
				time.Sleep(1300 * time.Millisecond)
			}
		}
	})
	t.Run("context cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.http+"/big", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 1000)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("read after cancel succeeded")
		}
		resp.Body.Close()
		_, data := get(t, "GET", srv.http+"/hello", nil)
		if string(data) != "hello" {
			t.Errorf("after cancel: %q", data)
		}
	})
	tr.CloseIdleConnections()
	if s := tr.Stats(); s.Idle != 0 || s.Open != 0 {
		t.Errorf("after CloseIdleConnections: %+v", s)
	}
}
