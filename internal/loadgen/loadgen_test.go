package loadgen

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 123456789, 1 << 40, 1<<63 - 1} {
		i := bucket(v)
		if lo := lowest(i); lo > v {
			t.Errorf("bucket(%d) = %d whose lowest value %d is above it", v, i, lo)
		}
		if i+1 < nBuckets {
			if next := lowest(i + 1); next <= v {
				t.Errorf("bucket(%d) = %d but the next bucket starts at %d", v, i, next)
			}
			// Relative width at most 1/32 above the exact range.
			if lo := lowest(i); v >= 1<<subBits && float64(lowest(i+1)-lo)/float64(lo) > 1.0/32+1e-9 {
				t.Errorf("bucket %d is %d..%d, wider than 1/32", i, lo, lowest(i+1))
			}
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	vals := rand.Perm(10000)
	for _, v := range vals {
		h.Record(time.Duration(v+1) * time.Microsecond)
	}
	h.Record(-time.Second) // counts as zero
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}, {2, 10000 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d > 0.001 || d < -0.04 {
			t.Errorf("Quantile(%v) = %v, want about %v", tc.q, got, tc.want)
		}
	}
	if h.Quantile(-1) != 0 {
		t.Errorf("Quantile(-1) = %v, want the smallest (0)", h.Quantile(-1))
	}
	var m Histogram
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 2*h.Count() || m.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merged: count %d median %v, want %d and %v", m.Count(), m.Quantile(0.5), 2*h.Count(), h.Quantile(0.5))
	}
}

func TestRunRequests(t *testing.T) {
	var calls atomic.Int64
	var progressed atomic.Int64
	var spans []bool
	res, err := Run(context.Background(), Config{
		Callers:  4,
		Requests: 200,
		Progress: func(n int64) { progressed.Store(n) },
		Span:     func(begin bool) { spans = append(spans, begin) },
	}, func() Caller {
		return func(ctx context.Context) error {
			calls.Add(1)
			time.Sleep(100 * time.Microsecond)
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 200 || res.Errors != 0 || res.Rate <= 0 {
		t.Errorf("result %+v, want at least 200 requests and no error", res)
	}
	if res.P50 < 100*time.Microsecond || res.P99 < res.P50 {
		t.Errorf("p50 %v p99 %v, want at least the 100µs each call sleeps, p99 >= p50", res.P50, res.P99)
	}
	if progressed.Load() != res.Requests+res.Errors {
		t.Errorf("last progress %d, want the final count %d", progressed.Load(), res.Requests+res.Errors)
	}
	if len(spans) != 2 || !spans[0] || spans[1] {
		t.Errorf("Span calls %v, want [true false]", spans)
	}
	if calls.Load() < res.Requests {
		t.Errorf("%d calls but %d requests counted", calls.Load(), res.Requests)
	}
}

// TestRunDurationCountsErrors: a run bounded by Duration counts failures
// beside successes and measures at least the Duration. It runs in a
// synctest bubble: the callers' 1 ms calls and the 100 ms run are on the
// bubble's clock.
func TestRunDurationCountsErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		var n atomic.Int64
		res, err := Run(context.Background(), Config{Callers: 2, Duration: 100 * time.Millisecond, Warmup: 10 * time.Millisecond},
			func() Caller {
				return func(ctx context.Context) error {
					time.Sleep(time.Millisecond)
					if n.Add(1)%2 == 0 {
						return boom
					}
					return nil
				}
			})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors == 0 || res.Requests == 0 || !errors.Is(res.FirstError, boom) {
			t.Errorf("result %+v: want both successes and failures, first error boom", res)
		}
		if res.Elapsed < 100*time.Millisecond {
			t.Errorf("elapsed %v, want the 100ms asked for", res.Elapsed)
		}
	})
}

func TestRunStopOnError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Run(context.Background(), Config{Callers: 3, Duration: 10 * time.Second, StopOnError: true},
		func() Caller {
			return func(ctx context.Context) error { return boom }
		})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom at once", err)
	}
}

