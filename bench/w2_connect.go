package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportkit/transportkit/transport"
)

var flagW2Conc = flag.String("w2-conc", "1,16", "W2: concurrent dialers")

func init() {
	register(&Workload{
		ID:    "W2",
		Title: "connect rate (dial and close; TCP, and TCP+TLS 1.3 with ALPN) against a standard-library server in another process: conns/s and p99",
		Run:   runW2,
	})
}

var (
	metricConns   = Metric{Name: "conns_per_s", Unit: "conn/s", HigherBetter: true}
	metricCPUConn = Metric{Name: "cpu_us_per_conn", Unit: "µs"}
)

func runW2(env *Env, rep *Report) error {
	concs, err := parseInts(*flagW2Conc)
	if err != nil {
		return err
	}
	srv, err := startServer("echo")
	if err != nil {
		return err
	}
	defer srv.Stop()
	rep.Notes = append(rep.Notes, "connections are closed with SO_LINGER 0 (reset, no TIME_WAIT) for every contender; TLS verification is off (self-signed server), the handshake is full TLS 1.3 with X25519 and ECDSA P-256")
	for _, withTLS := range []bool{false, true} {
		for _, conc := range concs {
			name := fmt.Sprintf("tcp/%dconc", conc)
			addr := srv.Addrs.TCP
			if withTLS {
				name = fmt.Sprintf("tls/%dconc", conc)
				addr = srv.Addrs.TLS
			}
			c := rep.Case(name, metricConns, metricP99, metricP50, metricCPUConn)
			err := env.Interleave(func(round int, ct Contender) error {
				rate, p50, p99, cpu, err := connectSample(ct, addr, withTLS, conc, env.Duration)
				if err != nil {
					return err
				}
				c.Add(ct.Label, metricConns.Name, rate)
				c.Add(ct.Label, metricP99.Name, float64(p99)/1e3)
				c.Add(ct.Label, metricP50.Name, float64(p50)/1e3)
				c.Add(ct.Label, metricCPUConn.Name, cpu)
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

// connectSample dials and closes for d with conc dialers and returns
// connections per second, the median and p99 time to a usable stream (TLS
// handshake included), and the client's CPU µs per connection.
func connectSample(ct Contender, addr string, withTLS bool, conc int, d time.Duration) (rate float64, p50, p99 time.Duration, cpuPerConn float64, err error) {
	b, err := ct.Open(benchOptions())
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer b.Close()
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}, ServerName: "bench"}
	var stop atomic.Bool
	lats := make([][]time.Duration, conc)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	t0 := time.Now()
	cpu0 := cpuTime()
	for i := range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			for !stop.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				var s transport.Stream
				var err error
				if withTLS {
					s, err = transport.DialTLS(ctx, b, "tcp", addr, cfg)
				} else {
					s, err = b.Dial(ctx, "tcp", addr)
				}
				cancel()
				if err != nil {
					errs[i] = err
					stop.Store(true)
					return
				}
				local = append(local, time.Since(start))
				s.Close()
			}
			lats[i] = local
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	for _, e := range errs {
		if e != nil {
			return 0, 0, 0, 0, e
		}
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	cpuPerConn = float64(cpu.Microseconds()) / float64(max(len(all), 1))
	return float64(len(all)) / elapsed.Seconds(), percentile(all, 50), percentile(all, 99), cpuPerConn, nil
}
