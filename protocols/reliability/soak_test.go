package reliability

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

var (
	soakFor     = flag.Duration("soak", time.Minute, "how long TestSoak runs")
	soakBackend = flag.String("soak.backend", "epoll", "the backend TestSoak dials with")
)

// The soak's load and chaos.
const (
	soakCallers  = 16               // half over HTTP/1.1, half over HTTP/2
	soakTimeout  = 10 * time.Second // bounds each request: nothing may hang
	soakPostBody = 64
)

var soakChaos = chaosConfig{
	resetShare: 0.01, delayShare: 0.05,
	delayMin: 10 * time.Millisecond, delayMax: 50 * time.Millisecond,
	resetQuiet: 5 * time.Millisecond, resetTurns: 3,
}

// The request kinds of the soak.
const (
	kindGet          = iota // GET /hello: idempotent, must always succeed
	kindPostGetBody         // POST /post with GetBody: replayable if not processed
	kindPostOnceBody        // POST /post whose body can be read once
	kinds
)

var kindNames = [kinds]string{"GET", "POST+GetBody", "POST"}

// failureKinds are the typed errors a POST may fail with, first match
// first.
var failureKinds = []struct {
	name string
	err  error
}{
	{"not processed", h2.ErrRetryable},
	{"server closed before responding", h1.ErrServerClosed},
	{"ECONNRESET", syscall.ECONNRESET},
	{"EPIPE", syscall.EPIPE},
	{"unexpected EOF", io.ErrUnexpectedEOF},
	{"EOF", io.EOF},
	{"closed", net.ErrClosed},
	{"timeout", os.ErrDeadlineExceeded},
}

// soakTally counts the soak's requests and failures.
type soakTally struct {
	mu       sync.Mutex
	sent     [2][kinds]int  // by HTTP/2 and kind
	failed   [2][kinds]int  // by HTTP/2 and kind
	why      map[string]int // failures by "proto kind: category"
	getErrs  []error        // failed GETs (the first few)
	untyped  []error        // failures that match no known error (the first few)
	timeouts []error        // requests that hit soakTimeout (the first few)
	mismatch int            // responses with the wrong status or body
	// connects counts the connection attempts the requests saw through
	// httptrace (ConnectStart); redialed counts the requests that saw
	// more than one: a request replayed on a connection of its own.
	connects, redialed int
}

// keepErrs is how many errors of each list a soak keeps to report.
const keepErrs = 5

func keep(list []error, err error) []error {
	if len(list) < keepErrs {
		list = append(list, err)
	}
	return list
}

