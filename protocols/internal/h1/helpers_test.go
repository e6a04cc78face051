package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"

	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/protocols/internal/prototest"
	"github.com/transportkit/transportkit/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rawServer is a loopback TCP server whose connections are handled by a
// function, for responses no real server would send.
type rawServer = prototest.TCPServer

// newRawServer serves handle on a loopback listener until t ends, closing
// each connection when handle returns.
func newRawServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	return prototest.StartTCP(t, func(c net.Conn) {
		defer c.Close()
		handle(c, bufio.NewReader(c))
	})
}

// respondEach reads requests and answers each with resp, until the client
// goes away.
func respondEach(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	}
}

// respondOnce answers the first request with resp and closes.
func respondOnce(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, resp)
	}
}

// dialer dials through the stdnet backend.
type dialer struct {
	b transport.Backend
}

func newDialer(t testing.TB) *dialer {
	t.Helper()
	b, err := stdnet.Open(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &dialer{b: b}
}

// doneLog records OnDone calls.
type doneLog struct {
	mu    sync.Mutex
	calls []bool
}

func (d *doneLog) onDone(reusable bool) {
	d.mu.Lock()
	d.calls = append(d.calls, reusable)
	d.mu.Unlock()
}

func (d *doneLog) get() []bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]bool(nil), d.calls...)
}

func (d *dialer) conn(t testing.TB, addr string, opts Options) (*Conn, *doneLog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := d.b.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	log := &doneLog{}
	if opts.OnDone == nil {
		opts.OnDone = log.onDone
	}
	c := NewConn(s, opts)
	t.Cleanup(func() { c.Close() })
	return c, log
}

// get builds a GET request for addr bounded by a test deadline.
func newReq(t testing.TB, method, addr string, body io.Reader) *http.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+"/path?q=1", body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
