package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transportkit/transportkit/transport"
)

var (
	flagW1Sizes = flag.String("w1-sizes", "64,1024,16384", "W1: message sizes in bytes")
	flagW1Conns = flag.String("w1-conns", "1,100,1000", "W1: connection counts (up to 10000 each: the echo server is another process, and only one contender's connections are open at a time)")
)

// w1WarmUp bounds the round trip every connection makes before a sample.
const w1WarmUp = 30 * time.Second

// w1MaxConns bounds -w1-conns: one contender's connections plus the
// process's own fds must fit under the 20,000 fd limit.
const w1MaxConns = 10000

func init() {
	register(&Workload{
		ID:    "W1",
		Title: "lockstep ping-pong echo against a standard-library echo server in another process: msgs/s and p99",
		Run:   runW1,
	})
}

var (
	metricMsgs = Metric{Name: "msgs_per_s", Unit: "msg/s", HigherBetter: true}
	metricP99  = Metric{Name: "p99_us", Unit: "µs"}
	metricP50  = Metric{Name: "p50_us", Unit: "µs"}
	metricCPU  = Metric{Name: "cpu_us_per_msg", Unit: "µs"}
	// The server's CPU per message shows what the client's pattern of
	// writes costs the server; msgs per CPU second (client and server
	// together) is the rate the two cores would give if nothing else ran
	// on them, steadier than msgs/s on a shared machine.
	metricSrvMsg  = Metric{Name: "server_cpu_us_per_msg", Unit: "µs"}
	metricMsgsCPU = Metric{Name: "msgs_per_cpu_s", Unit: "msg/cpu-s", HigherBetter: true}
)

