package main

import (
	"strings"
	"testing"
)

func TestParseTransportctl(t *testing.T) {
	ok := `2026-12-03T20:00:00Z [WARN] something logged
{"url": "http://127.0.0.1:1/", "backends": [{"backend": "epoll", "requests": 3000, "errors": 0, "req_per_s": 1500.5, "ratio": 1}]}
`
	rate, n, err := parseTransportctl(ok)
	if err != nil || rate != 1500.5 || n != 3000 {
		t.Errorf("parseTransportctl = %v, %v, %v; want 1500.5, 3000", rate, n, err)
	}
	for _, bad := range []string{
		"",
		"not json {",
		`{"backends": []}`,
		`{"backends": [{"backend": "stdnet", "requests": 1, "req_per_s": 1}]}`,
		`{"backends": [{"backend": "epoll", "requests": 10, "errors": 2, "req_per_s": 5}]}`,
		`{"backends": [{"backend": "epoll", "error": "dial refused"}]}`,
		`{"backends": [{"backend": "epoll", "requests": 0, "req_per_s": 0}]}`,
	} {
		if _, _, err := parseTransportctl(bad); err == nil {
			t.Errorf("parseTransportctl(%q): no error", bad)
		}
	}
	args := transportctlArgs("http://x/", 64)(3)
	if got := strings.Join(args[1:], " "); !strings.Contains(got, "--backend epoll") || !strings.Contains(got, "-c 64") || !strings.Contains(got, "-d 3s") || !strings.HasSuffix(got, "http://x/") {
		t.Errorf("transportctl args %q", got)
	}
}

func TestTransportctlNotes(t *testing.T) {
	c := &Case{Samples: map[string]map[string][]float64{
		"tk-epoll":     {metricReqs.Name: {100, 100, 100}},
		"transportctl": {metricReqs.Name: {95, 90, 99}},
	}}
	cts := []Contender{{Label: "nethttp", Backend: clientNetHTTP}, {Label: "tk-epoll", Backend: "epoll"}, {Label: "transportctl", Backend: clientTransportctl}}
	notes := transportctlNotes(c, cts)
	if len(notes) != 1 || !strings.Contains(notes[0], "0.950") || !strings.Contains(notes[0], "within 15%") || strings.Contains(notes[0], "NOT") {
		t.Errorf("notes %q, want a ratio of 0.950, within 15%%", notes)
	}
	c.Samples["transportctl"][metricReqs.Name] = []float64{50, 60, 70}
	if notes := transportctlNotes(c, cts); len(notes) != 1 || !strings.Contains(notes[0], "NOT within") {
		t.Errorf("notes %q, want NOT within", notes)
	}
	if notes := transportctlNotes(c, cts[:2]); notes != nil {
		t.Errorf("notes without the transportctl contender: %q", notes)
	}
}
