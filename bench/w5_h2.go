package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/transportkit/transportkit/protocols"
)

// W5: HTTP/2 GETs of a small body from nginx over TLS (h2 by ALPN) and
// over h2c (prior knowledge), 32 concurrent callers sharing one
// connection. Contenders: net/http's HTTP/2 (the baseline),
// transportkit's protocols.Transport on a backend, and h2load (another
// process, one connection with 32 streams) as the ceiling.

var (
	flagW5Callers = flag.Int("w5-callers", 32, "W5: concurrent callers (streams) on one connection")
	flagH2load    = flag.String("h2load", "", "W5: h2load binary (default: h2load on PATH; the h2load contender is dropped when there is none)")
	flagW5Cases   = flag.String("w5-cases", "tls,h2c", "W5: which cases to run: tls, h2c or both")
)

// clientH2load names the h2load load generator as a W5 contender.
const clientH2load = "h2load"

func init() {
	register(&Workload{
		ID:         "W5",
		Title:      "HTTP/2 GET of a 5-byte body from nginx (1 worker, loopback), over TLS and h2c, concurrent callers on one connection: req/s",
		Run:        runW5,
		Contenders: "nethttp,tk-epoll=epoll,tk-stdnet=stdnet,h2load",
		Rounds:     5,
		Duration:   3 * time.Second,
	})
}

// metricW5Conns is the connections a contender dialed during a sample: 1
// when the callers share one, as W5 requires.
var metricW5Conns = Metric{Name: "connections", Unit: "conns", NoRatio: true}

// w5Server is nginx started for W5: H2 is the TLS address (h2 by ALPN),
// H2C the clear-text one (HTTP/2 with prior knowledge), and HTTP/1.1 in
// clear text serves the status page. nginx keeps its default of 128
// streams per connection, and sends no GOAWAY during a sample.
type w5Server struct {
	*nginxProc
	H2, H2C string
}

// startNginxH2 starts nginx for W5 and waits until it accepts on every
// port.
func startNginxH2() (*w5Server, error) {
	opts := benchNginx()
	opts.TLS, opts.HTTP2, opts.H2C = true, true, true
	n, err := launchNginx(opts)
	if err != nil {
		return nil, err
	}
	return &w5Server{nginxProc: n, H2: n.TLSAddr, H2C: n.H2CAddr}, nil
}

