package parity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/transport"
)

// A variant is the path a scenario's requests take: which server, by
// which protocol, and how each transport is set to take it.
type variant struct {
	name   string
	server string // role of the server: go-h1, go-tls, go-h2c, nginx, nginx-tls
	host   string // "127.0.0.1" or "localhost"
	proxy  string // set by proxy scenarios: the role of the proxy
	ref    func(*http.Transport)
	cand   func(*protocols.Transport)
}

// goServer reports whether the variant's server is the Go handler,
// which the mock backend can serve too.
func (v *variant) goServer() bool { return strings.HasPrefix(v.server, "go-") }

func (v *variant) scheme() string {
	if strings.HasSuffix(v.server, "-tls") {
		return "https"
	}
	return "http"
}

// onlyHTTP1 offers HTTP/1.1 alone.
func onlyHTTP1(tr *http.Transport) { tr.Protocols = protocolsOf(true, false, false) }

// variants by name.
var variants = map[string]*variant{
	"h1": {name: "h1", server: "go-h1", host: "127.0.0.1",
		ref: onlyHTTP1, cand: func(*protocols.Transport) {}},
	"h1-tls": {name: "h1-tls", server: "go-tls", host: "127.0.0.1",
		ref:  onlyHTTP1,
		cand: func(tr *protocols.Transport) { tr.NextProtos = []string{protocols.ProtoHTTP11} }},
	"h2": {name: "h2", server: "go-tls", host: "127.0.0.1",
		ref:  func(tr *http.Transport) { tr.Protocols = protocolsOf(true, true, false) },
		cand: func(*protocols.Transport) {}},
	"h2c": {name: "h2c", server: "go-h2c", host: "127.0.0.1",
		ref:  func(tr *http.Transport) { tr.Protocols = protocolsOf(false, false, true) },
		cand: func(tr *protocols.Transport) { tr.H2C = true }},
	"h1-localhost": {name: "h1-localhost", server: "go-h1", host: "localhost",
		ref: onlyHTTP1, cand: func(*protocols.Transport) {}},
	"nginx-h1": {name: "nginx-h1", server: "nginx", host: "127.0.0.1",
		ref: onlyHTTP1, cand: func(*protocols.Transport) {}},
	"nginx-h2": {name: "nginx-h2", server: "nginx-tls", host: "127.0.0.1",
		ref:  func(tr *http.Transport) { tr.Protocols = protocolsOf(true, true, false) },
		cand: func(*protocols.Transport) {}},
}

// Variant groups for the scenarios.
var (
	goAll     = []string{"h1", "h1-tls", "h2", "h2c"}
	goH1      = []string{"h1", "h1-tls"}
	allServed = []string{"h1", "h1-tls", "h2", "h2c", "nginx-h1", "nginx-h2"}
	proxied   = []string{"h1", "h1-tls", "h2"}
)

// knobs are the transport settings a scenario changes, set the same on
// both transports.
type knobs struct {
	disableKeepAlives     bool
	disableCompression    bool
	maxConnsPerHost       int
	maxIdleConns          int
	idleConnTimeout       time.Duration
	responseHeaderTimeout time.Duration
	expectContinueTimeout time.Duration
	proxy                 func(e *env) func(*http.Request) (*url.URL, error)
	proxyConnectHeader    http.Header
}

// A scenario is one thing a net/http user does, run through both
// transports on each variant it lists.
type scenario struct {
	name     string
	variants []string
	knobs    knobs
	jar      bool          // the client has a cookie jar
	timeout  time.Duration // Client.Timeout
	proxied  bool          // requests go through a real proxy: the mock cannot run it
	run      func(r *run)
	// check asserts what the scenario is about on net/http's
	// observation, so that a scenario that stopped testing anything
	// fails.
	check func(ref *observation) error
}

// run is one run of a scenario through one transport.
type run struct {
	t      *testing.T
	e      *env
	v      *variant
	token  string
	client *http.Client
	rt     interface {
		http.RoundTripper
		CloseIdleConnections()
	}
	clone func() http.RoundTripper // the transport's Clone

	mu    sync.Mutex
	steps []*observation
}

// addr is the variant's server address with the variant's host.
func (r *run) addr() string {
	var a string
	switch r.v.server {
	case "go-h1":
		a = r.e.goH1
	case "go-tls":
		a = r.e.goTLS
	case "go-h2c":
		a = r.e.goH2C
	case "nginx":
		a = r.e.nginx.Addr
	case "nginx-tls":
		a = r.e.nginx.TLSAddr
	}
	_, port, _ := net.SplitHostPort(a)
	return net.JoinHostPort(r.v.host, port)
}

// url is the URL of path in this run's space on the server.
func (r *run) url(path string) string {
	return r.v.scheme() + "://" + r.addr() + "/r/" + r.token + path
}

