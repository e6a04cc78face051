//go:build linux

package plugins_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// The W6 benchmarks compare each of a plugin's data paths with the
// backend that does the same work in-process: handed-off sockets with
// epoll (the host's default in-process backend, which runs them), and the
// byte path with stdnet (the backend the test plugin runs). The plugin is
// a real process, and so is the server, as servers are; client, server
// and plugin share the machine's cores.
//
//	go test -run '^$' -bench W6 -benchtime 30x ./plugins
//
// Each iteration runs the contenders in turn (epoll, handoff, stdnet,
// bytes) on the same server, and the benchmarks report the median over
// the iterations of each contender's figure and of its ratio to its
// in-process counterpart in the same iteration, so the ratios come from
// one run under the same load and a burst of noise moves one sample, not
// the result.

// serverProcess runs a benchmark server ("bulk" or "echo", see
// runServer) in a process of its own, as servers are, and returns its
// address. It ends when tb does.
func serverProcess(tb testing.TB, kind string) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envServer+"="+kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close() // the server exits when its stdin closes
		cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// runServer serves kind on 127.0.0.1 until stdin closes: "bulk" writes to
// every connection until it closes, "echo" echoes. It prints the address
// first.
func runServer(kind string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	buf := make([]byte, 256<<10)
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			if kind == "echo" {
				io.Copy(c, c)
				return
			}
			for {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

// contender is one way of dialing, measured against the contender at
// index base (itself when base is its own index).
type contender struct {
	name string
	b    transport.Backend
	base int
}

func contenders(b *testing.B) []contender {
	ep, err := registry.Open("epoll", transport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ep.Close() })
	sn, err := stdnet.Open(transport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sn.Close() })
	return []contender{
		{"epoll", ep, 0},
		{"handoff", openSubprocess(b, testConfig{}, transport.Options{}), 0},
		{"stdnet", sn, 2},
		{"bytes", openSubprocess(b, testConfig{Bytes: "all"}, transport.Options{}), 2},
	}
}

// BenchmarkW6Bulk reads bulkChunk bytes per contender per iteration from a
// server that writes as fast as it can, and reports each contender's
// median GiB/s and the median of its per-iteration ratio to its in-process
// counterpart.
// Each turn first reads bulkFlush bytes untimed: what the socket buffers
// (and the plugin) hold from while other contenders ran would otherwise
// count as instant.
func BenchmarkW6Bulk(b *testing.B) {
	const (
		bulkChunk = 32 << 20
		bulkFlush = 16 << 20
	)
	addr := serverProcess(b, "bulk")
	buf := make([]byte, 256<<10)
	read := func(s transport.Stream, total int) {
		for n := 0; n < total; {
			m, err := s.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
	runW6(b, addr, func(s transport.Stream) {
		b.StopTimer()
		read(s, bulkFlush)
		b.StartTimer()
	}, func(s transport.Stream) {
		read(s, bulkChunk)
	}, func(d time.Duration) float64 {
		return float64(bulkChunk) / (1 << 30) / d.Seconds()
	}, "GiB/s")
}

// BenchmarkW6RoundTrip does rtRounds 1-byte round trips per contender per
// iteration against an echo server, and reports each contender's median
// µs per round trip and the median of its per-iteration ratio to its
// in-process counterpart.
func BenchmarkW6RoundTrip(b *testing.B) {
	const rtRounds = 500
	addr := serverProcess(b, "echo")
	one := []byte{'x'}
	got := make([]byte, 1)
	runW6(b, addr, nil, func(s transport.Stream) {
		for range rtRounds {
			if _, err := s.Write(one); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(s, got); err != nil {
				b.Fatal(err)
			}
		}
	}, func(d time.Duration) float64 {
		return d.Seconds() * 1e6 / rtRounds
	}, "µs/trip")
}

// runW6 dials addr with every contender and runs work on each in turn,
// b.N times, timing each run (after prepare, if not nil, which is not
// timed). metric turns a run's time into the figure reported as unit;
// ratios are contender/counterpart of that figure.
func runW6(b *testing.B, addr string, prepare, work func(transport.Stream), metric func(time.Duration) float64, unit string) {
	cs := contenders(b)
	streams := make([]transport.Stream, len(cs))
	for i, c := range cs {
		s, err := c.b.Dial(dialCtx(b), "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		streams[i] = s
		work(s) // warm up
	}
	figures := make([][]float64, len(cs))
	ratios := make([][]float64, len(cs))
	b.ResetTimer()
	for range b.N {
		for i, s := range streams {
			if prepare != nil {
				prepare(s)
			}
			start := time.Now()
			work(s)
			figures[i] = append(figures[i], metric(time.Since(start)))
		}
		for i, c := range cs {
			if c.base != i {
				ratios[i] = append(ratios[i], figures[i][len(figures[i])-1]/figures[c.base][len(figures[c.base])-1])
			}
		}
	}
	b.StopTimer()
	for i, c := range cs {
		b.ReportMetric(median(figures[i]), c.name+"_"+unit)
		if c.base != i {
			b.ReportMetric(median(ratios[i]), c.name+"/"+cs[c.base].name)
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
