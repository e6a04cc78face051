package parity

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Go server's handler. Every run of a scenario uses its own path
// prefix /r/TOKEN/, so that what the server saw is kept per run, and the
// handler's state (cookies, stale connections) never crosses runs.

// bigBody is the large response body: 1 MiB of letters.
var bigBody = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// seen is one request the server saw.
type seen struct {
	conn    string // the client connection (its remote address)
	line    string // method, path, proto, and the headers the suite looks at
	body    int    // request body bytes read
	bodyErr bool   // reading the body failed
	trailer string // request trailers
}

// recorder keeps the requests of each run.
type recorder struct {
	mu       sync.Mutex
	runs     map[string][]*seen
	inflight map[string]int
	stale    map[string]int // requests per run and connection, for /stale
}

func newRecorder() *recorder {
	return &recorder{runs: map[string][]*seen{}, inflight: map[string]int{}, stale: map[string]int{}}
}

// seenHeaders are the request headers the server's record shows, in
// this order.
var seenHeaders = []string{
	"Accept-Encoding", "Connection", "Content-Length", "Content-Type", "Cookie", "Expect",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "User-Agent", "Via", "X-Parity",
}

// describe is the record of r.
func describe(r *http.Request, path string) string {
	var b strings.Builder
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	fmt.Fprintf(&b, "%s %s %s host=%s", r.Method, path, r.Proto, r.Host)
	if r.ContentLength >= 0 {
		fmt.Fprintf(&b, " len=%d", r.ContentLength)
	} else {
		b.WriteString(" len=unknown")
	}
	if len(r.TransferEncoding) > 0 {
		fmt.Fprintf(&b, " te=%s", strings.Join(r.TransferEncoding, ","))
	}
	for _, k := range seenHeaders {
		if v, ok := r.Header[k]; ok {
			fmt.Fprintf(&b, " %s=%q", strings.ToLower(k), strings.Join(v, ","))
		}
	}
	return b.String()
}

// snapshot returns the run's records once no request of it is in flight
// (waiting up to 5 s), with connections named c1, c2... in order of first
// appearance, and the number of connections.
func (rec *recorder) snapshot(token string) (lines []string, conns int) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		if rec.inflight[token] == 0 || time.Now().After(deadline) {
			break
		}
		rec.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	defer rec.mu.Unlock()
	names := map[string]string{}
	for _, s := range rec.runs[token] {
		if names[s.conn] == "" {
			names[s.conn] = "c" + strconv.Itoa(len(names)+1)
		}
		l := fmt.Sprintf("%s: %s body=%d", names[s.conn], s.line, s.body)
		if s.bodyErr {
			l += " body-error"
		}
		if s.trailer != "" {
			l += " trailer=" + s.trailer
		}
		lines = append(lines, l)
	}
	if rec.inflight[token] != 0 {
		lines = append(lines, fmt.Sprintf("(%d requests still in flight)", rec.inflight[token]))
	}
	return lines, len(names)
}

// countingBody counts what a handler reads of a request body.
type countingBody struct {
	io.ReadCloser
	n   int
	err error
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += n
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// handler serves the endpoints of the scenarios under /r/TOKEN/.
func (rec *recorder) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/r/")
		token, path, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 {
			http.NotFound(w, r)
			return
		}
		path = "/" + path
		s := &seen{conn: r.RemoteAddr, line: describe(r, path)}
		body := &countingBody{ReadCloser: r.Body}
		r.Body = body
		rec.mu.Lock()
		rec.runs[token] = append(rec.runs[token], s)
		rec.inflight[token]++
		rec.mu.Unlock()
		defer func() {
			rec.mu.Lock()
			s.body, s.bodyErr = body.n, body.err != nil
			if len(r.Trailer) > 0 {
				var kv []string
				for k, v := range r.Trailer {
					kv = append(kv, k+":"+strings.Join(v, ","))
				}
				sort.Strings(kv)
				s.trailer = strings.Join(kv, ";")
			}
			rec.inflight[token]--
			rec.mu.Unlock()
		}()
		rec.serve(w, r, token, path)
	})
}

// serve answers one request.
func (rec *recorder) serve(w http.ResponseWriter, r *http.Request, token, path string) {
	q := r.URL.Query()
	// delay waits for the duration in the query (d), and reports false
	// if the request ended first. A client that went away must then get
	// nothing more, not even the empty answer the server sends for a
	// handler that returns: over TLS its close_notify reaches the server
	// before it stops reading, and an answer could still beat its own
	// cancel. The handler aborts (http.ErrAbortHandler) instead.
	delay := func(def time.Duration) bool {
		d, err := time.ParseDuration(q.Get("d"))
		if err != nil {
			d = def
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	switch path {
	case "/hello":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Parity", "hello")
		io.WriteString(w, "hello")
	case "/big":
		w.Header().Set("Content-Length", strconv.Itoa(len(bigBody)))
		w.Write(bigBody)
	case "/chunked":
		// No Content-Length: HTTP/1.1 sends it chunked.
		for i := range 3 {
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
		}
	case "/echo", "/continue":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Body-Length", strconv.Itoa(len(b)))
		w.Write(b)
	case "/refuse":
		// Answers without reading the body: a refused 100-continue.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusExpectationFailed)
		io.WriteString(w, "refused")
	case "/redirect":
		code, _ := strconv.Atoi(q.Get("code"))
		http.Redirect(w, r, "/r/"+token+"/"+q.Get("to"), code)
	case "/setcookie":
		http.SetCookie(w, &http.Cookie{Name: "flavour", Value: "oat", Path: "/"})
		io.WriteString(w, "set")
	case "/getcookie":
		io.WriteString(w, "cookie: "+r.Header.Get("Cookie"))
	case "/gzip":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Vary", "Accept-Encoding")
		text := strings.Repeat("compressible text. ", 64)
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, text)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, text)
		zw.Close()
	case "/hints":
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "after hints")
	case "/trailers":
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "body with a trailer")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc123")
	case "/slowheaders":
		if !delay(2 * time.Second) {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "late")
	case "/slowbody":
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		if !delay(2 * time.Second) {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "-last")
	case "/stale":
		// The second request of a connection is read, then the
		// connection is closed unanswered: a keep-alive connection the
		// server dropped just as the client reused it.
		rec.mu.Lock()
		conn := token + " " + r.RemoteAddr
		rec.stale[conn]++
		n := rec.stale[conn]
		rec.mu.Unlock()
		if n == 2 {
			if hj, ok := w.(http.Hijacker); ok {
				io.Copy(io.Discard, r.Body)
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		io.WriteString(w, "fresh")
	case "/status":
		code, _ := strconv.Atoi(q.Get("code"))
		w.WriteHeader(code)
	default:
		http.NotFound(w, r)
	}
}
