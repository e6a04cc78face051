package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchEmbedded(t *testing.T) {
	noEnv(t)
	code, out, errOut := cli(t, "bench", "--backend", "stdnet,epoll,mock", "-c", "4", "-n", "60", "--rounds", "2", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if !rep.Embedded || rep.Baseline != "stdnet" || len(rep.Rows) != 3 {
		t.Fatalf("report %+v, want 3 backends on the embedded server, stdnet first", rep)
	}
	for i, r := range rep.Rows {
		if want := []string{"stdnet", "epoll", "mock"}[i]; r.Backend != want {
			t.Errorf("row %d is %s, want %s (the order asked)", i, r.Backend, want)
		}
		if r.Requests < 60 || r.Errors != 0 || r.ReqPerSec <= 0 || r.Ratio <= 0 || r.P50MS <= 0 || r.P99MS < r.P50MS || r.Protocol != "h2" {
			t.Errorf("row %+v: want >= 60 requests, no errors, a rate, a ratio, p50 <= p99, h2", r)
		}
	}
	if rep.Rows[0].Ratio != 1 {
		t.Errorf("the baseline's ratio is %v, want 1", rep.Rows[0].Ratio)
	}
	if errOut != "" {
		t.Errorf("stderr %q, want nothing (no bar when not a terminal)", errOut)
	}
}

func TestBenchTableAndProtocols(t *testing.T) {
	noEnv(t)
	for _, tc := range []struct{ proto, want string }{{"h1", "http/1.1"}, {"h2c", "h2c"}} {
		code, out, errOut := cli(t, "bench", "--backend", "stdnet", "-c", "2", "-n", "20", "--rounds", "1", "--proto", tc.proto)
		if code != exitOK {
			t.Fatalf("--proto %s: exit %d, stderr %q", tc.proto, code, errOut)
		}
		for _, want := range []string{"BACKEND", "REQ/S", "P99", "RATIO", "stdnet", tc.want, "1.000", "embedded server"} {
			if !strings.Contains(out, want) {
				t.Errorf("--proto %s: table lacks %q:\n%s", tc.proto, want, out)
			}
		}
	}
}

func TestBenchEveryBackend(t *testing.T) {
	noEnv(t)
	code, out, errOut := cli(t, "bench", "-c", "2", "-n", "10", "--rounds", "1", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	seen := map[string]benchRow{}
	for _, r := range rep.Rows {
		seen[r.Backend] = r
	}
	if r := seen["test-unavailable"]; !r.Skipped || !strings.Contains(r.Note, "unavailable") {
		t.Errorf("test-unavailable: %+v, want skipped with the reason", r)
	}
	if r := seen["test-inmemory"]; !r.Skipped {
		t.Errorf("test-inmemory: %+v, want skipped (cannot reach the server)", r)
	}
	if r := seen["stdnet"]; r.Requests < 10 || r.Skipped {
		t.Errorf("stdnet: %+v, want it run", r)
	}
}

func TestBenchBadInput(t *testing.T) {
	noEnv(t)
	missing := filepath.Join(t.TempDir(), "none.pem")
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "-c", "0"}, "-c 0"},
		{[]string{"bench", "-n", "-1"}, "-n -1"},
		{[]string{"bench", "-d", "0"}, "-d 0s"},
		{[]string{"bench", "--rounds", "0"}, "--rounds 0"},
		{[]string{"bench", "--warmup", "-1s"}, "--warmup"},
		{[]string{"bench", "--proto", "h3"}, "--proto"},
		{[]string{"bench", "--backend", "nosuch"}, `unknown backend "nosuch"`},
		{[]string{"bench", "--backend", ","}, "want one or more backend names"},
		{[]string{"bench", "--cacert", missing}, "--cacert"},
		{[]string{"bench", "--cacert", notPEM}, "no PEM certificate"},
		{[]string{"bench", "ftp://x/"}, "want an http or https URL"},
		{[]string{"bench", "--bogus"}, "unknown flag"},
	} {
		code, _, errOut := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, errOut, tc.want)
		}
	}
	t.Setenv("TRANSPORTKIT_BACKEND", "nosuch")
	if code, _, errOut := cli(t, "bench"); code != exitUsage || !strings.Contains(errOut, "TRANSPORTKIT_BACKEND") {
		t.Errorf("env nosuch: exit %d, %q; want exit 2 naming the variable", code, errOut)
	}
}