// request makes a request with a 10 s safety deadline.
func (r *run) request(ctx context.Context, method, path string, body io.Reader) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, r.url(path), body)
	if err != nil {
		r.t.Fatal(err)
	}
	return req
}

// readAll is how a step reads a body by default.
func readAll(_ context.CancelFunc, resp *http.Response) ([]byte, error) { return io.ReadAll(resp.Body) }

// do sends req with client, reads the body with read (readAll if nil)
// and records the step. cancel is req's context's cancel, for readers
// that cancel mid-body.
func (r *run) do(client *http.Client, req *http.Request, cancel context.CancelFunc, read func(context.CancelFunc, *http.Response) ([]byte, error)) {
	if read == nil {
		read = readAll
	}
	if cancel == nil {
		cancel = func() {}
	}
	tr := &tracer{roles: r.e.roles, token: r.token}
	ctx, stop := context.WithTimeout(httptrace.WithClientTrace(req.Context(), tr.clientTrace()), 10*time.Second)
	defer stop()
	req = req.WithContext(ctx)
	o := &observation{}
	o.add("request", req.Method+" "+strings.TrimPrefix(req.URL.RequestURI(), "/r/"+r.token))
	resp, err := client.Do(req)
	o.add("error", errString(err))
	if err == nil {
		o.add("status", resp.Status)
		o.add("proto", resp.Proto)
		tlsProto := "none"
		if resp.TLS != nil {
			tlsProto = resp.TLS.NegotiatedProtocol
		}
		o.add("tls", tlsProto)
		o.add("final-url", strings.Replace(resp.Request.URL.Path, "/r/"+r.token, "", 1))
		o.add("header", headerString(resp.Header))
		o.add("content-length", fmt.Sprint(resp.ContentLength))
		o.add("transfer-encoding", fmt.Sprint(resp.TransferEncoding))
		o.add("uncompressed", fmt.Sprint(resp.Uncompressed))
		o.add("close", fmt.Sprint(resp.Close))
		body, berr := read(cancel, resp)
		resp.Body.Close()
		o.add("body", bodyString(body))
		o.add("body-error", errString(berr))
		o.add("trailer", headerString(resp.Trailer))
	}
	o.add("trace", tr.canonical())
	r.mu.Lock()
	r.steps = append(r.steps, o)
	r.mu.Unlock()
}

// get is a GET of path read to its end.
func (r *run) get(path string) {
	r.do(r.client, r.request(context.Background(), "GET", path, nil), nil, nil)
}

// concurrently runs fns at once; their steps are recorded in a canonical
// order (sorted), since which one goes first is up to the scheduler.
func (r *run) concurrently(fns ...func()) {
	r.mu.Lock()
	from := len(r.steps)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	part := r.steps[from:]
	sort.SliceStable(part, func(i, j int) bool { return part[i].String() < part[j].String() })
}

// newToken returns a fresh run token.
func newToken() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// execute runs s on v through rt and returns the observation.
func (e *env) execute(t *testing.T, s *scenario, v *variant, rt interface {
	http.RoundTripper
	CloseIdleConnections()
}, clone func() http.RoundTripper) *observation {
	r := &run{t: t, e: e, v: v, token: newToken(), rt: rt, clone: clone}
	r.client = &http.Client{Transport: rt, Timeout: s.timeout}
	if s.jar {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		r.client.Jar = jar
	}
	var proxyLog func() []string
	if v.proxy != "" || s.proxied || s.knobs.proxy != nil {
		proxyLog = e.proxyLog()
	}
	s.run(r)
	rt.CloseIdleConnections()
	o := &observation{}
	for i, st := range r.steps {
		for _, f := range st.fields {
			o.add(fmt.Sprintf("%d.%s", i+1, f.key), f.value)
		}
	}
	server, conns := e.serverSaw(t, v, r.token)
	o.add("server", "["+strings.Join(server, " | ")+"]")
	o.add("server-connections", fmt.Sprint(conns))
	if proxyLog != nil {
		o.add("proxy", "["+strings.Join(proxyLog(), " | ")+"]")
	}
	return o
}

