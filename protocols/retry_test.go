package protocols

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/transportkit/transportkit/backends/mock"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// headersLog records when each request's HEADERS frame arrived.
type headersLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *headersLog) add() {
	l.mu.Lock()
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
}

func (l *headersLog) get() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.times...)
}

// h2cAnswering returns a Transport speaking h2c to a.test:80 on the mock
// backend, where a raw HTTP/2 peer answers each request's HEADERS with
// answer (and ends the connection when it returns false), and the log of
// when those HEADERS came.
func h2cAnswering(t *testing.T, answer func(fr *http2.Framer, id uint32) bool) (*Transport, *headersLog) {
	tr, b := newMockTransport(t)
	tr.H2C = true
	heads := &headersLog{}
	b.Handle("a.test:80", mock.FuncPeer(rawH2(func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer, id uint32) bool {
		heads.add()
		return answer(fr, id)
	})))
	return tr, heads
}

// recordWaits replaces retryWait for the test with one that records the
// waits asked for before doing them.
func recordWaits(t *testing.T) func() []time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	retryWait = func(ctx context.Context, d time.Duration, failed error) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return wait(ctx, d, failed)
	}
	t.Cleanup(func() { retryWait = wait })
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}

// TestRetryRefusedBackoff runs a GET against an h2c server (x/net's
// Framer) that refuses every stream with REFUSED_STREAM on a connection
// it keeps open: the request is sent maxAttempts times, with growing
// gaps between the sends, and the caller's error is an *Error matching
// ErrNotProcessed.
//
// It runs in a synctest bubble: the mock backend is in memory, so the
// timers run on the bubble's clock, however loaded the machine.
func TestRetryRefusedBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, heads := h2cAnswering(t, func(fr *http2.Framer, id uint32) bool {
			fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
			return true
		})
		waits := recordWaits(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a timing
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
		_, err := tr.RoundTrip(req)
		var e *Error
		if !errors.Is(err, ErrNotProcessed) || !errors.As(err, &e) || e.Proto != protoNameHTTP2 {
			t.Fatalf("error %T %v, want an *Error matching ErrNotProcessed", err, err)
		}
		got := heads.get()
		if len(got) != maxAttempts {
			t.Fatalf("%d HEADERS for one request, want %d", len(got), maxAttempts)
		}
		for i := 2; i < len(got); i++ {
			if prev, gap := got[i-1].Sub(got[i-2]), got[i].Sub(got[i-1]); gap <= prev {
				t.Errorf("gap %d (%v) not longer than gap %d (%v): %v", i, gap, i-1, prev, got)
			}
		}
		w := waits()
		if len(w) != maxAttempts-1 || w[0] < retryBackoff*9/10 || w[0] > retryBackoff*11/10 {
			t.Fatalf("waits %v, want %d starting near %v", w, maxAttempts-1, retryBackoff)
		}
		for i := 1; i < len(w); i++ {
			if w[i] <= w[i-1] {
				t.Errorf("waits %v do not grow", w)
			}
		}
		if s := tr.Stats(); s.Dials != 1 {
			t.Errorf("stats %+v: the connection stayed up, one dial was enough", s)
		}
	})
}

// TestRetryWaitCutByContext shows that the request's context cuts a
// retry's wait short, and that the error then matches both the context's
// end and the refusal.
func TestRetryWaitCutByContext(t *testing.T) {
	tr, heads := h2cAnswering(t, func(fr *http2.Framer, id uint32) bool {
		fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	retryWait = func(ctx context.Context, d time.Duration, failed error) error {
		cancel() // the caller gives up during the first wait
		return wait(ctx, d, failed)
	}
	t.Cleanup(func() { retryWait = wait })
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
	_, err := tr.RoundTrip(req)
	var e *Error
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNotProcessed) || !errors.As(err, &e) || e.Op != "roundtrip" {
		t.Fatalf("error %v, want an *Error matching context.Canceled and ErrNotProcessed", err)
	}
	if n := len(heads.get()); n != 1 {
		t.Errorf("%d HEADERS, want 1", n)
	}
}

// TestRetryGoAwayAtOnce runs a GET against an h2c server that answers
// every request with GOAWAY naming no stream processed, then closes: each
// retry needs a new connection and goes at once, up to maxAttempts
// sends, since none of these connections served a request.
//
// It runs in a synctest bubble (the mock backend is in memory), whose
// clock does not move while a goroutine runs: "at once" is no time at
// all on it.
func TestRetryGoAwayAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, heads := h2cAnswering(t, func(fr *http2.Framer, id uint32) bool {
			fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			return false
		})
		waits := recordWaits(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://a.test/", nil)
		start := time.Now()
		_, err := tr.RoundTrip(req)
		var e *Error
		if !errors.Is(err, ErrNotProcessed) || !errors.As(err, &e) {
			t.Fatalf("error %v, want an *Error matching ErrNotProcessed", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the retries took %v on the bubble's clock, want none", d)
		}
		if n := len(heads.get()); n != maxAttempts {
			t.Errorf("%d HEADERS, want %d", n, maxAttempts)
		}
		if s := tr.Stats(); s.Dials != maxAttempts {
			t.Errorf("stats %+v, want a connection per attempt", s)
		}
		if w := waits(); len(w) != 0 {
			t.Errorf("waited %v before retrying after GOAWAY", w)
		}
	})
}

// TestRetryResetProtocolError: a server that resets a stream with
// RST_STREAM(PROTOCOL_ERROR) before any response gets the request again,
// on a new connection (that one takes no new requests), whatever its
// method, as net/http does (its canRetryError, golang/go#47635): some
// servers answer a request they did not process so.
func TestRetryResetProtocolError(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr, b := newMockTransport(t)
				tr.H2C = true
				var mu sync.Mutex
				conns := 0
				b.Handle("a.test:80", mock.FuncPeer(func(nc net.Conn) {
					mu.Lock()
					first := conns == 0
					conns++
					mu.Unlock()
					rawH2Peer(true, func(fr *http2.Framer, enc *hpack.Encoder, hbuf *bytes.Buffer, id uint32) bool {
						if first {
							fr.WriteRSTStream(id, http2.ErrCodeProtocol)
							return true
						}
						writeHead(fr, enc, hbuf, id, false)
						fr.WriteData(id, true, []byte("ok"))
						return true
					})(nc)
				}))
				waits := recordWaits(t)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a bound, not a timing
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, method, "http://a.test/", strings.NewReader("body"))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != "ok" {
					t.Fatalf("body %q, %v", body, err)
				}
				if s := tr.Stats(); s.Dials != 2 {
					t.Errorf("stats %+v, want a second connection for the retry", s)
				}
				if w := waits(); len(w) != 0 {
					t.Errorf("waited %v before retrying on a new connection", w)
				}
			})
		})
	}
}
