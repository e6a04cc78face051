package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/transportkit/transportkit/internal/testenv"
)

// TestBenchNginx runs bench against nginx (a real server in another
// process; skipped where nginx is missing, except in CI), over HTTP/1.1
// in clear text and over TLS with ALPN h2: the table, and JSON with a
// ratio per backend, the first backend's 1.
func TestBenchNginx(t *testing.T) {
	noEnv(t)
	n := testenv.StartNginx(t, testenv.NginxOptions{TLS: true, HTTP2: true})
	ca := n.Certs.WritePEM(t, t.TempDir()).CA
	for _, tc := range []struct {
		url, proto string
		args       []string
	}{
		{n.URL("/hello"), "http/1.1", nil},
		{n.TLSURL("/hello"), "h2", []string{"--cacert", ca}},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			args := append([]string{"bench", "--backend", "stdnet,epoll", "-c", "8", "-n", "400", "--rounds", "2"}, tc.args...)
			code, out, errOut := cli(t, append(args, tc.url)...)
			if code != exitOK {
				t.Fatalf("table: exit %d, stderr %q", code, errOut)
			}
			for _, want := range []string{"BACKEND", "REQ/S", "P50", "P99", "RATIO", tc.url} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
			for _, be := range []string{"stdnet", "epoll"} {
				if row := tableRow(out, be, 0); !strings.Contains(row, tc.proto) {
					t.Errorf("table row of %s is %q, want it with %s:\n%s", be, row, tc.proto, out)
				}
			}

			code, out, errOut = cli(t, append(append(args, "--json"), tc.url)...)
			if code != exitOK {
				t.Fatalf("--json: exit %d, stderr %q", code, errOut)
			}
			var rep benchReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json printed invalid JSON: %v\n%s", err, out)
			}
			if rep.Embedded || rep.URL != tc.url || rep.Baseline != "stdnet" || len(rep.Rows) != 2 {
				t.Fatalf("report %+v, want stdnet then epoll against %s", rep, tc.url)
			}
			for _, r := range rep.Rows {
				if r.Requests < 400 || r.Errors != 0 || r.ReqPerSec <= 0 || r.Ratio <= 0 || r.Protocol != tc.proto {
					t.Errorf("row %+v: want 400 requests or more, no error, a rate and a ratio, %s", r, tc.proto)
				}
			}
			if rep.Rows[0].Ratio != 1 {
				t.Errorf("the baseline's ratio is %v, want 1", rep.Rows[0].Ratio)
			}
		})
	}
	// A path nginx does not have counts errors: exit 1, and still the
	// JSON, with the errors per backend.
	code, out, _ := cli(t, "bench", "--backend", "epoll", "-c", "2", "-n", "10", "--rounds", "1", "--json", n.URL("/nothing"))
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailure || len(rep.Rows) != 1 || rep.Rows[0].Errors == 0 {
		t.Errorf("404s: exit %d, JSON error %v, %s; want exit 1 and errors counted", code, err, out)
	}
}
