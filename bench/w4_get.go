package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/transportkit/transportkit/internal/loadgen"
	"github.com/valyala/fasthttp"
)

var (
	flagW4Callers = flag.Int("w4-callers", 64, "W4: concurrent callers (and connections)")
	flagW4Warmup  = flag.Duration("w4-warmup", 300*time.Millisecond, "W4: unmeasured warm-up before each sample")
	flagW4Direct  = flag.Bool("w4-direct", false, "W4: call the RoundTripper directly instead of through an http.Client (net/http and transportkit)")
	flagWrk       = flag.String("wrk", "", "W4: wrk binary (default: wrk on PATH; the wrk contender is dropped when there is none)")
)

func init() {
	register(&Workload{
		ID:         "W4",
		Title:      "HTTP/1.1 keep-alive GET of a 5-byte body from nginx (1 worker, loopback), concurrent callers: req/s",
		Run:        runW4,
		Contenders: "nethttp,tk-epoll=epoll,tk-stdnet=stdnet,fasthttp,wrk,transportctl",
		Rounds:     5,
		Duration:   3 * time.Second,
	})
}

var (
	metricReqs   = Metric{Name: "req_per_s", Unit: "req/s", HigherBetter: true}
	metricCPUReq = Metric{Name: "cpu_us_per_req", Unit: "µs"}
	metricAllocs = Metric{Name: "allocs_per_req", Unit: "allocs", NoRatio: true}
	// metricSrvCPU is nginx's CPU per request while the contender runs:
	// the same server work per request in principle; a difference shows
	// how the client's pattern of writes and reads costs the server.
	metricSrvCPU = Metric{Name: "server_cpu_us_per_req", Unit: "µs"}
	// metricEff is requests per CPU second of client and server together:
	// what the two cores would serve if nothing else ran on them. It
	// does not depend on the share of the machine other processes take,
	// which req/s does.
	metricEff = Metric{Name: "req_per_cpu_s", Unit: "req/cpu-s", HigherBetter: true}
)

func runW4(env *Env, rep *Report) error {
	callers := *flagW4Callers
	if callers <= 0 {
		return errors.New("W4: -w4-callers must be positive")
	}
	wrk := ""
	var kept []Contender
	for _, ct := range env.Contenders {
		if ct.Backend == clientWrk {
			p, err := wrkBinary()
			if err != nil {
				rep.Notes = append(rep.Notes, "wrk dropped: "+err.Error())
				continue
			}
			wrk = p
		}
		if ct.Backend == clientTransportctl && transportctlBin == "" {
			if err := buildTransportctl(); err != nil {
				rep.Notes = append(rep.Notes, "transportctl dropped: "+err.Error())
				continue
			}
			defer removeTransportctl()
		}
		kept = append(kept, ct)
	}
	if len(kept) == 0 {
		return errors.New("W4: no contenders")
	}
	if kept[0].Label != rep.Baseline {
		return fmt.Errorf("W4: the baseline %s cannot run", rep.Baseline)
	}
	env.Contenders = kept
	for _, ct := range kept {
		if ct.Backend == clientFastHTTP || ct.Backend == clientWrk {
			rep.Refs = append(rep.Refs, ct.Label)
		}
	}
	srv, err := startNginx()
	if err != nil {
		return err
	}
	defer srv.Stop()
	via := "an http.Client"
	if *flagW4Direct {
		via = "the RoundTripper directly (-w4-direct)"
	}
	rep.Notes = append(rep.Notes,
		"server: nginx 1 worker, another process, `return 200 \"hello\"`; client and server share the machine's cores",
		fmt.Sprintf("%d callers, each a goroutine looping over GET and reading the body; net/http and transportkit (tk-X = protocols.Transport on backend X) through %s, MaxIdleConnsPerHost %d; fasthttp: HostClient, MaxConns %d, reused Request and Response", callers, via, callers, callers),
		fmt.Sprintf("wrk: another process, -t1 -c%d, whole seconds, its own Requests/sec; its CPU is wrk's own (rusage), the Go contenders' is the whole bench process's", callers),
		fmt.Sprintf("each sample: a fresh client, %v of warm-up not counted, then the measured duration", *flagW4Warmup))
	if *flagMemProfile != "" {
		defer func() {
			if err := writeHeapProfile(*flagMemProfile); err != nil {
				fmt.Fprintln(os.Stderr, "bench: memprofile:", err)
			}
		}()
	}
	url := "http://" + srv.HTTP + "/"
	c := rep.Case(fmt.Sprintf("GET 5B/%dcallers", callers), metricReqs, metricEff, metricCPUReq, metricSrvCPU, metricAllocs)
	err = env.Interleave(func(round int, ct Contender) error {
		var s loadStats
		var err error
		switch ct.Backend {
		case clientWrk:
			s, err = wrkSample(wrk, srv, url, callers, env.Duration)
		case clientFastHTTP:
			s, err = fastHTTPSample(srv, url, callers, env.Duration)
		case clientTransportctl:
			s, err = toolSample("transportctl", srv, env.Duration, parseTransportctl, transportctlArgs(url, callers))
		default:
			s, err = roundTripSample(ct, srv, url, callers, env.Duration)
		}
		if err != nil {
			return err
		}
		c.Add(ct.Label, metricReqs.Name, s.rate)
		c.Add(ct.Label, metricCPUReq.Name, s.cpuPerReq)
		c.Add(ct.Label, metricSrvCPU.Name, s.srvCPUPerReq)
		if cpu := s.cpuPerReq + s.srvCPUPerReq; cpu > 0 {
			c.Add(ct.Label, metricEff.Name, 1e6/cpu)
		}
		if ct.Backend != clientWrk && ct.Backend != clientTransportctl {
			c.Add(ct.Label, metricAllocs.Name, s.allocsPerReq)
		}
		return nil
	})
	rep.Notes = append(rep.Notes, transportctlNotes(c, kept)...)
	return err
}