func TestBenchFailures(t *testing.T) {
	noEnv(t)
	brokenOpen.Store(true)
	defer brokenOpen.Store(false)
	code, out, _ := cli(t, "bench", "--backend", "test-broken,stdnet", "-c", "1", "-n", "5", "--rounds", "1")
	if code != exitFailure || !strings.Contains(out, "FAIL: ") {
		t.Errorf("a backend that cannot open: exit %d, %q; want 1 and FAIL in its row", code, out)
	}
	// A server that answers 404 counts errors.
	code, out, _ = cli(t, "bench", "--backend", "stdnet", "-c", "1", "-n", "3", "--rounds", "1", "--json", "http://127.0.0.1:1/")
	var rep benchReport
	if json.Unmarshal([]byte(out), &rep) != nil || code != exitFailure || len(rep.Rows) != 1 || rep.Rows[0].Error == "" {
		t.Errorf("refused target: exit %d, %q; want 1 and the error", code, out)
	}
}

// TestBenchNoResponseIsFailure: against a server that accepts
// connections and never answers, no request completes: the backend
// failed (exit 1), its row says so, and the requests cut short by the
// end of the time are reported in flight, not dropped.
func TestBenchNoResponseIsFailure(t *testing.T) {
	noEnv(t)
	url := silentServer(t)
	code, out, errOut := cli(t, "bench", "--json", "-c", "2", "-d", "300ms", "--warmup", "0", "--rounds", "1", "--backend", "stdnet", url)
	var rep struct {
		Backends []benchRow `json:"backends"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Backends) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	r := rep.Backends[0]
	if code != exitFailure || r.Requests != 0 || r.InFlight != 2 || !strings.Contains(r.Error, "no request completed") {
		t.Errorf("exit %d, row %+v, stderr %q; want exit 1, 2 requests in flight and \"no request completed\"", code, r, errOut)
	}
	code, out, _ = cli(t, "bench", "-c", "1", "-d", "100ms", "--warmup", "0", "--rounds", "1", "--backend", "stdnet", url)
	if code != exitFailure || !strings.Contains(out, "FAIL: no request completed (1 still in flight") {
		t.Errorf("table: exit %d, want 1 and a FAIL note:\n%s", code, out)
	}
}

// TestBenchRequestsSplit: -n N is split over the rounds so that the
// rounds' shares add up to N (-n 10 --rounds 3 is 4, 3 and 3; -n 1
// --rounds 3 is one round of one request), and the report says so. With
// one caller no request is in flight to blur it.
func TestBenchRequestsSplit(t *testing.T) {
	noEnv(t)
	for _, tc := range []struct {
		n      string
		rounds int
	}{{"10", 3}, {"1", 1}, {"3", 3}} {
		code, out, errOut := cli(t, "bench", "--json", "-c", "1", "-n", tc.n, "--rounds", "3", "--backend", "stdnet")
		var rep struct {
			Requests int64      `json:"requests"`
			Rounds   int        `json:"rounds"`
			Backends []benchRow `json:"backends"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || len(rep.Backends) != 1 {
			t.Fatalf("-n %s: exit %d, %v, stderr %s", tc.n, code, err, errOut)
		}
		if got := rep.Backends[0].Requests + rep.Backends[0].Errors; got != rep.Requests || rep.Rounds != tc.rounds {
			t.Errorf("-n %s --rounds 3: the backend ran %d requests in %d rounds, the report says %d; want %d rounds", tc.n, got, rep.Rounds, rep.Requests, tc.rounds)
		}
	}
	for _, tc := range []struct {
		n           int64
		rounds      int
		wantByRound []int64
	}{{10, 3, []int64{4, 3, 3}}, {9, 3, []int64{3, 3, 3}}, {2, 4, []int64{1, 1, 0, 0}}} {
		for r, want := range tc.wantByRound {
			if got := roundShare(tc.n, tc.rounds, r); got != want {
				t.Errorf("roundShare(%d, %d, %d) = %d, want %d", tc.n, tc.rounds, r, got, want)
			}
		}
	}
}