// cpuTime returns the user plus system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func runW1(env *Env, rep *Report) error {
	sizes, err := parseInts(*flagW1Sizes)
	if err != nil {
		return err
	}
	conns, err := parseInts(*flagW1Conns)
	if err != nil {
		return err
	}
	for _, n := range conns {
		if n > w1MaxConns {
			return fmt.Errorf("-w1-conns: %d connections, at most %d", n, w1MaxConns)
		}
	}
	if err := raiseFDLimit(max(slices.Max(conns), 1) + 256); err != nil {
		return err
	}
	rep.Notes = append(rep.Notes, "load average at start: "+loadAverage())
	srv, err := startServer("echo")
	if err != nil {
		return err
	}
	defer srv.Stop()
	for _, n := range conns {
		for _, size := range sizes {
			c := rep.Case(fmt.Sprintf("%dB/%dconn", size, n), metricMsgs, metricP99, metricP50, metricCPU, metricSrvMsg, metricMsgsCPU)
			err := env.Interleave(func(round int, ct Contender) error {
				msgs, p50, p99, cpu, srvCPU, err := echoSample(ct, srv, n, size, env.Duration)
				if err != nil {
					return err
				}
				c.Add(ct.Label, metricCPU.Name, cpu)
				if srvCPU >= 0 {
					c.Add(ct.Label, metricSrvMsg.Name, srvCPU)
					c.Add(ct.Label, metricMsgsCPU.Name, 1e6/(cpu+srvCPU))
				}
				c.Add(ct.Label, metricMsgs.Name, msgs)
				c.Add(ct.Label, metricP99.Name, float64(p99)/1e3)
				c.Add(ct.Label, metricP50.Name, float64(p50)/1e3)
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			rep.Notes = append(rep.Notes, ratioLine(c, env.Contenders[0].Label, metricMsgs, metricP99, metricMsgsCPU)+"; load average "+loadAverage())
		}
	}
	return nil
}

// ratioLine sums up one case on one line: for every contender other than
// base, the ratio of its median to base's for each metric (above 1
// better) and the median and spread of the per-round ratios.
func ratioLine(c *Case, base string, metrics ...Metric) string {
	var parts []string
	paired := c.pairedTo(base)
	for _, who := range slices.Sorted(maps.Keys(c.Samples)) {
		if who == base {
			continue
		}
		var ms []string
		for _, m := range metrics {
			b := summarize(c.Samples[base][m.Name]).Median
			x := summarize(c.Samples[who][m.Name]).Median
			r := math.NaN()
			switch {
			case m.HigherBetter && b > 0:
				r = x / b
			case !m.HigherBetter && x > 0:
				r = b / x
			}
			t := fmt.Sprintf("%s %.2f", m.Name, r)
			if p, ok := paired[who][m.Name]; ok && p.N > 1 {
				t += fmt.Sprintf(" (paired %.2f [%.2f..%.2f])", p.Median, p.Min, p.Max)
			}
			ms = append(ms, t)
		}
		parts = append(parts, fmt.Sprintf("%s/%s %s", who, base, strings.Join(ms, ", ")))
	}
	return c.Name + ": " + strings.Join(parts, "; ")
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// raiseFDLimit raises the soft RLIMIT_NOFILE to at least n, up to the hard
// limit, and fails if n does not fit.
func raiseFDLimit(n int) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= uint64(n) {
		return nil
	}
	if rl.Max < uint64(n) {
		return fmt.Errorf("%d fds needed, the hard limit is %d", n, rl.Max)
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// dialMany opens n streams to addr through b, 64 dials at a time.
func dialMany(b transport.Backend, addr string, n int) ([]transport.Stream, error) {
	streams := make([]transport.Stream, n)
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range streams {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := b.Dial(ctx, "tcp", addr)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			streams[i] = s
		}()
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(streams)
		return nil, firstErr
	}
	return streams, nil
}

func closeAll(streams []transport.Stream) {
	for _, s := range streams {
		if s != nil {
			s.Close()
		}
	}
}

// echoSample runs n connections to srv in lockstep for d and returns
// messages per second, the median and 99th percentile round trip, and the
// client's and the server's CPU time per message in µs (user plus system,
// whole process; the server's is -1 when unknown).
func echoSample(ct Contender, srv *serverProc, n, size int, d time.Duration) (msgsPerSec float64, p50, p99 time.Duration, cpuPerMsg, srvPerMsg float64, err error) {
	addr := srv.Addrs.TCP
	b, err := ct.Open(benchOptions())
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	defer b.Close()
	streams, err := dialMany(b, addr, n)
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	defer closeAll(streams)

	var stop atomic.Bool
	var total atomic.Int64
	lats := make([][]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	// Every connection first makes one round trip, so that the server
	// has accepted them all (with thousands of dials its accept queue can
	// overflow, and a connection the client thinks is open then waits for
	// a retransmission) before the clock starts.
	var warm sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		warm.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			buf := make([]byte, size)
			local := make([]time.Duration, 0, max(16, 1<<16/n))
			s.SetDeadline(time.Now().Add(w1WarmUp))
			_, err := s.Write(msg)
			if err == nil {
				_, err = io.ReadFull(s, buf)
			}
			s.SetDeadline(time.Time{})
			warm.Done()
			if err != nil {
				errs <- fmt.Errorf("warm-up round trip: %w", err)
				return
			}
			<-start
			for !stop.Load() {
				t0 := time.Now()
				if _, err := s.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(s, buf); err != nil {
					errs <- err
					return
				}
				local = append(local, time.Since(t0))
			}
			lats[i] = local
			total.Add(int64(len(local)))
		}()
	}
	warm.Wait()
	select {
	case err = <-errs:
		stop.Store(true)
		close(start)
		wg.Wait()
		return 0, 0, 0, 0, 0, err
	default:
	}
	t0 := time.Now()
	cpu0 := cpuTime()
	srv0 := srv.CPUTime()
	close(start)
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case err = <-errs:
	}
	stop.Store(true)
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	srvCPU := srv.CPUTime() - srv0
	if srv0 < 0 {
		srvCPU = -1
	}
	// Unblock anyone still waiting (a failed peer) and collect.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		closeAll(streams)
		<-done
		if err == nil {
			err = errors.New("echo clients did not stop")
		}
	}
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	all := make([]time.Duration, 0, total.Load())
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	cpuPerMsg = float64(cpu.Microseconds()) / float64(max(len(all), 1))
	srvPerMsg = -1
	if srvCPU >= 0 {
		srvPerMsg = float64(srvCPU.Microseconds()) / float64(max(len(all), 1))
	}
	return float64(len(all)) / elapsed.Seconds(), percentile(all, 50), percentile(all, 99), cpuPerMsg, srvPerMsg, nil
}
