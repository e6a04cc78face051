package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Workload is one benchmark: it runs its cases for every contender, in
// interleaved rounds, and adds samples to the report.
type Workload struct {
	// ID is the short name used with -w, such as "W1".
	ID string
	// Title says what is measured.
	Title string
	// Run measures every case and adds the samples to rep.
	Run func(env *Env, rep *Report) error
	// Contenders is the workload's default for -contenders; if empty,
	// the flag's own default.
	Contenders string
	// Rounds and Duration are the workload's defaults for -rounds and
	// -duration; if zero, the flags' own defaults.
	Rounds   int
	Duration time.Duration
}

// Env is what a workload gets from the command line.
type Env struct {
	Contenders []Contender
	Duration   time.Duration
	Rounds     int
}

// Interleave calls sample for rounds × contenders, alternating the order
// (A B, then B A, ...) so that neither side always runs first.
func (e *Env) Interleave(sample func(round int, c Contender) error) error {
	for r := 0; r < e.Rounds; r++ {
		order := make([]Contender, len(e.Contenders))
		copy(order, e.Contenders)
		if r%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, c := range order {
			if err := sample(r, c); err != nil {
				return fmt.Errorf("%s round %d: %w", c.Label, r, err)
			}
		}
	}
	return nil
}

// Metric describes one figure a case reports.
type Metric struct {
	Name         string `json:"name"`
	Unit         string `json:"unit"`
	HigherBetter bool   `json:"higher_better"`
	// NoRatio leaves the metric out of the ratios (a count that can be
	// zero, such as allocations, makes ratios meaningless).
	NoRatio bool `json:"no_ratio,omitempty"`
}

// Case is one configuration of a workload (message size, connections...).
type Case struct {
	Name    string   `json:"case"`
	Metrics []Metric `json:"metrics"`

	// Samples are the raw figures in round order: contender -> metric
	// -> one per round.
	Samples map[string]map[string][]float64 `json:"samples"`

	// Results and Ratios are filled in by finish.
	Results map[string]map[string]Stat    `json:"results"`
	Ratios  map[string]map[string]float64 `json:"ratios"`
	// RatiosVs holds the ratios to each of Report.Refs: ref -> contender
	// -> metric -> ratio, above 1 meaning better than ref.
	RatiosVs map[string]map[string]map[string]float64 `json:"ratios_vs,omitempty"`
	// Paired holds, for the baseline and each of Report.Refs, the
	// contenders' per-round ratios (round i of the contender against
	// round i of the reference, measured seconds apart) summarized: ref
	// -> contender -> metric -> median and [min..max]. On a noisy
	// machine they cancel load that drifts between rounds.
	Paired map[string]map[string]map[string]Stat `json:"paired_ratios,omitempty"`
}

// Stat is the summary of one metric's samples.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Report gathers a workload's cases.
type Report struct {
	Workload   string   `json:"workload"`
	Title      string   `json:"title"`
	Go         string   `json:"go"`
	GOMAXPROCS int      `json:"gomaxprocs"`
	NumCPU     int      `json:"num_cpu"`
	Command    string   `json:"command"`
	Baseline   string   `json:"baseline"`
	Contenders []string `json:"contenders"`
	Rounds     int      `json:"rounds"`
	Duration   string   `json:"duration"`
	// Refs are further contenders every other one is compared with
	// (ratios_vs), besides the baseline.
	Refs  []string `json:"refs,omitempty"`
	Notes []string `json:"notes,omitempty"`
	Cases []*Case  `json:"cases"`

	byName map[string]*Case
}

// Case returns the case named name, creating it with metrics.
func (r *Report) Case(name string, metrics ...Metric) *Case {
	if r.byName == nil {
		r.byName = map[string]*Case{}
	}
	if c, ok := r.byName[name]; ok {
		return c
	}
	c := &Case{Name: name, Metrics: metrics, Samples: map[string]map[string][]float64{}}
	r.byName[name] = c
	r.Cases = append(r.Cases, c)
	return c
}

// Add records one sample of metric for contender.
func (c *Case) Add(contender, metric string, v float64) {
	m := c.Samples[contender]
	if m == nil {
		m = map[string][]float64{}
		c.Samples[contender] = m
	}
	m[metric] = append(m[metric], v)
}