func runW5(env *Env, rep *Report) error {
	callers := *flagW5Callers
	if callers <= 0 {
		return errors.New("W5: -w5-callers must be positive")
	}
	h2load := ""
	var kept []Contender
	for _, ct := range env.Contenders {
		if ct.Backend == clientH2load {
			p, err := h2loadBinary()
			if err != nil {
				rep.Notes = append(rep.Notes, "h2load dropped: "+err.Error())
				continue
			}
			h2load = p
			rep.Refs = append(rep.Refs, ct.Label)
		}
		if ct.Backend == clientFastHTTP || ct.Backend == clientWrk {
			return fmt.Errorf("W5: %s speaks no HTTP/2", ct.Backend)
		}
		kept = append(kept, ct)
	}
	if len(kept) == 0 {
		return errors.New("W5: no contenders")
	}
	if kept[0].Label != rep.Baseline {
		return fmt.Errorf("W5: the baseline %s cannot run", rep.Baseline)
	}
	env.Contenders = kept
	srv, err := startNginxH2()
	if err != nil {
		return err
	}
	defer srv.Stop()
	rep.Notes = append(rep.Notes,
		"server: nginx 1 worker, another process, `return 200 \"hello\"` over HTTP/2, TLS 1.3 with ALPN h2 and h2c on another port, 128 streams per connection; client and server share the machine's cores",
		fmt.Sprintf("%d callers, each a goroutine looping over GET and reading the body through an http.Client, all on one connection made by a first GET alone (the connections metric counts the dials of a sample); nethttp = net/http's Transport with ForceAttemptHTTP2 (TLS) or Protocols{UnencryptedHTTP2} (h2c); tk-X = protocols.Transport on backend X (H2C set for h2c)", callers),
		fmt.Sprintf("h2load: another process, -c1 -m%d -t1 for whole seconds, its own req/s; its CPU is h2load's own (rusage), the Go contenders' is the whole bench process's", callers),
		fmt.Sprintf("each sample: a fresh client, %v of warm-up not counted, then the measured duration", *flagW4Warmup))

	for _, name := range strings.Split(*flagW5Cases, ",") {
		var url string
		switch strings.TrimSpace(name) {
		case "tls":
			url = "https://" + srv.H2 + "/"
		case "h2c":
			url = "http://" + srv.H2C + "/"
		default:
			return fmt.Errorf("W5: unknown case %q in -w5-cases (want tls, h2c)", name)
		}
		c := rep.Case(fmt.Sprintf("h2 %s GET 5B/%dstreams", name, callers), metricReqs, metricCPUReq, metricSrvCPU, metricAllocs, metricW5Conns)
		err := env.Interleave(func(round int, ct Contender) error {
			var s loadStats
			var conns int64
			var err error
			if ct.Backend == clientH2load {
				s, err = h2loadSample(h2load, srv.nginxProc, url, callers, env.Duration)
				conns = 1
			} else {
				s, conns, err = h2Sample(ct, srv.nginxProc, url, callers, env.Duration)
			}
			if err != nil {
				return err
			}
			c.Add(ct.Label, metricReqs.Name, s.rate)
			c.Add(ct.Label, metricCPUReq.Name, s.cpuPerReq)
			c.Add(ct.Label, metricSrvCPU.Name, s.srvCPUPerReq)
			c.Add(ct.Label, metricW5Conns.Name, float64(conns))
			if ct.Backend != clientH2load {
				c.Add(ct.Label, metricAllocs.Name, s.allocsPerReq)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// h2Client builds contender ct's HTTP/2 client for url (TLS when https,
// h2c otherwise) and returns it with its count of dials and a function
// that releases it.
func h2Client(ct Contender, url string) (http.RoundTripper, func() int64, func(), error) {
	insecure := &tls.Config{InsecureSkipVerify: true}
	h2c := strings.HasPrefix(url, "http://")
	if ct.Backend == clientNetHTTP {
		var dials atomic.Int64
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: lingerZero}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
		tr.TLSClientConfig = insecure
		tr.ForceAttemptHTTP2 = true
		if h2c {
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		return tr, dials.Load, tr.CloseIdleConnections, nil
	}
	be, err := ct.Open(benchOptions())
	if err != nil {
		return nil, nil, nil, err
	}
	tr := &protocols.Transport{Backend: be, TLSClientConfig: insecure, H2C: h2c}
	return tr, func() int64 { return tr.Stats().Dials }, func() { tr.Close(); be.Close() }, nil
}

// h2Sample measures net/http or transportkit on a backend, and returns
// the connections it dialed.
func h2Sample(ct Contender, srv *nginxProc, url string, callers int, d time.Duration) (loadStats, int64, error) {
	rt, dials, release, err := h2Client(ct, url)
	if err != nil {
		return loadStats{}, 0, err
	}
	defer release()
	client := &http.Client{Transport: rt}
	// One request first, alone, so that the callers find the connection
	// made: net/http would otherwise dial one per caller that arrives
	// before its first HTTP/2 connection is up.
	if err := getOnce(client, url); err != nil {
		return loadStats{}, 0, err
	}
	s, err := loadRun(srv, callers, d, func() func() error {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		return func() error {
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2) {
				err = fmt.Errorf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
			}
			return err
		}
	})
	return s, dials(), err
}

// getOnce GETs url and reads the body.
func getOnce(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// h2loadBinary finds h2load.
func h2loadBinary() (string, error) {
	if *flagH2load != "" {
		return *flagH2load, nil
	}
	p, err := exec.LookPath("h2load")
	if err != nil {
		return "", errors.New("h2load is not installed (apt-get install -y nghttp2-client)")
	}
	return p, nil
}

// h2loadSample runs h2load on one connection with callers streams for d
// (rounded up to whole seconds) and returns its req/s and its own CPU µs
// per request.
func h2loadSample(bin string, srv *nginxProc, url string, callers int, d time.Duration) (loadStats, error) {
	return toolSample("h2load", srv, d, parseH2load, func(secs int) []string {
		return []string{bin, "-c1", "-t1", fmt.Sprintf("-m%d", callers), fmt.Sprintf("-D%d", secs), url}
	})
}

// parseH2load reads h2load's req/s ("finished in 3.00s, 45678.90 req/s,
// ...") and succeeded requests, and fails when a request failed or the
// protocol was not HTTP/2.
func parseH2load(s string) (rate float64, done int64, err error) {
	sc := bufio.NewScanner(strings.NewReader(s))
	h2 := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Application protocol:"):
			p := strings.TrimSpace(strings.TrimPrefix(line, "Application protocol:"))
			h2 = p == "h2" || p == "h2c"
		case strings.HasPrefix(line, "finished in"):
			f := strings.Split(line, ",")
			if len(f) < 2 {
				return 0, 0, fmt.Errorf("h2load: %q", line)
			}
			v := strings.TrimSuffix(strings.TrimSpace(f[1]), " req/s")
			if rate, err = strconv.ParseFloat(v, 64); err != nil {
				return 0, 0, fmt.Errorf("h2load: %q: %w", line, err)
			}
		case strings.HasPrefix(line, "requests:"):
			// requests: N total, N started, N done, N succeeded, N failed, ...
			for _, part := range strings.Split(strings.TrimPrefix(line, "requests:"), ",") {
				f := strings.Fields(part)
				if len(f) != 2 {
					continue
				}
				n, _ := strconv.ParseInt(f[0], 10, 64)
				switch f[1] {
				case "succeeded":
					done = n
				case "failed", "errored", "timeout":
					if n > 0 {
						return 0, 0, fmt.Errorf("h2load: %s", line)
					}
				}
			}
		}
	}
	if !h2 {
		return 0, 0, fmt.Errorf("h2load did not speak HTTP/2:\n%s", s)
	}
	if rate <= 0 || done <= 0 {
		return 0, 0, fmt.Errorf("h2load: no req/s in its output:\n%s", s)
	}
	return rate, done, nil
}
