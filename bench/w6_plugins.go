package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/plugins/pluginstest"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// W6 compares the two data paths of an out-of-process backend (package
// plugins) with the in-process backends. The plugin is this binary: W6
// copies it to a temporary folder as transportkit-backend-w6, and a copy
// started by a plugin host (go-plugin's magic cookie in its environment)
// serves w6ServeConfig instead of running benchmarks. Its backend dials
// with an in-process backend (stdnet unless configured) and either lets
// the host have the socket (handoff) or hides the socket's descriptor so
// that the stream takes the byte path, against the same servers.

var (
	flagW6Warmup = flag.Int("w6-warmup", 16<<20, "W6: bytes read untimed on a fresh stream before a bulk sample")
	flagW6Buf    = flag.Int("w6-buf", 256<<10, "W6: read buffer and server write size in bytes for bulk")
)

// envW6Source makes this binary the W6 bulk source server (see
// runW6Source).
const envW6Source = "TRANSPORTKIT_BENCH_W6_SOURCE"

// W6's pseudo-backends in -contenders: the w6 plugin, with its sockets
// handed to the host or its streams on the byte path. Their JSON is the
// plugin's configuration (w6PluginConfig), e.g.
// bytes-epoll=plugin-bytes:{"inner":"epoll"}.
const (
	w6Handoff = "plugin-handoff"
	w6Bytes   = "plugin-bytes"
)