// serverSaw returns what the server saw of a run: the Go handler's
// records, or nginx's access log.
func (e *env) serverSaw(t *testing.T, v *variant, token string) ([]string, int) {
	if v.goServer() {
		return e.rec.snapshot(token)
	}
	var lines []string
	conns := map[int64]string{}
	deadline := time.Now().Add(2 * time.Second)
	for {
		entries, err := e.nginx.AccessLog()
		if err != nil {
			t.Fatal(err)
		}
		lines = lines[:0]
		clear(conns)
		for _, a := range entries {
			if !strings.Contains(a.Request, "/r/"+token+"/") {
				continue
			}
			if conns[a.Connection] == "" {
				conns[a.Connection] = fmt.Sprintf("c%d", len(conns)+1)
			}
			req := strings.Replace(a.Request, "/r/"+token, "", 1)
			lines = append(lines, fmt.Sprintf("%s: %s %d ae=%q conn=%q len=%q te=%q ua=%q sent=%d",
				conns[a.Connection], req, a.Status, a.AcceptEncoding, a.ConnectionHeader, a.ContentLength, a.TransferEncoding, a.UserAgent, a.BodyBytesSent))
		}
		// nginx logs a request when it ends, which can be just after
		// the client read the response: wait for a quiet log.
		if time.Now().After(deadline) {
			return lines, len(conns)
		}
		time.Sleep(100 * time.Millisecond)
		again, _ := e.nginx.AccessLog()
		if len(again) == len(entries) {
			return lines, len(conns)
		}
	}
}

// proxyLog returns a function that lists the requests the proxies
// received since now.
func (e *env) proxyLog() func() []string {
	from := map[string]int{}
	for _, p := range []*tinyproxyRef{{"tinyproxy", e.tinyproxyRequests}, {"tinyproxy-auth", e.authProxyRequests}} {
		from[p.name] = len(p.requests())
	}
	return func() []string {
		var out []string
		for _, p := range []*tinyproxyRef{{"tinyproxy", e.tinyproxyRequests}, {"tinyproxy-auth", e.authProxyRequests}} {
			reqs := p.requests()
			for _, l := range reqs[min(from[p.name], len(reqs)):] {
				out = append(out, p.name+": "+e.anonymise(l))
			}
		}
		return out
	}
}

type tinyproxyRef struct {
	name     string
	requests func() []string
}

func (e *env) tinyproxyRequests() []string {
	r, _ := e.tinyproxy.Requests()
	return r
}

func (e *env) authProxyRequests() []string {
	r, _ := e.authProxy.Requests()
	return r
}

// anonymise replaces run tokens and addresses in a proxy's request line
// by their roles.
func (e *env) anonymise(line string) string {
	if i := strings.Index(line, "/r/"); i >= 0 {
		if j := strings.Index(line[i+3:], "/"); j >= 0 {
			line = line[:i] + line[i+3+j:]
		}
	}
	for addr, role := range e.roles {
		line = strings.ReplaceAll(line, addr, role)
	}
	return line
}

// refTransport is net/http's Transport for a run.
func (e *env) refTransport(s *scenario, v *variant) *http.Transport {
	k := s.knobs
	tr := &http.Transport{
		TLSClientConfig:       e.certs.ClientConfig(),
		DisableKeepAlives:     k.disableKeepAlives,
		DisableCompression:    k.disableCompression,
		MaxConnsPerHost:       k.maxConnsPerHost,
		MaxIdleConns:          k.maxIdleConns,
		IdleConnTimeout:       k.idleConnTimeout,
		ResponseHeaderTimeout: k.responseHeaderTimeout,
		ExpectContinueTimeout: k.expectContinueTimeout,
		ProxyConnectHeader:    k.proxyConnectHeader,
	}
	if k.proxy != nil {
		tr.Proxy = k.proxy(e)
	}
	v.ref(tr)
	return tr
}

// candTransport is protocols.Transport on backend b for a run. Knobs
// whose field protocols.Transport lacks skip the run (fields_test.go).
func (e *env) candTransport(t *testing.T, s *scenario, v *variant, b transport.Backend) *protocols.Transport {
	k := s.knobs
	tr := &protocols.Transport{
		Backend:               b,
		TLSClientConfig:       e.certs.ClientConfig(),
		DisableKeepAlives:     k.disableKeepAlives,
		MaxConnsPerHost:       k.maxConnsPerHost,
		IdleConnTimeout:       k.idleConnTimeout,
		ResponseHeaderTimeout: k.responseHeaderTimeout,
		ExpectContinueTimeout: k.expectContinueTimeout,
	}
	if k.proxy != nil {
		setProxy(t, tr, k.proxy(e))
	}
	if k.proxyConnectHeader != nil {
		setProxyConnectHeader(t, tr, k.proxyConnectHeader)
	}
	if k.disableCompression {
		setDisableCompression(t, tr, true)
	}
	if k.maxIdleConns != 0 {
		setMaxIdleConns(t, tr, k.maxIdleConns)
	}
	v.cand(tr)
	return tr
}

// result is the outcome of one comparison, for the report.
type result struct {
	scenario, variant, transport, status string
}

// report collects the outcomes.
type report struct {
	mu      sync.Mutex
	results []result
}

func (rp *report) add(res result) {
	rp.mu.Lock()
	rp.results = append(rp.results, res)
	rp.mu.Unlock()
}

