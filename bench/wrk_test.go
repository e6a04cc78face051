package main

import "testing"

const wrkOutput = `Running 1s test @ http://127.0.0.1:40000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   5.00ms   90.00%
    Req/Sec    58.00k     2.00k   60.00k    80.00%
  58123 requests in 1.00s, 9.50MB read
Requests/sec:  58100.12
Transfer/sec:      9.49MB
`

func TestParseWrk(t *testing.T) {
	rate, n, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if rate != 58100.12 || n != 58123 {
		t.Fatalf("got %v req/s, %d requests; want 58100.12, 58123", rate, n)
	}
	for _, bad := range []string{
		"",
		wrkOutput + "  Socket errors: connect 0, read 1, write 0, timeout 0\n",
		wrkOutput + "  Non-2xx or 3xx responses: 12\n",
	} {
		if _, _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk accepted %q", bad)
		}
	}
}

func TestRatiosToRefs(t *testing.T) {
	r := &Report{Baseline: "a", Refs: []string{"b"}}
	c := r.Case("x", Metric{Name: "rate", HigherBetter: true}, Metric{Name: "cost"}, Metric{Name: "allocs", NoRatio: true})
	for who, v := range map[string]float64{"a": 10, "b": 20, "c": 40} {
		c.Add(who, "rate", v)
		c.Add(who, "cost", v)
		c.Add(who, "allocs", v)
	}
	r.finish()
	if got := c.Ratios["c"]["rate"]; got != 4 {
		t.Errorf("c/a rate ratio %v, want 4", got)
	}
	if got := c.Ratios["c"]["cost"]; got != 0.25 {
		t.Errorf("c/a cost ratio %v, want 0.25", got)
	}
	if got := c.RatiosVs["b"]["c"]["rate"]; got != 2 {
		t.Errorf("c/b rate ratio %v, want 2", got)
	}
	if _, ok := c.Ratios["c"]["allocs"]; ok {
		t.Error("a NoRatio metric got a ratio")
	}
}

func TestPairedRatios(t *testing.T) {
	r := &Report{Baseline: "a"}
	c := r.Case("x", Metric{Name: "rate", HigherBetter: true})
	// Round 2 is slow for both: the paired ratios stay 2.
	for _, v := range []float64{10, 1, 12} {
		c.Add("a", "rate", v)
		c.Add("b", "rate", 2*v)
	}
	r.finish()
	p := c.Paired["a"]["b"]["rate"]
	if p.Median != 2 || p.Min != 2 || p.Max != 2 || p.N != 3 {
		t.Errorf("paired %+v, want 2 [2..2] over 3 rounds", p)
	}
}
