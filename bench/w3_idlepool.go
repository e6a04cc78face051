package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

var (
	flagW3N    = flag.Int("w3-n", 10000, "W3: keep-alive connections opened through each contender's pool")
	flagW3Idle = flag.Duration("w3-idle", 2*time.Second, "W3: how long the connections idle before the measure")
	flagW3TLS  = flag.Bool("w3-tls", false, "W3: measure over TLS 1.3 (https) too, not only cleartext")
)

// w3Ramp is the number of requests in flight before their response head
// arrived (dialing, mostly), so that the ramp of 10,000 connections
// does not overflow nginx's accept queue.
const w3Ramp = 256

// w3Watchdog bounds opening and releasing one contender's connections.
const w3Watchdog = 3 * time.Minute

func init() {
	register(&Workload{
		ID:         "W3",
		Title:      "idle cost of pooled keep-alive connections to nginx: Go memory (HeapInuse+StackInuse after GC) and goroutines per connection",
		Run:        runW3,
		Contenders: "nethttp,tk-epoll=epoll,tk-stdnet=stdnet",
		Rounds:     5,
	})
}

var (
	metricConnBytes = Metric{Name: "bytes_per_conn", Unit: "B"}
	metricConnGor   = Metric{Name: "goroutines_per_conn", Unit: "g"}
	// metricServerConns is nginx's count of open connections at the
	// measure: the pool's, checked.
	metricServerConns = Metric{Name: "server_conns", Unit: "conns", HigherBetter: true, NoRatio: true}
)

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and
// returns the soft limit in force.
func raiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}