// table renders the outcomes: a row per scenario and variant, a column
// per transport.
func (rp *report) table(columns []string) string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	type rowKey struct{ s, v string }
	var rows []rowKey
	cells := map[rowKey]map[string]string{}
	for _, res := range rp.results {
		k := rowKey{res.scenario, res.variant}
		if cells[k] == nil {
			cells[k] = map[string]string{}
			rows = append(rows, k)
		}
		cells[k][res.transport] = res.status
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | variant | %s |\n|---|---|%s\n", strings.Join(columns, " | "), strings.Repeat("---|", len(columns)))
	for _, k := range rows {
		var cs []string
		for _, c := range columns {
			v := cells[k][c]
			if v == "" {
				v = "-"
			}
			cs = append(cs, v)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", k.s, k.v, strings.Join(cs, " | "))
	}
	return b.String()
}

// outcome names how a subtest ended; kinds are the observation keys
// (without the request number) that differed.
func outcome(t *testing.T, na *bool, kinds []string) string {
	switch {
	case *na:
		return "n/a"
	case t.Skipped():
		return "skip"
	case t.Failed() && len(kinds) > 0:
		return "FAIL: " + strings.Join(kinds, " ")
	case t.Failed():
		return "FAIL"
	}
	return "pass"
}

// diffKinds returns the sorted keys of the differences, without their
// request numbers.
func diffKinds(ds []string) []string {
	set := map[string]bool{}
	for _, d := range ds {
		k, _, _ := strings.Cut(d, ":")
		if _, after, ok := strings.Cut(k, "."); ok {
			k = after
		}
		set[k] = true
	}
	kinds := make([]string, 0, len(set))
	for k := range set {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// TestParity runs every scenario on every variant through net/http's
// Transport and through protocols.Transport on each backend, and
// compares what a caller observes. Differences not listed in
// intendedDifferences fail the run.
func TestParity(t *testing.T) {
	e := startEnv(t)
	rp := &report{}
	seen := map[*difference]bool{}
	applicable := map[*difference]bool{}
	var seenMu sync.Mutex
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			for _, vn := range s.variants {
				v := variants[vn]
				if v == nil {
					t.Fatalf("unknown variant %q", vn)
				}
				if s.proxied {
					vc := *v
					vc.proxy = s.name
					v = &vc
				}
				t.Run(vn, func(t *testing.T) {
					var ref *observation
					refOK := t.Run("net-http", func(t *testing.T) {
						na := false
						defer func() { rp.add(result{s.name, vn, "net/http", outcome(t, &na, nil)}) }()
						tr := e.refTransport(s, v)
						defer tr.CloseIdleConnections()
						ref = e.execute(t, s, v, tr, func() http.RoundTripper { return tr.Clone() })
						if s.check != nil {
							if err := s.check(ref); err != nil {
								t.Fatalf("net/http does not show what the scenario is about: %v\n%s", err, ref)
							}
						}
					})
					for _, b := range e.backends {
						t.Run(b.name, func(t *testing.T) {
							na := false
							var kinds []string
							defer func() { rp.add(result{s.name, vn, b.name, outcome(t, &na, kinds)}) }()
							if !refOK || ref == nil {
								t.Skip("net/http's run failed")
							}
							be, ok := b.open(t, v)
							if !ok || (b.name == "mock" && s.proxied) {
								na = true
								t.Skipf("n/a: %s cannot reach %s", b.name, v.server)
							}
							tr := e.candTransport(t, s, v, be)
							defer tr.Close()
							clone := func() http.RoundTripper { return cloneTransport(t, tr) }
							cand := e.execute(t, s, v, tr, clone)
							r0, c0 := ref.clone(), cand.clone()
							for _, d := range intendedDifferences {
								if d.docOnly || !d.applies(s.name, vn, b.name) {
									continue
								}
								found := d.normalize(r0, c0)
								seenMu.Lock()
								applicable[d] = true
								seen[d] = seen[d] || found
								seenMu.Unlock()
								if found {
									t.Logf("intended difference %q: %s", d.name, d.reason)
								}
							}
							if ds := diff(r0, c0); len(ds) > 0 {
								kinds = diffKinds(ds)
								t.Errorf("%s differs from net/http on %d points:\n%s", b.name, len(ds), strings.Join(ds, "\n"))
							}
						})
					}
				})
			}
		})
	}
	for _, d := range intendedDifferences {
		if applicable[d] && !seen[d] {
			t.Errorf("intended difference %q was not seen in any run it applies to: remove it from intendedDifferences and the doc", d.name)
		}
	}
	columns := []string{"net/http"}
	for _, b := range e.backends {
		columns = append(columns, b.name)
	}
	table := rp.table(columns)
	t.Logf("parity report:\n%s", table)
	if path := os.Getenv("PARITY_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}
