package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/transportkit/transportkit/internal/loadgen"
	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

const benchLong = `bench runs a bounded load against URL with each backend, in interleaved
rounds (A B, then B A, ...) so that no backend always runs first on a
machine whose load drifts, and prints per backend: requests per second,
latency p50 and p99, errors, the client's CPU time per request, and the
ratio of its requests per second to the first backend's.

Each backend runs protocols.Transport under a net/http.Client (the same
path a program using transportkit takes), -c callers each repeating a GET
and reading the whole body. -d is each backend's measured time, split
over the rounds (a short unmeasured warm-up precedes each backend's first
round); -n instead bounds each backend's requests, split over the rounds
(with fewer requests than rounds, as many rounds of one request run). The
load generator is the one the bench module's workloads use
(internal/loadgen).

--proto chooses the protocol as for probe: auto (ALPN offers h2 and
http/1.1), h1, h2, or h2c (HTTP/2 with prior knowledge over clear text).
HTTP/2 shares one connection per origin up to the server's stream limit.

Without URL, bench starts the same loopback server probe uses. A response
with status 400 or above counts as an error. A progress bar is drawn on
stderr when it is a terminal.

Which backends: --backend a,b (or TRANSPORTKIT_BACKEND, or the config
file's "backend") chooses; otherwise every available backend runs, and
the in-memory mock only against the embedded server.

A request still running when a round's time ends is neither a success
nor an error: --json counts them as "in_flight". A backend whose rounds
completed no request at all (a server that accepts and never answers)
failed.

Exit codes: 0 when every backend ran without error, 1 when one failed,
had errors or completed no request, 2 for bad usage, an unknown backend,
a plugin that refuses its config section or a plugin binary that is not
a plugin.`

// benchFlags are the bench command's flags.
type benchFlags struct {
	callers  int
	duration time.Duration
	requests int64
	rounds   int
	warmup   time.Duration
	proto    string
	asJSON   bool
	insecure bool
	cacert   string
}

// benchRow is one backend's result; the json tags are the --json format.
type benchRow struct {
	Backend     string  `json:"backend"`
	Protocol    string  `json:"protocol,omitempty"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	InFlight    int64   `json:"in_flight"` // requests still running when a round's time ended
	ReqPerSec   float64 `json:"req_per_s"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	CPUPerReqUS float64 `json:"cpu_us_per_req"`
	Ratio       float64 `json:"ratio"` // ReqPerSec over the first backend's
	Skipped     bool    `json:"skipped,omitempty"`
	Error       string  `json:"error,omitempty"`
	Note        string  `json:"note,omitempty"`

	rounds []loadgen.Result
	// usage is the row's error when it is the user's to fix (exit 2):
	// a plugin path that is not a plugin, or a plugin refusing its config.
	usage error
}

// benchReport is the --json document.
type benchReport struct {
	URL      string     `json:"url"`
	Embedded bool       `json:"embedded"`
	Proto    string     `json:"proto"`
	Callers  int        `json:"callers"`
	Duration string     `json:"duration,omitempty"`
	Requests int64      `json:"requests,omitempty"`
	Rounds   int        `json:"rounds"`
	Go       string     `json:"go"`
	Baseline string     `json:"baseline"`
	Rows     []benchRow `json:"backends"`
}