// TestRunContextEnds: the end of Run's context ends a run bounded by a
// long Duration cleanly, the callers' errors from that end uncounted. It
// runs in a synctest bubble, on the bubble's clock.
func TestRunContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		res, err := Run(ctx, Config{Callers: 2, Duration: time.Hour}, func() Caller {
			return func(ctx context.Context) error {
				select {
				case <-time.After(time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 5*time.Second || res.Errors != 0 {
			t.Errorf("run took %v with %d errors; the context should end it cleanly", time.Since(start), res.Errors)
		}
	})
}

func TestRunBadConfig(t *testing.T) {
	nop := func() Caller { return func(context.Context) error { return nil } }
	if _, err := Run(context.Background(), Config{Duration: time.Second}, nop); !errors.Is(err, ErrBadCallers) {
		t.Errorf("no callers: %v", err)
	}
	if _, err := Run(context.Background(), Config{Callers: 1}, nop); !errors.Is(err, ErrNoBound) {
		t.Errorf("no bound: %v", err)
	}
}

// TestRunStuckCallers: Run reports callers still running StopTimeout
// after the end of the run. It runs in a synctest bubble, on the bubble's
// clock.
func TestRunStuckCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		started := make(chan struct{}, 1)
		_, err := Run(context.Background(), Config{Callers: 1, Duration: 10 * time.Millisecond, StopTimeout: 50 * time.Millisecond},
			func() Caller {
				return func(ctx context.Context) error {
					select {
					case started <- struct{}{}:
					default:
					}
					<-release // ignores ctx
					return nil
				}
			})
		if err == nil {
			t.Fatal("a caller that ignores the end of the run went unnoticed")
		}
	})
}

func TestHTTPGet(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	res, err := Run(context.Background(), Config{Callers: 2, Requests: 20}, HTTPGet(client.Do, srv.URL+"/", nil))
	if err != nil || res.Requests < 20 || res.Errors != 0 {
		t.Fatalf("Run = %+v, %v; want 20 requests without error", res, err)
	}
	if seen.Load() < 20 {
		t.Errorf("the server saw %d requests, want 20 or more", seen.Load())
	}

	res, err = Run(context.Background(), Config{Callers: 1, Requests: 3}, HTTPGet(client.Do, srv.URL+"/missing", nil))
	if err != nil || res.Errors == 0 || res.FirstError == nil {
		t.Errorf("404s: %+v, %v; want errors counted", res, err)
	}

	var bodies atomic.Int64
	check := func(resp *http.Response) error {
		bodies.Add(1)
		if resp.StatusCode != http.StatusNotFound {
			return errors.New("want 404")
		}
		return nil
	}
	res, err = Run(context.Background(), Config{Callers: 1, Requests: 3}, HTTPGet(client.Transport.RoundTrip, srv.URL+"/missing", check))
	if err != nil || res.Errors != 0 || bodies.Load() < 3 {
		t.Errorf("a check that wants 404: %+v, %v, %d checked", res, err, bodies.Load())
	}

	res, _ = Run(context.Background(), Config{Callers: 1, Requests: 2}, HTTPGet(client.Do, "http://[::1", nil))
	if res.Errors == 0 {
		t.Errorf("a malformed URL: %+v, want errors", res)
	}
}

// TestRunCountsInFlight: requests still running when the measured span
// ends are neither successes nor errors but are reported as InFlight,
// those begun in the warm-up included, so that a run whose requests all
// hang (a server that accepts and never answers) is told from one that
// made no request. It runs in a synctest bubble, on the bubble's clock.
func TestRunCountsInFlight(t *testing.T) {
	for _, warmup := range []time.Duration{0, 20 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			res, err := Run(context.Background(), Config{Callers: 3, Duration: 50 * time.Millisecond, Warmup: warmup}, func() Caller {
				return func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 0 || res.Errors != 0 || res.InFlight != 3 {
				t.Errorf("warm-up %v: %d requests, %d errors, %d in flight; want 0, 0, 3", warmup, res.Requests, res.Errors, res.InFlight)
			}
		})
	}
}