// loadStats is one sample's figures.
type loadStats struct {
	rate         float64 // requests per second
	cpuPerReq    float64 // client CPU µs per request
	allocsPerReq float64 // Go heap allocations per request (whole process)
	srvCPUPerReq float64 // nginx's CPU µs per request
}

// loadRun runs callers goroutines that each call do in a loop, lets them
// warm up, then counts the calls completed during d (internal/loadgen,
// the load generator transportctl bench runs too). It returns calls per
// second, the process's CPU µs and heap allocations per call, and nginx's
// CPU µs per call over the measured span.
func loadRun(srv *nginxProc, callers int, d time.Duration, newCaller func() func() error) (loadStats, error) {
	var scpu0, scpu1 time.Duration
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Callers:     callers,
		Duration:    d,
		Warmup:      *flagW4Warmup,
		StopOnError: true,
		Span: func(begin bool) {
			if begin {
				scpu0 = srv.CPUTime()
			} else {
				scpu1 = srv.CPUTime()
			}
		},
	}, func() loadgen.Caller {
		do := newCaller()
		return func(context.Context) error { return do() }
	})
	if err != nil {
		return loadStats{}, err
	}
	if res.Requests <= 0 {
		return loadStats{}, errors.New("no request completed")
	}
	return loadStats{
		rate:         res.Rate,
		cpuPerReq:    float64(res.CPUPerRequest.Nanoseconds()) / 1e3,
		allocsPerReq: res.AllocsPerRequest,
		srvCPUPerReq: float64((scpu1 - scpu0).Microseconds()) / float64(res.Requests),
	}, nil
}

// roundTripSample measures net/http or transportkit on a backend.
func roundTripSample(ct Contender, srv *nginxProc, url string, callers int, d time.Duration) (loadStats, error) {
	pc, err := newPooledClient(ct, callers)
	if err != nil {
		return loadStats{}, err
	}
	defer pc.close()
	do := (&http.Client{Transport: pc.rt}).Do
	if *flagW4Direct {
		do = pc.rt.RoundTrip
	}
	// The same requests as transportctl bench's (loadgen.HTTPGet).
	get := loadgen.HTTPGet(do, url, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	return loadRun(srv, callers, d, func() func() error {
		call := get()
		return func() error { return call(context.Background()) }
	})
}

// fastHTTPSample measures fasthttp's HostClient, each caller reusing its
// Request and Response as fasthttp is meant to be used.
func fastHTTPSample(srv *nginxProc, url string, callers int, d time.Duration) (loadStats, error) {
	hc := &fasthttp.HostClient{Addr: srv.HTTP, MaxConns: callers}
	defer hc.CloseIdleConnections()
	return loadRun(srv, callers, d, func() func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(url)
		return func() error {
			if err := hc.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != fasthttp.StatusOK || len(resp.Body()) != 5 {
				return fmt.Errorf("fasthttp: status %d, %d-byte body", resp.StatusCode(), len(resp.Body()))
			}
			return nil
		}
	})
}

// wrkBinary finds wrk.
func wrkBinary() (string, error) {
	if *flagWrk != "" {
		return *flagWrk, nil
	}
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk is not installed (apt-get install -y wrk)")
	}
	return p, nil
}

// wrkSample runs wrk for d (rounded up to whole seconds, as wrk takes
// them) and returns its Requests/sec and its own CPU µs per request.
func wrkSample(bin string, srv *nginxProc, url string, callers int, d time.Duration) (loadStats, error) {
	return toolSample("wrk", srv, d, parseWrk, func(secs int) []string {
		return []string{bin, "-t1", fmt.Sprintf("-c%d", callers), fmt.Sprintf("-d%ds", secs), url}
	})
}

// toolSample runs a load generator in another process for d, rounded up
// to whole seconds (the command line argv(secs) asks for them), and
// returns the rate and request count parse reads from its output, with
// its own CPU and the server's per request.
func toolSample(name string, srv *nginxProc, d time.Duration, parse func(string) (float64, int64, error), argv func(secs int) []string) (loadStats, error) {
	secs := max(1, int(math.Ceil(d.Seconds())))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+20*time.Second)
	defer cancel()
	args := argv(secs)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	scpu0 := srv.CPUTime()
	err := cmd.Run()
	scpu := srv.CPUTime() - scpu0
	if err != nil {
		return loadStats{}, fmt.Errorf("%s: %w\n%s", name, err, out.String())
	}
	rate, requests, err := parse(out.String())
	if err != nil {
		return loadStats{}, err
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return loadStats{
		rate:         rate,
		cpuPerReq:    float64(cpu.Microseconds()) / float64(requests),
		srvCPUPerReq: float64(scpu.Microseconds()) / float64(requests),
	}, nil
}

// parseWrk reads wrk's Requests/sec and request count, and fails on
// socket errors or statuses other than 2xx and 3xx.
func parseWrk(s string) (rate float64, requests int64, err error) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Requests/sec:"):
			rate, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return 0, 0, fmt.Errorf("wrk: %q: %w", line, err)
			}
		case strings.Contains(line, "requests in "):
			f := strings.Fields(line)
			requests, err = strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("wrk: %q: %w", line, err)
			}
		case strings.HasPrefix(line, "Socket errors:"), strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			return 0, 0, fmt.Errorf("wrk: %s", line)
		}
	}
	if rate <= 0 || requests <= 0 {
		return 0, 0, fmt.Errorf("wrk: no Requests/sec in its output:\n%s", s)
	}
	return rate, requests, nil
}