func newBenchCmd(a *app) *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   "bench [URL]",
		Short: "Run a bounded load against URL with each backend and compare",
		Long:  benchLong,
		Example: `  transportctl bench                          # embedded server, every backend
  transportctl bench -c 64 -d 10s http://127.0.0.1:8080/
  transportctl bench --backend epoll,stdnet --proto h2 -n 100000 https://localhost:8443/
  transportctl bench --json | jq '.backends[] | {backend, ratio}'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bench(cmd.Context(), bf, args)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&bf.callers, "concurrency", "c", 16, "concurrent callers")
	f.DurationVarP(&bf.duration, "duration", "d", 3*time.Second, "measured time per backend, split over the rounds (ignored with -n)")
	f.Int64VarP(&bf.requests, "requests", "n", 0, "requests per backend, split over the rounds, instead of -d")
	f.IntVar(&bf.rounds, "rounds", 3, "interleaved rounds")
	f.DurationVar(&bf.warmup, "warmup", 200*time.Millisecond, "unmeasured warm-up before each backend's first round")
	f.StringVar(&bf.proto, "proto", "auto", "HTTP version: auto, h1, h2 or h2c")
	f.BoolVar(&bf.asJSON, "json", false, "print JSON instead of a table")
	f.BoolVar(&bf.insecure, "insecure", false, "do not verify the server's certificate (a warning is printed)")
	f.StringVar(&bf.cacert, "cacert", "", "PEM file of CA certificates to trust instead of the system's")
	return cmd
}

func (bf *benchFlags) check() error {
	switch {
	case bf.callers < 1:
		return fmt.Errorf("-c %d: want 1 or more callers", bf.callers)
	case bf.requests < 0:
		return fmt.Errorf("-n %d: want a positive request count", bf.requests)
	case bf.requests == 0 && bf.duration <= 0:
		return fmt.Errorf("-d %v: want a positive duration (or -n)", bf.duration)
	case bf.rounds < 1:
		return fmt.Errorf("--rounds %d: want 1 or more", bf.rounds)
	case bf.warmup < 0:
		return fmt.Errorf("--warmup %v: want zero or more", bf.warmup)
	case !slices.Contains([]string{"auto", "h1", "h2", "h2c"}, bf.proto):
		return fmt.Errorf("--proto %q: want auto, h1, h2 or h2c", bf.proto)
	}
	return nil
}

func (a *app) bench(ctx context.Context, bf benchFlags, args []string) error {
	if err := bf.check(); err != nil {
		return err
	}
	if bf.requests > 0 && bf.requests < int64(bf.rounds) {
		bf.rounds = int(bf.requests) // a round of one request each
	}
	tg, roots, stop, err := a.openTarget(args, bf.proto, bf.cacert, bf.insecure)
	if err != nil {
		return err
	}
	defer stop()

	picks, err := a.chooseBackends()
	if err != nil {
		return err
	}
	rows := make([]*benchRow, len(picks))
	var live []int // indexes of rows whose backend is open
	backends := make([]transport.Backend, len(picks))
	defer func() {
		for _, b := range backends {
			if b != nil {
				b.Close()
			}
		}
	}()
	for i, p := range picks {
		rows[i] = &benchRow{Backend: p.info.Name}
		if p.skip != "" {
			rows[i].Skipped, rows[i].Note = true, p.skip
			continue
		}
		b, err := p.open()
		if err != nil {
			rows[i].Error, rows[i].usage = err.Error(), usageError(err)
			continue
		}
		backends[i] = b
		if err := prepareInMemory(b, p.info, tg); err != nil {
			rows[i].Skipped, rows[i].Note = true, err.Error()
			continue
		}
		live = append(live, i)
	}

	bar := a.progress(bf.rounds * len(live))
	clients := make([]*benchClient, len(picks))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.close()
			}
		}
	}()
	for round := range bf.rounds {
		if ctx.Err() != nil {
			break
		}
		order := slices.Clone(live)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			if ctx.Err() != nil {
				break
			}
			row := rows[i]
			if row.Error != "" {
				bar.Add(1)
				continue
			}
			if clients[i] == nil {
				clients[i] = newBenchClient(backends[i], tg, bf, roots)
			}
			res, err := clients[i].run(ctx, bf, round)
			bar.Add(1)
			if err != nil {
				row.Error = err.Error()
				continue
			}
			row.rounds = append(row.rounds, res)
			if row.Protocol == "" {
				row.Protocol = clients[i].protocol()
			}
		}
	}
	bar.Finish()
	fmt.Fprint(a.stderr, barEnd(bar))
	if ctx.Err() != nil {
		// Interrupted: the rounds cut short measure nothing worth a table.
		return context.Cause(ctx)
	}

	report := summarizeBench(tg, bf, rows)
	if bf.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = printBenchTable(a.stdout, report)
	}
	if err != nil {
		return &failure{err}
	}
	return benchVerdict(report.Rows)
}

// loadCACert reads a PEM bundle for --cacert; "" means the system roots.
func loadCACert(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--cacert %s: no PEM certificate in the file", path)
	}
	return pool, nil
}

// benchClient is one backend's HTTP client for the whole run.
type benchClient struct {
	tr     *protocols.Transport
	client *http.Client
	url    string
	proto  chan string // the protocol of the first response
}

func newBenchClient(b transport.Backend, tg target, bf benchFlags, roots *x509.CertPool) *benchClient {
	tr := &protocols.Transport{
		Backend:             b,
		TLSClientConfig:     &tls.Config{RootCAs: roots, InsecureSkipVerify: bf.insecure},
		H2C:                 bf.proto == "h2c",
		MaxIdleConnsPerHost: bf.callers,
	}
	switch bf.proto {
	case "h1":
		tr.NextProtos = []string{protocols.ProtoHTTP11}
	case "h2":
		tr.NextProtos = []string{protocols.ProtoH2}
	}
	return &benchClient{tr: tr, client: &http.Client{Transport: tr}, url: tg.url.String(), proto: make(chan string, 1)}
}

// run runs round number round (from 0).
func (c *benchClient) run(ctx context.Context, bf benchFlags, round int) (loadgen.Result, error) {
	cfg := loadgen.Config{Callers: bf.callers}
	if bf.requests > 0 {
		cfg.Requests = roundShare(bf.requests, bf.rounds, round)
	} else {
		cfg.Duration = max(bf.duration/time.Duration(bf.rounds), time.Millisecond)
	}
	if round == 0 {
		cfg.Warmup = bf.warmup
	}
	return loadgen.Run(ctx, cfg, loadgen.HTTPGet(c.client.Do, c.url, func(resp *http.Response) error {
		select {
		case c.proto <- protocolOf(resp):
		default:
		}
		if resp.StatusCode >= 400 {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}))
}

// roundShare is round's share of n requests split over rounds: the
// first n%rounds rounds run one more, so that the shares add up to n.
func roundShare(n int64, rounds, round int) int64 {
	share := n / int64(rounds)
	if int64(round) < n%int64(rounds) {
		share++
	}
	return share
}

// protocol returns the protocol the responses came on, once one has.
func (c *benchClient) protocol() string {
	select {
	case p := <-c.proto:
		c.proto <- p
		return p
	default:
		return ""
	}
}

func (c *benchClient) close() {
	c.tr.CloseIdleConnections()
}

// summarizeBench turns the rounds into rows: medians over the rounds, and
// each backend's ratio to the first one that ran.
func summarizeBench(tg target, bf benchFlags, rows []*benchRow) benchReport {
	rep := benchReport{
		URL: tg.url.Redacted(), Embedded: tg.server != nil, Proto: bf.proto,
		Callers: bf.callers, Rounds: bf.rounds, Go: runtime.Version(),
	}
	if bf.requests > 0 {
		rep.Requests = bf.requests
	} else {
		rep.Duration = bf.duration.String()
	}
	var base float64
	for _, r := range rows {
		if len(r.rounds) > 0 {
			r.ReqPerSec = median(r.rounds, func(x loadgen.Result) float64 { return x.Rate })
			r.P50MS = median(r.rounds, func(x loadgen.Result) float64 { return ms64(x.P50) })
			r.P99MS = median(r.rounds, func(x loadgen.Result) float64 { return ms64(x.P99) })
			r.CPUPerReqUS = median(r.rounds, func(x loadgen.Result) float64 { return float64(x.CPUPerRequest) / 1e3 })
			for _, x := range r.rounds {
				r.Requests += x.Requests
				r.Errors += x.Errors
				r.InFlight += x.InFlight
				if x.FirstError != nil && r.Error == "" {
					r.Error = x.FirstError.Error()
				}
				if r.usage == nil {
					r.usage = usageError(x.FirstError)
				}
			}
			if r.Requests == 0 && r.Errors == 0 && r.Error == "" {
				r.Error = fmt.Sprintf("no request completed (%d still in flight when the time ended)", r.InFlight)
			}
			if base == 0 && r.ReqPerSec > 0 {
				base = r.ReqPerSec
				rep.Baseline = r.Backend
			}
			if base > 0 {
				r.Ratio = r.ReqPerSec / base
			}
		}
		rep.Rows = append(rep.Rows, *r)
	}
	return rep
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of f over xs (not empty).
func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + m) / 2
	}
	return m
}

func printBenchTable(w io.Writer, rep benchReport) error {
	what := rep.URL
	if rep.Embedded {
		what += " (embedded server)"
	}
	bound := rep.Duration + " per backend"
	if rep.Requests > 0 {
		bound = fmt.Sprintf("%d requests per backend", rep.Requests)
	}
	fmt.Fprintf(w, "bench %s, proto %s, %d callers, %s, %d interleaved rounds, %s\n\n", what, rep.Proto, rep.Callers, bound, rep.Rounds, rep.Go)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tPROTOCOL\tREQ/S\tP50\tP99\tERRORS\tCPU/REQ\tRATIO\tNOTE")
	for _, r := range rep.Rows {
		if r.Skipped || len(r.rounds) == 0 {
			note := r.Note
			if r.Error != "" {
				note = "FAIL: " + r.Error
			}
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.Backend, note)
			continue
		}
		note := ""
		switch {
		case r.Requests == 0 && r.Errors == 0:
			note = "FAIL: " + r.Error
		case r.Error != "":
			note = "first error: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.3fms\t%.3fms\t%d\t%.1fµs\t%.3f\t%s\n", r.Backend, orDash(r.Protocol),
			r.ReqPerSec, r.P50MS, r.P99MS, r.Errors, r.CPUPerReqUS, r.Ratio, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Baseline != "" {
		fmt.Fprintf(w, "\nRATIO is req/s over %s's, medians of the rounds.\n", rep.Baseline)
	}
	return nil
}

// benchVerdict fails the command when a backend failed or had errors, or
// when none ran.
func benchVerdict(rows []benchRow) error {
	if err := firstUsageError(rows, func(r benchRow) (string, error) { return r.Backend, r.usage }); err != nil {
		return err
	}
	ran, bad, first := 0, []string{}, ""
	for _, r := range rows {
		if r.Skipped {
			continue
		}
		ran++
		if r.Error != "" || r.Errors > 0 || len(r.rounds) == 0 || r.Requests == 0 {
			bad = append(bad, r.Backend)
			if first == "" && r.Error != "" {
				first = "; " + r.Backend + ": " + r.Error
			}
		}
	}
	switch {
	case len(bad) > 0:
		return &failure{fmt.Errorf("bench: errors with %s%s", strings.Join(bad, ", "), first)}
	case ran == 0:
		return &failure{errors.New("bench: no backend could run")}
	}
	return nil
}

// progress returns a bar of n steps on stderr when it is a terminal, and
// one that draws nothing otherwise.
func (a *app) progress(n int) *progressbar.ProgressBar {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return progressbar.DefaultSilent(int64(n))
	}
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("bench"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
	)
}

// barEnd is what ends the bar's line: nothing for a silent bar.
func barEnd(*progressbar.ProgressBar) string { return "" }

// pick is a backend bench or probe may run: its listing, and how to open
// it, or why it is skipped.
type pick struct {
	info registry.Info
	skip string
	open func() (transport.Backend, error)
}
