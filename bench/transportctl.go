package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clientTransportctl is the W4 contender that runs `transportctl bench`,
// freshly built from this clone, as another process: the CLI's figure for
// epoll beside the bench module's own (tk-epoll), to show that the CLI
// measures what the bench module measures.
const clientTransportctl = "transportctl"

// transportctlBackend is the backend transportctl bench runs.
const (
	transportctlBackend = "epoll"
	// transportctlTolerance is how far the CLI's req/s may be from the
	// bench module's in the same run (issue 12: within 15%).
	transportctlTolerance = 0.15
)

// transportctlBin is the binary buildTransportctl made.
var transportctlBin string

// buildTransportctl builds cmd/transportctl of the module this bench
// module replaces (the clone it sits in) into a temporary directory.
func buildTransportctl() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/transportkit/transportkit").Output()
	if err != nil {
		return fmt.Errorf("finding the transportkit module: %w", err)
	}
	root := strings.TrimSpace(string(out))
	dir, err := os.MkdirTemp("", "bench-transportctl-")
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "transportctl")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/transportctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("go build ./cmd/transportctl: %w\n%s", err, out)
	}
	transportctlBin = bin
	return nil
}

// removeTransportctl removes what buildTransportctl made.
func removeTransportctl() {
	if transportctlBin != "" {
		os.RemoveAll(filepath.Dir(transportctlBin))
	}
}

// transportctlArgs is the command line of one W4 sample: the same
// callers, measured time and warm-up as the other contenders, one
// round, HTTP/1.1, JSON out.
func transportctlArgs(url string, callers int) func(secs int) []string {
	return func(secs int) []string {
		return []string{transportctlBin, "bench", "--json", "--backend", transportctlBackend,
			"--proto", "h1", "-c", strconv.Itoa(callers), "-d", strconv.Itoa(secs) + "s",
			"--rounds", "1", "--warmup", flagW4Warmup.String(), url}
	}
}

// parseTransportctl reads the req/s and request count of transportctl
// bench --json's one backend from out (its stdout, with whatever it
// logged on stderr around it), and fails on errors.
func parseTransportctl(out string) (rate float64, requests int64, err error) {
	i, j := strings.Index(out, "{"), strings.LastIndex(out, "}")
	if i < 0 || j < i {
		return 0, 0, fmt.Errorf("transportctl: no JSON in its output:\n%s", out)
	}
	var rep struct {
		Backends []struct {
			Backend   string  `json:"backend"`
			Requests  int64   `json:"requests"`
			Errors    int64   `json:"errors"`
			ReqPerSec float64 `json:"req_per_s"`
			Error     string  `json:"error"`
		} `json:"backends"`
	}
	if err := json.Unmarshal([]byte(out[i:j+1]), &rep); err != nil {
		return 0, 0, fmt.Errorf("transportctl: %w:\n%s", err, out)
	}
	if len(rep.Backends) != 1 || rep.Backends[0].Backend != transportctlBackend {
		return 0, 0, fmt.Errorf("transportctl: want one row, %s:\n%s", transportctlBackend, out)
	}
	r := rep.Backends[0]
	switch {
	case r.Error != "":
		return 0, 0, fmt.Errorf("transportctl: %s", r.Error)
	case r.Errors > 0:
		return 0, 0, fmt.Errorf("transportctl: %d errors", r.Errors)
	case r.Requests <= 0 || r.ReqPerSec <= 0:
		return 0, 0, errors.New("transportctl: no request completed")
	}
	return r.ReqPerSec, r.Requests, nil
}

// transportctlNotes compares, in case c, transportctl's req/s with the
// bench module's own on the same backend (the contender of cts on
// transportctlBackend without a config, tk-epoll by default): the ratio
// of the medians, the per-round ratios, and whether it is within
// transportctlTolerance; nothing when either is missing.
func transportctlNotes(c *Case, cts []Contender) []string {
	var cliLabel, peerLabel string
	for _, ct := range cts {
		switch {
		case ct.Backend == clientTransportctl && cliLabel == "":
			cliLabel = ct.Label
		case ct.Backend == transportctlBackend && ct.Config == "" && peerLabel == "":
			peerLabel = ct.Label
		}
	}
	cli := c.Samples[cliLabel][metricReqs.Name]
	peer := c.Samples[peerLabel][metricReqs.Name]
	if len(cli) == 0 || len(peer) == 0 {
		return nil
	}
	var paired []float64
	for i := range min(len(cli), len(peer)) {
		paired = append(paired, cli[i]/peer[i])
	}
	ratio := summarize(cli).Median / summarize(peer).Median
	p := summarize(paired)
	verdict := "within"
	if ratio < 1-transportctlTolerance || ratio > 1+transportctlTolerance {
		verdict = "NOT within"
	}
	return []string{fmt.Sprintf("%s (transportctl bench --backend %s, another process, freshly built) / %s req/s: %.3f (paired %.2f [%.2f..%.2f]), %s %.0f%% (issue 12); load average %s; its CPU per request is its whole process's, start-up and warm-up included",
		cliLabel, transportctlBackend, peerLabel, ratio, p.Median, p.Min, p.Max, verdict, transportctlTolerance*100, loadAverage())}
}