func runW3(env *Env, rep *Report) error {
	for _, ct := range env.Contenders {
		if ct.Backend == clientFastHTTP || ct.Backend == clientWrk {
			return fmt.Errorf("W3: contender %s (%s) has no http.RoundTripper pool to measure", ct.Label, ct.Backend)
		}
	}
	n := *flagW3N
	limit, err := raiseNoFile()
	if err != nil {
		return err
	}
	// One contender's connections are open at a time; keep 200 fds for
	// the runtime, nginx's status requests and the like.
	if fit := int(limit) - 200; n > fit {
		rep.Notes = append(rep.Notes, fmt.Sprintf("RLIMIT_NOFILE is %d: %d connections instead of %d", limit, fit, n))
		n = fit
	}
	srv, err := startNginx()
	if err != nil {
		return err
	}
	defer srv.Stop()
	rep.Notes = append(rep.Notes,
		"lower is better; the ratio is baseline/contender, and a contender with 0 goroutines per connection has no ratio for that metric",
		fmt.Sprintf("server: nginx, 1 worker, another process; each connection carried one GET of a 5-byte body, then idled %v; nginx's own count of open connections at the measure is server_conns (it must be within 1%% of the connections opened)", *flagW3Idle),
		"tk-X is transportkit's protocols.Transport on backend X; every contender closes with SO_LINGER 0")
	schemes := []string{"http"}
	if *flagW3TLS {
		schemes = append(schemes, "https")
	}
	for _, scheme := range schemes {
		url := "http://" + srv.HTTP + "/"
		name := fmt.Sprintf("%d conns/cleartext", n)
		if scheme == "https" {
			url = "https://" + srv.HTTPS + "/"
			name = fmt.Sprintf("%d conns/tls", n)
		}
		c := rep.Case(name, metricConnBytes, metricConnGor, metricServerConns)
		err := env.Interleave(func(round int, ct Contender) error {
			profile := ""
			if *flagMemProfile != "" && round == env.Rounds-1 {
				profile = *flagMemProfile + "." + ct.Label
				if scheme == "https" {
					profile += ".tls"
				}
			}
			bytesPer, gorPer, open, err := idlePoolSample(ct, srv, url, n, *flagW3Idle, profile)
			if err != nil {
				return err
			}
			c.Add(ct.Label, metricConnBytes.Name, bytesPer)
			c.Add(ct.Label, metricConnGor.Name, gorPer)
			c.Add(ct.Label, metricServerConns.Name, float64(open))
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// warmGoroutines starts and ends n goroutines, so that the runtime's
// goroutine descriptors (which are never freed) the harness needs exist
// before the baseline is taken and are not counted as the pool's.
func warmGoroutines(n int) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range n {
		wg.Go(func() { <-gate })
	}
	close(gate)
	wg.Wait()
}

// idlePoolSample opens n connections through ct's pool and returns the Go
// memory and goroutines per connection once they idle in the pool.
//
// To make the pool open n connections, n requests must be in flight at
// once: n goroutines each send a GET and hold its response unread, which
// keeps the connection busy, until all n responses arrived (at most
// w3Ramp requests wait for their response head at a time); then every
// body is read and closed, which hands the n connections back to the
// pool, idle. If profile is set, a heap profile is written there at the
// measure.
func idlePoolSample(ct Contender, srv *nginxProc, url string, n int, idle time.Duration, profile string) (bytesPer, gorPer float64, open int, err error) {
	if err := srv.WaitActive(1, 30*time.Second); err != nil {
		return 0, 0, 0, err
	}
	pc, err := newPooledClient(ct, n)
	if err != nil {
		return 0, 0, 0, err
	}
	defer pc.close()
	warmGoroutines(n + w3Ramp)
	time.Sleep(50 * time.Millisecond)
	mem0 := memInUse()
	g0 := runtime.NumGoroutine()

	var (
		ready, done sync.WaitGroup
		mu          sync.Mutex
		firstErr    error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	// The requests carry no deadline: a context per request changes how
	// the pool's objects share heap spans (HeapInuse counts spans) and a
	// shared one keeps a map of every request that registered with it
	// (context.AfterFunc); both would be charged to the pool. A watchdog
	// ends the run instead if the server gets stuck.
	watchdog := time.AfterFunc(w3Watchdog, func() {
		fmt.Fprintf(os.Stderr, "bench: W3: %d requests not done after %v; stopping\n", n, w3Watchdog)
		srv.Stop()
		os.Exit(1)
	})
	ramp := make(chan struct{}, w3Ramp)
	release := make(chan struct{})
	ready.Add(n)
	for range n {
		ramp <- struct{}{}
		done.Go(func() {
			req, err := http.NewRequest("GET", url, nil)
			var resp *http.Response
			if err == nil {
				resp, err = pc.rt.RoundTrip(req)
			}
			<-ramp
			ready.Done()
			if err != nil {
				fail(err)
				return
			}
			<-release
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err != nil {
				fail(err)
			}
		})
	}
	ready.Wait()
	close(release)
	done.Wait()
	watchdog.Stop()
	defer func() {
		pc.closeIdle()
		if werr := srv.WaitActive(1, 30*time.Second); werr != nil && err == nil {
			err = werr
		}
	}()
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	if d := pc.dials(); d != int64(n) {
		return 0, 0, 0, fmt.Errorf("%d connections dialed, want %d", d, n)
	}
	time.Sleep(idle)
	mem1 := memInUse()
	g1 := runtime.NumGoroutine()
	if profile != "" {
		if err := writeHeapProfile(profile); err != nil {
			return 0, 0, 0, err
		}
	}
	// nginx counts the status request's connection too. A connection
	// or two may be gone by now (seen once in a dozen runs: 9,999 of
	// 10,000 with net/http); the figures are per connection opened, and
	// the count at the measure is reported.
	a, err := srv.Active()
	if err != nil {
		return 0, 0, 0, err
	}
	open = a - 1
	if open > n || open < n-n/100 {
		return 0, 0, 0, fmt.Errorf("nginx has %d connections open, want %d", open, n)
	}
	return float64(int64(mem1)-int64(mem0)) / float64(n), float64(g1-g0) / float64(n), open, nil
}

// writeHeapProfile writes the heap profile (as of the last GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
