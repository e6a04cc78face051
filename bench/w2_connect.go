package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportkit/transportkit/transport"
)

var (
	flagW2Conc  = flag.String("w2-conc", "1,16", "W2: concurrent dialers")
	flagW2Drain = flag.Bool("w2-drain", true, "W2: before each sample, wait (up to 10 s) until the server has accepted every connection queued on its listener, so that no sample starts with the accept queue the previous contender filled")
)

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
	// metricDrops counts the connection attempts the kernel dropped because
	// the server's accept queue was full (TcpExt ListenOverflows, counted
	// for the whole machine). Each one costs its dialer a SYN retransmit,
	// one second, and so measures the server, not the client.
	metricDrops = Metric{Name: "syn_drops", Unit: "conns"}
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
	rep.Notes = append(rep.Notes, "syn_drops: connection attempts dropped by the kernel because the server's accept queue was full (TcpExt ListenOverflows during the sample, whole machine); each costs its dialer a one-second SYN retransmit, so a sample with drops measures the server's accept rate, not the client")
	if *flagW2Drain {
		rep.Notes = append(rep.Notes, "before each sample the client waits until the server's accept queue is empty (-w2-drain)")
	}
	for _, withTLS := range []bool{false, true} {
		for _, conc := range concs {
			name := fmt.Sprintf("tcp/%dconc", conc)
			addr := srv.Addrs.TCP
			if withTLS {
				name = fmt.Sprintf("tls/%dconc", conc)
				addr = srv.Addrs.TLS
			}
			c := rep.Case(name, metricConns, metricP99, metricP50, metricCPUConn, metricDrops)
			err := env.Interleave(func(round int, ct Contender) error {
				if *flagW2Drain {
					drainAccept(addr, 10*time.Second)
				}
				drops0 := listenOverflows()
				rate, p50, p99, cpu, err := connectSample(ct, addr, withTLS, conc, env.Duration)
				if err != nil {
					return err
				}
				c.Add(ct.Label, metricDrops.Name, float64(listenOverflows()-drops0))
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

// listenOverflows returns the machine's count of connection attempts
// dropped on a full accept queue (TcpExt ListenOverflows in
// /proc/net/netstat), or 0 where it cannot be read.
func listenOverflows() int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "ListenOverflows" && i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

// acceptQueue returns the number of connections waiting in the accept
// queue of the listener on addr's port (rx_queue of the LISTEN entry in
// /proc/net/tcp and tcp6), and false if there is no such listener or the
// tables cannot be read.
func acceptQueue(addr string) (int64, bool) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, false
	}
	want := fmt.Sprintf(":%04X", port)
	found := false
	var total int64
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx_queue:rx_queue ...
			if len(f) < 5 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
				continue
			}
			_, rx, ok := strings.Cut(f[4], ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(rx, 16, 64)
			if err != nil {
				continue
			}
			found = true
			total += n
		}
	}
	return total, found
}

// drainAccept waits until the server behind addr has accepted every queued
// connection, or until limit passes.
func drainAccept(addr string, limit time.Duration) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if n, ok := acceptQueue(addr); !ok || n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