func summarize(xs []float64) Stat {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	st := Stat{N: len(s)}
	if len(s) == 0 {
		return st
	}
	st.Min, st.Max = s[0], s[len(s)-1]
	if len(s)%2 == 1 {
		st.Median = s[len(s)/2]
	} else {
		st.Median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return st
}

// finish computes medians, spreads and ratios to the baseline. A ratio is
// contender/baseline for a higher-is-better metric and baseline/contender
// otherwise, so above 1 always means better than the baseline.
func (r *Report) finish() {
	for _, c := range r.Cases {
		c.Results = map[string]map[string]Stat{}
		for who, ms := range c.Samples {
			c.Results[who] = map[string]Stat{}
			for m, xs := range ms {
				c.Results[who][m] = summarize(xs)
			}
		}
		c.Ratios = c.ratiosTo(r.Baseline)
		for _, ref := range r.Refs {
			if _, ok := c.Results[ref]; !ok {
				continue
			}
			if c.RatiosVs == nil {
				c.RatiosVs = map[string]map[string]map[string]float64{}
			}
			c.RatiosVs[ref] = c.ratiosTo(ref)
		}
		for _, ref := range append([]string{r.Baseline}, r.Refs...) {
			if p := c.pairedTo(ref); len(p) > 0 {
				if c.Paired == nil {
					c.Paired = map[string]map[string]map[string]Stat{}
				}
				c.Paired[ref] = p
			}
		}
	}
}

// pairedTo returns every other contender's per-round ratios to ref,
// summarized, for the metrics where both have one sample per round.
func (c *Case) pairedTo(ref string) map[string]map[string]Stat {
	out := map[string]map[string]Stat{}
	base := c.Samples[ref]
	for who, ms := range c.Samples {
		if who == ref {
			continue
		}
		for _, m := range c.Metrics {
			b, x := base[m.Name], ms[m.Name]
			if m.NoRatio || len(b) == 0 || len(b) != len(x) {
				continue
			}
			var rs []float64
			for i := range b {
				switch {
				case m.HigherBetter && b[i] > 0:
					rs = append(rs, x[i]/b[i])
				case !m.HigherBetter && x[i] > 0:
					rs = append(rs, b[i]/x[i])
				}
			}
			if len(rs) != len(b) {
				continue
			}
			st := summarize(rs)
			st.Median = math.Round(st.Median*1000) / 1000
			st.Min = math.Round(st.Min*1000) / 1000
			st.Max = math.Round(st.Max*1000) / 1000
			if out[who] == nil {
				out[who] = map[string]Stat{}
			}
			out[who][m.Name] = st
		}
	}
	return out
}

// ratiosTo returns every other contender's ratios to ref's medians.
func (c *Case) ratiosTo(ref string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	base := c.Results[ref]
	for who, res := range c.Results {
		if who == ref {
			continue
		}
		out[who] = map[string]float64{}
		for _, m := range c.Metrics {
			if m.NoRatio {
				continue
			}
			bst, bok := base[m.Name]
			xst, xok := res[m.Name]
			if !bok || !xok {
				continue
			}
			b, x := bst.Median, xst.Median
			var ratio float64
			switch {
			case m.HigherBetter && b > 0:
				ratio = x / b
			case !m.HigherBetter && x > 0:
				ratio = b / x
			default:
				ratio = math.NaN()
			}
			if !math.IsNaN(ratio) {
				out[who][m.Name] = math.Round(ratio*1000) / 1000
			}
		}
	}
	return out
}

func (r *Report) contenders() []string {
	seen := map[string]bool{r.Baseline: true}
	out := []string{r.Baseline}
	for _, who := range r.Contenders {
		if !seen[who] {
			seen[who] = true
			out = append(out, who)
		}
	}
	for _, c := range r.Cases {
		var more []string
		for who := range c.Results {
			if !seen[who] {
				seen[who] = true
				more = append(more, who)
			}
		}
		sort.Strings(more)
		out = append(out, more...)
	}
	return out
}

func (r *Report) printTable(w io.Writer) {
	fmt.Fprintf(w, "%s: %s\n%s, GOMAXPROCS=%d, NumCPU=%d; medians of %s with [min..max]; ratio of medians vs %s (>1 is better), paired: median and [min..max] of the per-round ratios\ncommand: %s\n\n",
		r.Workload, r.Title, r.Go, r.GOMAXPROCS, r.NumCPU, "the rounds", r.Baseline, r.Command)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := "case\tcontender\tmetric\tmedian\tspread\tratio\t"
	for _, ref := range r.Refs {
		head += "vs " + ref + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, c := range r.Cases {
		for _, who := range r.contenders() {
			res, ok := c.Results[who]
			if !ok {
				continue
			}
			for _, m := range c.Metrics {
				st, ok := res[m.Name]
				if !ok {
					continue
				}
				line := fmt.Sprintf("%s\t%s\t%s (%s)\t%s\t[%s..%s]\t%s\t", c.Name, who, m.Name, m.Unit,
					num(st.Median), num(st.Min), num(st.Max), ratioText(c.Ratios, c.Paired[r.Baseline], who, m.Name))
				for _, ref := range r.Refs {
					line += ratioText(c.RatiosVs[ref], c.Paired[ref], who, m.Name) + "\t"
				}
				fmt.Fprintln(tw, line)
			}
		}
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintln(w)
}

// ratioText formats ratios[who][metric], or "" when there is none,
// followed by the paired ratios' median and spread when there are
// several rounds.
func ratioText(ratios map[string]map[string]float64, paired map[string]map[string]Stat, who, metric string) string {
	x, ok := ratios[who][metric]
	if !ok {
		return ""
	}
	out := fmt.Sprintf("%.3f", x)
	if p, ok := paired[who][metric]; ok && p.N > 1 {
		out += fmt.Sprintf(" (paired %.2f [%.2f..%.2f])", p.Median, p.Min, p.Max)
	}
	return out
}

func num(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

func (r *Report) printJSON(w io.Writer) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(w, `{"error":`+fmt.Sprintf("%q", err.Error())+`}`)
		return
	}
	fmt.Fprintln(w, strings.TrimSpace(string(b)))
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}
