// Command bench runs transportkit's cross-backend benchmarks, one workload
// per call, and prints a table and then one JSON line with each
// contender's figures and their ratios to the baseline (the first
// contender).
//
//	go run . -w W1 -duration 2s -rounds 3
//
// See README.md for the workloads and the exact commands.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

// flags shared by the workloads.
var (
	flagWorkload   = flag.String("w", "", "workload to run (see -list)")
	flagList       = flag.Bool("list", false, "list the workloads and exit")
	flagDuration   = flag.Duration("duration", 2*time.Second, "length of one measured sample")
	flagRounds     = flag.Int("rounds", 3, "interleaved rounds (A B, B A, ...) per case")
	flagContenders = flag.String("contenders", "stdnet,epoll", "comma-separated contenders, the first is the baseline; each is BACKEND, or LABEL=BACKEND:JSON for a backend configuration; W3 and W4 have their own default (see -list) and also take nethttp, fasthttp and wrk")
	flagServe      = flag.String("serve", "", "internal: run a server (echo) in this process")
	flagCPUProfile = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flagJSONOnly   = flag.Bool("json", false, "print only the JSON line")
	flagMemProfile = flag.String("memprofile", "", "W3: write a heap profile (sampled every 4 KiB) of each contender's last round at the measure, to FILE.LABEL; W4: write one at the end of the run to FILE (its alloc_objects, with a single contender, are the allocations per request)")
)

// workloads are the registered workloads by id.
var workloads = map[string]*Workload{}

// register adds a workload; each workload file calls it from init.
func register(w *Workload) {
	if _, dup := workloads[w.ID]; dup {
		panic("bench: workload registered twice: " + w.ID)
	}
	workloads[w.ID] = w
}

func main() {
	flag.Parse()
	if *flagMemProfile != "" {
		runtime.MemProfileRate = 4096
	}
	if *flagServe != "" {
		if err := serve(*flagServe); err != nil {
			fmt.Fprintln(os.Stderr, "bench: serve:", err)
			os.Exit(1)
		}
		return
	}
	if *flagList || *flagWorkload == "" {
		ids := make([]string, 0, len(workloads))
		for id := range workloads {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Printf("%-6s %s\n", id, workloads[id].Title)
			if c := workloads[id].Contenders; c != "" {
				fmt.Printf("%-6s default -contenders %s\n", "", c)
			}
			if r := workloads[id].Rounds; r > 0 {
				fmt.Printf("%-6s default -rounds %d\n", "", r)
			}
			if d := workloads[id].Duration; d > 0 {
				fmt.Printf("%-6s default -duration %v\n", "", d)
			}
		}
		if *flagWorkload == "" && !*flagList {
			os.Exit(2)
		}
		return
	}
	w, ok := workloads[*flagWorkload]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: unknown workload %q (try -list)\n", *flagWorkload)
		os.Exit(2)
	}
	spec := *flagContenders
	if w.Contenders != "" && !flagSet("contenders") {
		spec = w.Contenders
	}
	contenders, err := parseContenders(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if *flagCPUProfile != "" {
		f, err := os.Create(*flagCPUProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	env := &Env{Contenders: contenders, Duration: *flagDuration, Rounds: *flagRounds}
	if w.Rounds > 0 && !flagSet("rounds") {
		env.Rounds = w.Rounds
	}
	if w.Duration > 0 && !flagSet("duration") {
		env.Duration = w.Duration
	}
	rep := &Report{
		Workload:   w.ID,
		Title:      w.Title,
		Go:         runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		Command:    "go run . " + strings.Join(os.Args[1:], " "),
		Rounds:     env.Rounds,
		Duration:   env.Duration.String(),
		Contenders: labels(contenders),
		Baseline:   contenders[0].Label,
	}
	if err := w.Run(env, rep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep.finish()
	if !*flagJSONOnly {
		rep.printTable(os.Stdout)
	}
	rep.printJSON(os.Stdout)
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func labels(cs []Contender) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Label
	}
	return out
}