// TestSoak runs GETs and POSTs from 16 callers for -soak (a minute by
// default) through one Transport to nginx, which closes connections idle
// for a second and ends each after five requests, over HTTP/1.1 in clear
// text and HTTP/2 over TLS, through a chaos proxy that resets 1% of the
// connections and delays 5%. Every GET must succeed; a POST may fail,
// with a typed error; goroutines, descriptors and the heap must stay
// flat.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for a minute; skipped with -short")
	}
	transporttest.VerifyNoLeaks(t)
	p, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	ng := startNginx(t, p)
	seed := uint64(time.Now().UnixNano())
	plain := startChaos(t, ng.plain, soakChaos, seed)
	secure := startChaos(t, ng.secure, soakChaos, seed+1)
	b, err := registry.Open(*soakBackend, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tr := &protocols.Transport{Backend: b, TLSClientConfig: p.ClientConfig()}
	defer tr.Close()

	// The baseline: everything the soak needs is up, and no request
	// has been sent.
	runtime.GC()
	baseGoroutines := goleak.IgnoreCurrent()
	baseFDs := countFDs(t)
	baseNum := runtime.NumGoroutine()

	tally := &soakTally{why: map[string]int{}}
	start := time.Now()
	end := start.Add(*soakFor)

	var peakG, peakFD atomic.Int64
	sampleDone := make(chan struct{})
	var samplers sync.WaitGroup
	samplers.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampleDone:
				return
			case <-tick.C:
				maxInto(&peakG, int64(runtime.NumGoroutine()))
				if n, err := openFDs(); err == nil {
					maxInto(&peakFD, int64(n))
				}
			}
		}
	})
	var heapQuarter uint64
	samplers.Go(func() {
		select {
		case <-sampleDone:
		case <-time.After(*soakFor / 4):
			heapQuarter = heapInuse()
		}
	})

	var callers sync.WaitGroup
	for i := range soakCallers {
		base := "http://" + plain.addr()
		if i%2 == 1 {
			base = "https://" + secure.addr()
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		callers.Go(func() {
			for time.Now().Before(end) {
				soakRequest(tr, base, rng, tally)
				// Think time: mostly short; sometimes long enough for
				// connections to sit idle in the pool (where the chaos
				// proxy resets them) or for nginx to close them.
				switch r := rng.Float64(); {
				case r < 0.01:
					time.Sleep(time.Second + time.Duration(rng.Int64N(int64(300*time.Millisecond))))
				case r < 0.11:
					time.Sleep(20*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond))))
				default:
					time.Sleep(time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
				}
			}
		})
	}
	callers.Wait()
	elapsed := time.Since(start)
	close(sampleDone)
	samplers.Wait()
	heapEnd := heapInuse()
	stats := tr.Stats()

	var total, failed int
	for h := range 2 {
		for k := range kinds {
			total += tally.sent[h][k]
			failed += tally.failed[h][k]
		}
	}
	t.Logf("soak on %s for %v (seed %d): %d requests (%.0f/s), %d failed", b.Name(), elapsed.Round(time.Second), seed, total, float64(total)/elapsed.Seconds(), failed)
	for h, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		for k := range kinds {
			t.Logf("  %-8s %-12s %7d sent %5d failed", proto, kindNames[k], tally.sent[h][k], tally.failed[h][k])
		}
	}
	whys := make([]string, 0, len(tally.why))
	for w := range tally.why {
		whys = append(whys, w)
	}
	slices.Sort(whys)
	for _, w := range whys {
		t.Logf("  failures %-50s %d", w, tally.why[w])
	}
	proxied := plain.accepted.Load() + secure.accepted.Load()
	t.Logf("connections: %d dialed by the transport (%.3f per request; %d seen by the requests' httptrace, %d requests dialed more than once), %d through the proxy; chaos reset %d, delayed %d; nginx reset %d",
		stats.Dials, float64(stats.Dials)/float64(max(total, 1)), tally.connects, tally.redialed, proxied,
		plain.resets.Load()+secure.resets.Load(), plain.delayed.Load()+secure.delayed.Load(),
		plain.upstreamResets.Load()+secure.upstreamResets.Load())
	t.Logf("goroutines: %d at the start, peak %d; fds: %d at the start, peak %d; HeapInuse after GC: %.1f MiB at 1/4, %.1f MiB at the end",
		baseNum, peakG.Load(), baseFDs, peakFD.Load(), mib(heapQuarter), mib(heapEnd))

	// Failures, the first few of each kind (the counts are above).
	for _, err := range tally.getErrs {
		t.Errorf("a GET failed: %v\nchain: %s", err, chain(err))
	}
	for _, err := range tally.untyped {
		t.Errorf("a request failed with an error of no known type: %v\nchain: %s", err, chain(err))
	}
	for _, err := range tally.timeouts {
		t.Errorf("a request hung until its %v timeout: %v", soakTimeout, err)
	}
	if tally.mismatch > 0 {
		t.Errorf("%d responses had the wrong status or body", tally.mismatch)
	}
	if *soakFor >= 30*time.Second && plain.resets.Load()+secure.resets.Load() == 0 {
		t.Errorf("the chaos proxy reset no connection: the soak proved nothing about resets")
	}
	if heapQuarter > 0 {
		if limit := heapQuarter + max(heapQuarter/2, 8<<20); heapEnd > limit {
			t.Errorf("heap grew: HeapInuse %.1f MiB at the end, %.1f MiB at 1/4 (limit %.1f MiB)", mib(heapEnd), mib(heapQuarter), mib(limit))
		}
	}

	// Back to the baseline once the transport is closed.
	tr.Close()
	if !eventually(5*time.Second, func() bool { return plain.open()+secure.open() == 0 }) {
		t.Errorf("%d connections still open at the proxy after Close", plain.open()+secure.open())
	}
	var gerr error
	if !eventually(5*time.Second, func() bool { gerr = goleak.Find(baseGoroutines); return gerr == nil }) {
		t.Errorf("goroutines left after Close: %v", gerr)
	}
	var fds int
	if !eventually(5*time.Second, func() bool { fds = countFDs(t); return fds <= baseFDs }) {
		t.Errorf("%d fds open after Close, %d at the start", fds, baseFDs)
	}
}

// soakRequest sends one request of a random kind and records how it
// went.
func soakRequest(tr *protocols.Transport, base string, rng *rand.Rand, tally *soakTally) {
	kind := kindGet
	switch r := rng.Float64(); {
	case r < 0.15:
		kind = kindPostGetBody
	case r < 0.30:
		kind = kindPostOnceBody
	}
	ctx, cancel := context.WithTimeout(context.Background(), soakTimeout)
	defer cancel()
	var connects atomic.Int64
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart: func(string, string) { connects.Add(1) },
	})
	var req *http.Request
	var err error
	want := "hello"
	switch kind {
	case kindGet:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/hello", nil)
	case kindPostGetBody:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/post", bytes.NewReader(make([]byte, soakPostBody)))
		want = "ok"
	case kindPostOnceBody:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/post", io.NopCloser(bytes.NewReader(make([]byte, soakPostBody))))
		req.ContentLength = soakPostBody
		want = "ok"
	}
	if err != nil {
		panic(err)
	}
	h := 0
	if strings.HasPrefix(base, "https") {
		h = 1
	}
	var body []byte
	resp, err := tr.RoundTrip(req)
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || string(body) != want) {
			tally.mu.Lock()
			tally.mismatch++
			tally.mu.Unlock()
		}
	}
	tally.mu.Lock()
	defer tally.mu.Unlock()
	tally.sent[h][kind]++
	n := int(connects.Load())
	tally.connects += n
	if n > 1 {
		tally.redialed++
	}
	if err == nil {
		return
	}
	tally.failed[h][kind]++
	category := "untyped"
	for _, fk := range failureKinds {
		if errors.Is(err, fk.err) {
			category = fk.name
			break
		}
	}
	tally.why[fmt.Sprintf("%s %s: %s", [2]string{"HTTP/1.1", "HTTP/2"}[h], kindNames[kind], category)]++
	switch {
	case category == "untyped":
		tally.untyped = keep(tally.untyped, err)
	case category == "timeout":
		tally.timeouts = keep(tally.timeouts, err)
	}
	if kind == kindGet {
		tally.getErrs = keep(tally.getErrs, err)
	}
}

func maxInto(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// heapInuse returns HeapInuse after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// openFDs counts this process's open descriptors.
func openFDs() (int, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(entries) - 1, nil // the directory's own
}

func countFDs(t testing.TB) int {
	t.Helper()
	n, err := openFDs()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