func init() {
	if os.Getenv(plugins.Handshake.MagicCookieKey) == plugins.Handshake.MagicCookieValue {
		// Started by a plugin host (W6's contenders): be the plugin.
		if err := plugins.Serve(w6ServeConfig()); err != nil {
			fmt.Fprintln(os.Stderr, "bench: w6 plugin:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(envW6Source) != "" {
		os.Exit(runW6Source())
	}
	register(&Workload{
		ID:         "W6",
		Title:      "plugin data paths (socket handoff, byte path) against in-process backends: bulk GiB/s and 1-byte round trip, servers in another process",
		Run:        runW6,
		Contenders: "epoll,stdnet,handoff=" + w6Handoff + ",bytes=" + w6Bytes,
		Rounds:     7,
		Duration:   time.Second,
	})
}

var (
	metricGiBs  = Metric{Name: "gib_per_s", Unit: "GiB/s", HigherBetter: true}
	metricRTT50 = Metric{Name: "rtt_p50_us", Unit: "µs"}
	metricRTT99 = Metric{Name: "rtt_p99_us", Unit: "µs"}
)

// w6PluginConfig is the w6 plugin's Options.Config.
type w6PluginConfig struct {
	// Inner is the backend the plugin dials with. If empty, stdnet.
	Inner string `json:"inner,omitempty"`
	// Bytes hides the descriptors of the plugin's streams, so they take
	// the byte path. If false, the sockets are handed to the host.
	Bytes bool `json:"bytes,omitempty"`
}

func w6ServeConfig() plugins.ServeConfig {
	return plugins.ServeConfig{
		Name:         "w6",
		Description:  "an in-process backend in a plugin, for bench W6",
		Capabilities: []registry.Capability{"tcp"},
		Open: func(opts transport.Options) (transport.Backend, error) {
			var cfg w6PluginConfig
			if len(opts.Config) > 0 {
				dec := json.NewDecoder(bytes.NewReader(opts.Config))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&cfg); err != nil {
					return nil, fmt.Errorf("w6 plugin config: %w", err)
				}
			}
			if cfg.Inner == "" {
				cfg.Inner = "stdnet"
			}
			inner := opts
			inner.Config = nil
			b, err := registry.Open(cfg.Inner, inner)
			if err != nil {
				return nil, err
			}
			if !cfg.Bytes {
				return b, nil
			}
			return hideFDBackend{b}, nil
		},
	}
}

// hideFDBackend's streams do not answer transport.InfoFD, so the plugin
// copies their bytes to the host instead of handing the socket over.
type hideFDBackend struct{ transport.Backend }

func (b hideFDBackend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	s, err := b.Backend.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return hideFD{s}, nil
}

type hideFD struct{ transport.Stream }

var _ transport.Stream = hideFD{}

func (s hideFD) Info(key transport.InfoKey) (any, bool) {
	if key == transport.InfoFD {
		return nil, false
	}
	return s.Stream.Info(key)
}

// w6Backends opens each contender's backend once for the whole run (a
// plugin is launched by its first Dial, before the first sample's timed
// part) and closes them at the end.
type w6Backends struct {
	exe  string // the plugin binary
	open map[string]transport.Backend
}

func (w *w6Backends) get(ct Contender) (transport.Backend, error) {
	if b, ok := w.open[ct.Label]; ok {
		return b, nil
	}
	var b transport.Backend
	var err error
	switch ct.Backend {
	case w6Handoff, w6Bytes:
		var cfg w6PluginConfig
		if ct.Config != "" {
			if err := json.Unmarshal([]byte(ct.Config), &cfg); err != nil {
				return nil, fmt.Errorf("%s: %w", ct.Label, err)
			}
		}
		cfg.Bytes = ct.Backend == w6Bytes
		raw, _ := json.Marshal(cfg)
		b, err = plugins.Open(plugins.Plugin{Name: "w6", Path: w.exe}, transport.Options{Config: raw})
	default:
		// Options.Control cannot cross to a plugin, so no contender gets
		// benchOptions' SO_LINGER 0: W6 opens a few streams only.
		b, err = ct.Open(transport.Options{})
	}
	if err != nil {
		return nil, err
	}
	w.open[ct.Label] = b
	return b, nil
}

func (w *w6Backends) close() {
	for _, b := range w.open {
		b.Close()
	}
	plugins.Cleanup()
}

// w6Dial opens a stream and checks that a plugin contender's stream took
// the data path it stands for.
func w6Dial(b transport.Backend, ct Contender, addr string) (transport.Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	want := ""
	switch ct.Backend {
	case w6Handoff:
		want = plugins.DataPathHandoff
	case w6Bytes:
		want = plugins.DataPathBytes
	}
	if want != "" {
		if got, _ := s.Info(plugins.InfoDataPath); got != want {
			s.Close()
			return nil, fmt.Errorf("stream took data path %v, want %s", got, want)
		}
	}
	return s, nil
}

func runW6(env *Env, rep *Report) error {
	if *flagW6Buf <= 0 || *flagW6Warmup < 0 {
		return errors.New("-w6-buf must be positive and -w6-warmup not negative")
	}
	dir, err := os.MkdirTemp("", "bench-w6-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe, err := pluginstest.Install(dir, "w6")
	if err != nil {
		return err
	}
	bs := &w6Backends{exe: exe, open: map[string]transport.Backend{}}
	defer bs.close()

	sock := filepath.Join(dir, "echo.sock")
	src, err := startW6Source(*flagW6Buf, sock)
	if err != nil {
		return fmt.Errorf("bulk server: %w", err)
	}
	defer src.Stop()
	echo, err := startServer("echo")
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	defer echo.Stop()

	bulk := rep.Case("bulk", metricGiBs)
	err = env.Interleave(func(_ int, ct Contender) error {
		b, err := bs.get(ct)
		if err != nil {
			return err
		}
		v, err := w6BulkSample(b, ct, src.Addrs.TCP, env.Duration)
		if err != nil {
			return err
		}
		bulk.Add(ct.Label, metricGiBs.Name, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	rtt := rep.Case("rtt_1B", metricRTT50, metricRTT99)
	var unix50, unix99 []float64
	err = env.Interleave(func(_ int, ct Contender) error {
		if ct.Label == env.Contenders[0].Label {
			// The floor of one more process crossing each way: a plain
			// unix socket echo between two processes.
			p50, p99, err := w6UnixRTT(sock, env.Duration)
			if err != nil {
				return fmt.Errorf("unix echo: %w", err)
			}
			unix50 = append(unix50, float64(p50)/1e3)
			unix99 = append(unix99, float64(p99)/1e3)
		}
		b, err := bs.get(ct)
		if err != nil {
			return err
		}
		p50, p99, err := w6RTTSample(b, ct, echo.Addrs.TCP, env.Duration)
		if err != nil {
			return err
		}
		rtt.Add(ct.Label, metricRTT50.Name, float64(p50)/1e3)
		rtt.Add(ct.Label, metricRTT99.Name, float64(p99)/1e3)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rtt: %w", err)
	}
	rep.Notes = append(rep.Notes,
		"plugin-handoff and plugin-bytes are this binary run as a plugin (transportkit-backend-w6, package plugins over go-plugin) dialing with stdnet unless the contender sets {\"inner\": ...}: handoff passes the socket to the host (SCM_RIGHTS), which runs it on epoll; bytes hides the descriptor so every byte is copied plugin <-> host over one unix connection per stream",
		"bulk: a fresh stream per sample reads -w6-warmup bytes untimed, then reads for -duration from a server (another process) that writes as fast as it can; rtt_1B: a fresh stream per sample, 100 untimed round trips, then 1-byte write and read back for -duration against the echo server (another process)",
		"client, servers and plugin share the machine's cores; no contender uses SO_LINGER 0 here (Options.Control cannot cross to a plugin)",
		"a ratio above 1 is better than the baseline; for round trips it is baseline/contender, so a slowdown of k times shows as 1/k")
	rep.Notes = append(rep.Notes, fmt.Sprintf("reference: a plain 1-byte echo over a unix socket between two processes (net.UnixConn, the source server's process; one sample per round, beside the baseline's): p50 %.1f µs, p99 %.1f µs (medians of %d rounds); a byte-path round trip is an in-process one plus about one of these (host to plugin with the byte, plugin to host with the reply)",
		summarize(unix50).Median, summarize(unix99).Median, len(unix50)))
	rep.Notes = append(rep.Notes, w6Targets(env, bulk, rtt)...)
	return nil
}

// w6Targets checks issue 6's targets against this run: handoff bulk at
// least 0.95 of in-process, the byte path at least 1 GiB/s bulk and a
// median round trip at most 3 times in-process. Ratios are the median of
// the per-round ratios (round i against round i of the reference, seconds
// apart, which cancels load that drifts between rounds); the ratio of the
// medians follows in brackets. The in-process reference is the baseline
// (the first contender) and, for the byte path, also the backend the
// plugin dials with when it is a contender.
func w6Targets(env *Env, bulk, rtt *Case) []string {
	base := env.Contenders[0].Label
	med := func(c *Case, who, metric string) float64 {
		return summarize(c.Samples[who][metric]).Median
	}
	// ratio returns who/ref of metric: the median of the per-round
	// ratios and the ratio of the medians.
	ratio := func(c *Case, who, ref, metric string) (paired, ofMedians float64) {
		a, b := c.Samples[who][metric], c.Samples[ref][metric]
		var rs []float64
		for i := range min(len(a), len(b)) {
			rs = append(rs, a[i]/b[i])
		}
		return summarize(rs).Median, med(c, who, metric) / med(c, ref, metric)
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	var out []string
	for _, ct := range env.Contenders {
		switch ct.Backend {
		case w6Handoff:
			r, rm := ratio(bulk, ct.Label, base, metricGiBs.Name)
			out = append(out, fmt.Sprintf("target: %s bulk >= 0.95x %s: %.2fx (ratio of medians %.2fx), %s", ct.Label, base, r, rm, verdict(r >= 0.95)))
		case w6Bytes:
			g := med(bulk, ct.Label, metricGiBs.Name)
			out = append(out, fmt.Sprintf("target: %s bulk >= 1 GiB/s: %.2f GiB/s, %s", ct.Label, g, verdict(g >= 1)))
			for _, ref := range w6Refs(env, ct) {
				k, km := ratio(rtt, ct.Label, ref, metricRTT50.Name)
				out = append(out, fmt.Sprintf("target: %s 1-byte round trip (p50) <= 3x %s: %.2fx (ratio of medians %.2fx), %s", ct.Label, ref, k, km, verdict(k <= 3)))
			}
		}
	}
	return out
}

// w6Refs returns the in-process contenders a byte-path contender is
// checked against: the baseline and, when it is another contender, the
// backend the plugin dials with (its in-process counterpart).
func w6Refs(env *Env, ct Contender) []string {
	refs := []string{env.Contenders[0].Label}
	var cfg w6PluginConfig
	json.Unmarshal([]byte(ct.Config), &cfg)
	if cfg.Inner == "" {
		cfg.Inner = "stdnet"
	}
	for _, o := range env.Contenders[1:] {
		if o.Backend == cfg.Inner && o.Config == "" {
			refs = append(refs, o.Label)
			break
		}
	}
	return refs
}

// w6UnixRTT returns the median and 99th percentile of 1-byte round trips
// during d on a fresh unix connection to the echo at path.
func w6UnixRTT(path string, d time.Duration) (p50, p99 time.Duration, err error) {
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d + 10*time.Second))
	return rttLoop(c.Write, func(b []byte) (int, error) { return io.ReadFull(c, b) }, d)
}

// w6BulkSample returns the GiB/s a fresh stream reads from the source
// server at addr during d, after reading the warm-up untimed.
func w6BulkSample(b transport.Backend, ct Contender, addr string, d time.Duration) (float64, error) {
	s, err := w6Dial(b, ct, addr)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(d + 10*time.Second)) // a stuck sample fails
	buf := make([]byte, *flagW6Buf)
	for n := 0; n < *flagW6Warmup; {
		m, err := s.Read(buf)
		if err != nil {
			return 0, err
		}
		n += m
	}
	var total int64
	start := time.Now()
	end := start.Add(d)
	for {
		m, err := s.Read(buf)
		if err != nil {
			return 0, err
		}
		total += int64(m)
		if now := time.Now(); !now.Before(end) {
			return float64(total) / (1 << 30) / now.Sub(start).Seconds(), nil
		}
	}
}

// w6RTTSample returns the median and 99th percentile of 1-byte round
// trips on a fresh stream to the echo server at addr during d.
func w6RTTSample(b transport.Backend, ct Contender, addr string, d time.Duration) (p50, p99 time.Duration, err error) {
	s, err := w6Dial(b, ct, addr)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(d + 10*time.Second))
	return rttLoop(s.Write, func(b []byte) (int, error) { return io.ReadFull(s, b) }, d)
}

// rttLoop does 100 untimed 1-byte round trips (write, then readFull),
// then times them during d and returns the median and 99th percentile.
func rttLoop(write, readFull func([]byte) (int, error), d time.Duration) (p50, p99 time.Duration, err error) {
	one, got := []byte{'x'}, make([]byte, 1)
	trip := func() error {
		if _, err := write(one); err != nil {
			return err
		}
		_, err := readFull(got)
		return err
	}
	for range 100 {
		if err := trip(); err != nil {
			return 0, 0, err
		}
	}
	lats := make([]time.Duration, 0, 1<<15)
	end := time.Now().Add(d)
	for {
		t0 := time.Now()
		if err := trip(); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		lats = append(lats, t1.Sub(t0))
		if !t1.Before(end) {
			break
		}
	}
	slices.Sort(lats)
	return percentile(lats, 50), percentile(lats, 99), nil
}

// startW6Source re-executes this binary as the bulk source server, which
// writes size-byte chunks to every TCP connection until it closes, and
// echoes on a unix socket at sock.
func startW6Source(size int, sock string) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s", envW6Source, size, sock))
	return spawnServer(cmd, "bulk server", func(line []byte, p *serverProc) error {
		p.Addrs.TCP = strings.TrimSpace(string(line))
		return nil
	})
}

// runW6Source is the bulk source server: it prints its TCP address, then
// writes to every TCP connection as fast as it can until the connection
// closes, echoes on its unix socket (acceptEcho, as the echo server),
// and exits when its standard input closes.
func runW6Source() int {
	sizeText, sock, _ := strings.Cut(os.Getenv(envW6Source), ",")
	size, err := strconv.Atoi(sizeText)
	if err != nil || size <= 0 || sock == "" {
		fmt.Fprintln(os.Stderr, "bench: w6 source: bad size", os.Getenv(envW6Source))
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: w6 source:", err)
		return 1
	}
	uln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: w6 source:", err)
		return 1
	}
	go acceptEcho(uln)
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin) // until the parent closes it
		os.Exit(0)
	}()
	chunk := make([]byte, size)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 1
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like
			continue
		}
		go func() {
			defer c.Close()
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
}
