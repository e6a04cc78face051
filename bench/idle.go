package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

var flagIdleN = flag.Int("idle-n", 10000, "idle: open streams per contender")

func init() {
	register(&Workload{
		ID:    "idle",
		Title: "Go memory (HeapInuse+StackInuse after GC) and goroutines held per open idle stream",
		Run:   runIdle,
	})
}

var (
	metricBytes = Metric{Name: "bytes_per_stream", Unit: "B"}
	metricGor   = Metric{Name: "goroutines_per_stream", Unit: "g"}
)

// memInUse returns HeapInuse+StackInuse after two collections.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

func runIdle(env *Env, rep *Report) error {
	n := *flagIdleN
	srv, err := startServer("echo")
	if err != nil {
		return err
	}
	defer srv.Stop()
	rep.Notes = append(rep.Notes, "lower is better; the ratio is baseline/contender, and a contender with 0 goroutines per stream has no ratio for that metric")
	c := rep.Case(fmt.Sprintf("%d streams", n), metricBytes, metricGor)
	return env.Interleave(func(round int, ct Contender) error {
		b, err := ct.Open(benchOptions())
		if err != nil {
			return err
		}
		defer b.Close()
		time.Sleep(50 * time.Millisecond) // let the backend's own goroutines start
		mem0 := memInUse()
		g0 := runtime.NumGoroutine()
		streams, err := dialMany(b, srv.Addrs.TCP, n)
		if err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond) // let the dialers' goroutines exit
		mem1 := memInUse()
		g1 := runtime.NumGoroutine()
		runtime.KeepAlive(streams)
		closeAll(streams)
		c.Add(ct.Label, metricBytes.Name, float64(int64(mem1)-int64(mem0))/float64(n))
		c.Add(ct.Label, metricGor.Name, float64(g1-g0)/float64(n))
		return nil
	})
}
