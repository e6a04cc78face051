// Package loadgen runs a bounded, closed-loop load: a number of callers
// that each repeat one request as soon as the previous one ended, for a
// duration or a number of requests, and measures what the caller side
// sees: requests per second, latency percentiles, errors, and the
// process's CPU time and heap allocations per request.
//
// It is the one load generator of the project: `transportctl bench` and
// the bench module's HTTP workloads both run on it, so that their figures
// are measured the same way.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds a run. Duration or Requests (or both) must be set.
type Config struct {
	// Callers is the number of concurrent callers. It must be positive.
	Callers int
	// Duration is how long the measured span lasts. If zero, the run
	// ends after Requests.
	Duration time.Duration
	// Requests ends the run once this many requests were measured. If
	// zero, the run ends after Duration.
	Requests int64
	// Warmup runs the callers this long before measuring. If zero, the
	// measure starts at once.
	Warmup time.Duration
	// StopOnError ends the run at the first failed request, and Run
	// returns its error. If false, failures are counted and the callers
	// go on.
	StopOnError bool
	// Progress, if not nil, is called about every 100 ms during the
	// measured span with the requests completed so far (ok and failed).
	Progress func(done int64)
	// StopTimeout bounds the wait for the callers to return after the
	// run ended. If zero, 10 seconds.
	StopTimeout time.Duration
	// Span, if not nil, is called with true just before the measured
	// span begins and with false just after it ends, so that a caller can
	// measure something else over the same span (a server's CPU time).
	Span func(begin bool)
}

// Caller makes one request. ctx ends when the run ends; a request still
// in flight then should return soon.
type Caller func(ctx context.Context) error

// Result is what a run measured, over the measured span only.
type Result struct {
	Requests int64         // requests that succeeded
	Errors   int64         // requests that failed
	Elapsed  time.Duration // length of the measured span
	// InFlight is the requests still running when the measured span
	// ended (begun in it or in the warm-up): cut short by the end of the
	// run, neither successes nor errors. A run whose requests all hang
	// has Requests and Errors 0 and InFlight Callers.
	InFlight int64
	// Rate is successful requests per second.
	Rate float64
	// P50 and P99 are latency percentiles of successful requests.
	P50, P99 time.Duration
	// CPUPerRequest is the process's CPU time (user and system) per
	// request, failed ones included; zero where the platform does not
	// report it.
	CPUPerRequest time.Duration
	// AllocsPerRequest is the Go heap allocations per request, of the
	// whole process.
	AllocsPerRequest float64
	// FirstError is the first failure, if any.
	FirstError error
}

// ErrNoBound is returned by Run when neither Duration nor Requests is
// set, and ErrBadCallers when Callers is not positive.
var (
	ErrNoBound    = errors.New("loadgen: neither a duration nor a request count")
	ErrBadCallers = errors.New("loadgen: callers must be positive")
)

// Run starts cfg.Callers callers, each from newCaller, and measures them
// until cfg's bound or ctx ends. It returns an error when cfg is invalid,
// when StopOnError is set and a request failed, or when the callers do
// not stop within StopTimeout; an ended ctx ends the run early and its
// figures are those measured until then.
func Run(ctx context.Context, cfg Config, newCaller func() Caller) (Result, error) {
	if cfg.Callers <= 0 {
		return Result{}, ErrBadCallers
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		return Result{}, ErrNoBound
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	var (
		phase     atomic.Int32 // warmup, then measuring, then ended
		ok, bad   atomic.Int64
		cut       atomic.Int64 // running when the measured span ended
		wg        sync.WaitGroup
		mu        sync.Mutex
		firstErr  error
		hists     = make([]*Histogram, cfg.Callers)
		reached   = make(chan struct{})
		reachOnce sync.Once
	)
	for i := range cfg.Callers {
		do := newCaller()
		h := new(Histogram)
		hists[i] = h
		wg.Go(func() {
			for runCtx.Err() == nil {
				start := time.Now()
				begun := phase.Load()
				err := do(runCtx)
				if now := phase.Load(); now != phaseMeasuring {
					if now == phaseEnded && begun != phaseEnded {
						cut.Add(1) // the measured span ended under it
					}
					continue
				}
				if err != nil {
					if runCtx.Err() != nil {
						cut.Add(1) // the run ended under it
						return
					}
					bad.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					if cfg.StopOnError {
						stop()
						return
					}
				} else {
					h.Record(time.Since(start))
					ok.Add(1)
				}
				if cfg.Requests > 0 && ok.Load()+bad.Load() >= cfg.Requests {
					reachOnce.Do(func() { close(reached) })
				}
			}
		})
	}

	if cfg.Warmup > 0 {
		sleep(runCtx, cfg.Warmup)
	}
	if cfg.Span != nil {
		cfg.Span(true)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, cpuOK := cpuTime()
	t0 := time.Now()
	phase.Store(phaseMeasuring)

	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		tm := time.NewTimer(cfg.Duration)
		defer tm.Stop()
		deadline = tm.C
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-deadline:
			break wait
		case <-reached:
			break wait
		case <-runCtx.Done():
			break wait
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(ok.Load() + bad.Load())
			}
		}
	}
	phase.Store(phaseEnded)
	elapsed := time.Since(t0)
	cpu1, _ := cpuTime()
	runtime.ReadMemStats(&ms1)
	if cfg.Span != nil {
		cfg.Span(false)
	}
	n, nbad := ok.Load(), bad.Load()
	stop()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.StopTimeout):
		return Result{}, fmt.Errorf("loadgen: callers still running %v after the run ended", cfg.StopTimeout)
	}
	if cfg.Progress != nil {
		cfg.Progress(n + nbad)
	}

	var all Histogram
	for _, h := range hists {
		all.Merge(h)
	}
	res := Result{
		Requests:   n,
		Errors:     nbad,
		InFlight:   cut.Load(),
		Elapsed:    elapsed,
		P50:        all.Quantile(0.50),
		P99:        all.Quantile(0.99),
		FirstError: firstErr,
	}
	if elapsed > 0 {
		res.Rate = float64(n) / elapsed.Seconds()
	}
	if total := n + nbad; total > 0 {
		if cpuOK {
			res.CPUPerRequest = (cpu1 - cpu0) / time.Duration(total)
		}
		res.AllocsPerRequest = float64(ms1.Mallocs-ms0.Mallocs) / float64(total)
	}
	if cfg.StopOnError && firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

// The phases of a run.
const (
	phaseWarmup int32 = iota
	phaseMeasuring
	phaseEnded
)

// sleep waits for d or ctx.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
