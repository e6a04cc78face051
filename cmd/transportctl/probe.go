package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// Protocol IDs: ALPN's, and h2c for HTTP/2 with prior knowledge.
const (
	alpnH2    = protocols.ProtoH2
	alpnHTTP1 = protocols.ProtoHTTP11
	protoH2C  = protocols.ProtoH2C
)

const probeLong = `probe fetches URL with each backend, in turn, through the library's own
HTTP path: a protocols.Transport on that backend (the http.RoundTripper a
program using transportkit runs), with a fresh connection for each fetch.
It prints one row per backend, side by side: the negotiated protocol (h2
or http/1.1 by ALPN, h2c for HTTP/2 with prior knowledge over clear text,
http/1.1 for other http URLs), the HTTP status, the remote address and the
time of each phase, as net/http/httptrace reports them:
  DNS      the name lookup ("-" for an IP address, or a backend that
           resolves elsewhere)
  CONNECT  the TCP connect ("-" when the backend does its own TLS and
           reports it as one step)
  TLS      the TLS handshake
  TTFB     from the request written to the first byte of the response
  TOTAL    from the start of the fetch to the end of the body
A plugin backend's process is started before its first fetch, so that
its launch is in no phase: NOTE (and "launch_ms" in --json) says how
long it took.
With --count N each backend fetches N times and the row shows each
phase's median (p50) and 99th percentile (p99). In --json a phase that
was not reached is null.

--proto chooses the protocol: auto (ALPN offers h2 and http/1.1), h1 (ALPN
offers only http/1.1), h2 (ALPN offers only h2 and the probe fails unless
the server chose it), h2c (HTTP/2 with prior knowledge, for http URLs).

Which backends: --backend a,b chooses (or TRANSPORTKIT_BACKEND, or the
config file's "backend", strongest first); they must exist and be
available here. When none is chosen, every backend is probed: those that
cannot run here (plugins the host refuses included, never launched), and
the in-memory mock against a real URL, are listed as skipped with the
reason.

Without URL, probe starts an HTTPS server on 127.0.0.1 (HTTP/2 and
HTTP/1.1 by ALPN, with a certificate made in memory that the probe trusts)
and probes it; the mock backend then serves the same handler over TLS in
memory. With --proto h2c that server speaks clear text (HTTP/1.1 and h2c)
instead.

Exit codes: 0 when every probe that ran succeeded (and at least one ran),
1 when a probe failed or none could run (or, with --fail, when a status
was 400 or above), 2 for bad usage, an unknown backend, a plugin that
refuses its config section or a plugin binary that is not a plugin.`

// probeFlags are the probe command's flags.
type probeFlags struct {
	asJSON   bool
	insecure bool
	fail     bool
	timeout  time.Duration
	proto    string
	count    int
	method   string
	headers  []string
	cacert   string
}

// phases are the measured phases of a fetch, in milliseconds; nil for a
// phase not reached (or not made, like DNS for an IP address).
type phases struct {
	DNS     *float64 `json:"dns_ms"`
	Connect *float64 `json:"connect_ms"`
	TLS     *float64 `json:"tls_ms"`
	TTFB    *float64 `json:"ttfb_ms"`
	Total   *float64 `json:"total_ms"`
}

// probeRow is one backend's line of the probe report; the json tags are
// the --json format.
type probeRow struct {
	Backend    string `json:"backend"`
	URL        string `json:"url"`
	OK         bool   `json:"ok"`
	Skipped    bool   `json:"skipped"`
	Status     int    `json:"status,omitempty"`
	Proto      string `json:"proto,omitempty"`    // the response's HTTP version, "HTTP/2.0"
	ALPN       string `json:"alpn,omitempty"`     // what ALPN chose
	Protocol   string `json:"protocol,omitempty"` // h2, http/1.1 or h2c
	RemoteAddr string `json:"remote_addr,omitempty"`
	Bytes      int64  `json:"bytes"`
	Count      int    `json:"count"`
	// The phases' medians (p50), and with --count > 1 their p99.
	phases
	P99   *phases `json:"p99,omitempty"`
	Error string  `json:"error,omitempty"`
	Note  string  `json:"note,omitempty"`
	// Launch is the time the plugin's process took to start, before the
	// first fetch and apart from its phases; nil for a backend that is
	// not a plugin.
	Launch *float64 `json:"launch_ms,omitempty"`

	// usage is the row's error when it is the user's to fix (exit 2):
	// a plugin path that is not a plugin, or a plugin refusing its config.
	usage error
}

func newProbeCmd(a *app) *cobra.Command {
	var pf probeFlags
	cmd := &cobra.Command{
		Use:   "probe [URL]",
		Short: "Fetch URL with each backend and compare the phases",
		Long:  probeLong,
		Example: `  transportctl probe                        # embedded server, every backend
  transportctl probe --backend stdnet,epoll --proto h1
  transportctl probe --proto h2c http://127.0.0.1:8080/
  transportctl probe --json https://example.com/
  transportctl probe --count 20 --timeout 3s --cacert ca.pem https://localhost:8443/
  transportctl probe -H 'Accept: text/plain' --method HEAD --fail https://localhost:8443/x`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.probe(cmd.Context(), pf, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&pf.asJSON, "json", false, "print a JSON array of rows instead of a table")
	f.BoolVar(&pf.insecure, "insecure", false, "do not verify the server's certificate (a warning is printed)")
	f.StringVar(&pf.cacert, "cacert", "", "PEM file of CA certificates to trust instead of the system's")
	f.DurationVar(&pf.timeout, "timeout", 10*time.Second, "bound for each fetch, dial to last byte")
	f.StringVar(&pf.proto, "proto", "auto", "HTTP version: auto (ALPN offers h2 and http/1.1), h1, h2, or h2c (HTTP/2 with prior knowledge over clear text)")
	f.IntVar(&pf.count, "count", 1, "fetches per backend, each on a new connection; the report shows p50 and p99")
	f.StringVar(&pf.method, "method", http.MethodGet, "request method")
	f.StringArrayVarP(&pf.headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	f.BoolVar(&pf.fail, "fail", false, "exit 1 when a response's status is 400 or above, as curl --fail does")
	return cmd
}

// target is what is probed.
type target struct {
	url    *url.URL
	server *embeddedServer // nil for a URL given on the command line
}

func (a *app) probe(ctx context.Context, pf probeFlags, args []string) error {
	hdr, err := pf.check()
	if err != nil {
		return err
	}
	tg, roots, stop, err := a.openTarget(args, pf.proto, pf.cacert, pf.insecure)
	if err != nil {
		return err
	}
	defer stop()
	picks, err := a.chooseBackends()
	if err != nil {
		return err
	}
	rows := make([]probeRow, 0, len(picks))
	for _, p := range picks {
		rows = append(rows, a.probeOne(ctx, pf, tg, p, roots, hdr))
		if ctx.Err() != nil {
			// Interrupted: the rows would only report the interruption.
			return context.Cause(ctx)
		}
	}
	if pf.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rows)
	} else {
		err = printProbeTable(a, tg, pf, rows)
	}
	if err != nil {
		return &failure{err}
	}
	return verdict(rows, pf.fail)
}

// check validates the flags and returns the request header of -H.
func (pf *probeFlags) check() (http.Header, error) {
	if !slices.Contains([]string{"auto", "h1", "h2", "h2c"}, pf.proto) {
		return nil, fmt.Errorf("--proto %q: want auto, h1, h2 or h2c", pf.proto)
	}
	if pf.count < 1 {
		return nil, fmt.Errorf("--count %d: want 1 or more", pf.count)
	}
	if pf.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: want a positive duration", pf.timeout)
	}
	if pf.method == "" || strings.ContainsAny(pf.method, " \t\r\n:/") {
		return nil, fmt.Errorf("--method %q: want a method token such as GET or HEAD", pf.method)
	}
	hdr := http.Header{}
	for _, h := range pf.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		hdr.Add(name, strings.TrimSpace(value))
	}
	return hdr, nil
}

// parseTarget checks a URL given on the command line.
func parseTarget(s, proto string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("URL %q: want an http or https URL with a host, such as https://example.com/", s)
	}
	if u.Scheme == "http" && proto == "h2" {
		return nil, fmt.Errorf("URL %q: --proto h2 needs https (use --proto h2c for HTTP/2 over clear text)", s)
	}
	if u.Scheme == "https" && proto == "h2c" {
		return nil, fmt.Errorf("URL %q: --proto h2c needs http (use --proto h2 over TLS)", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// probeOne opens p's backend, fetches tg pf.count times through it and
// sums it up in a row.
func (a *app) probeOne(ctx context.Context, pf probeFlags, tg target, p pick, roots *x509.CertPool, hdr http.Header) probeRow {
	row := probeRow{Backend: p.info.Name, URL: tg.url.Redacted()}
	if p.skip != "" {
		row.Skipped, row.Note = true, p.skip
		return row
	}
	b, err := p.open()
	if err != nil {
		row.Error, row.usage = err.Error(), usageError(err)
		return row
	}
	defer func() {
		if err := b.Close(); err != nil {
			a.log.Warn("closing backend", "backend", p.info.Name, "error", err)
		}
	}()
	if err := prepareInMemory(b, p.info, tg); err != nil {
		row.Skipped, row.Note = true, err.Error()
		return row
	}
	if slices.Contains(p.info.Capabilities, registry.CapTLS) && tg.url.Scheme == "https" {
		row.Note = "backend's own TLS"
	}
	// Start a plugin's process first, so that the first fetch's CONNECT
	// and TOTAL are the fetch's own, not the launch's.
	if _, isPlugin := b.(*plugins.Backend); isPlugin {
		took, err := plugins.Launch(ctx, b)
		if err != nil {
			row.Error, row.usage = err.Error(), usageError(err)
			return row
		}
		launch := ms64(took)
		row.Launch = &launch
		row.Note = strings.TrimPrefix(row.Note+fmt.Sprintf("; plugin launched in %.2fms", launch), "; ")
	}
	var runs []fetchResult
	for range pf.count {
		fctx, cancel := context.WithTimeout(ctx, pf.timeout)
		res := fetch(fctx, b, tg, pf, roots, hdr)
		cancel()
		runs = append(runs, res)
		if res.err != nil {
			row.Error, row.usage = res.err.Error(), usageError(res.err)
			a.log.Debug("probe failed", "backend", p.info.Name, "error", res.err)
			break
		}
	}
	row.Count = len(runs)
	last := runs[len(runs)-1]
	row.OK = row.Error == ""
	row.Status, row.Proto, row.ALPN, row.Protocol, row.Bytes, row.RemoteAddr =
		last.status, last.proto, last.alpn, last.protocol, last.bytes, last.remote
	row.phases = percentiles(runs, 0.5)
	if pf.count > 1 {
		p99 := percentiles(runs, 0.99)
		row.P99 = &p99
	}
	return row
}

// fetchResult is what one fetch saw.
type fetchResult struct {
	dns, connect, tls, ttfb, total *time.Duration

	status   int
	proto    string
	alpn     string
	protocol string
	remote   string
	bytes    int64
	err      error
}

// fetch makes one request of tg through a new protocols.Transport on b
// (so a new connection) and reads the whole body, timing each phase with
// net/http/httptrace. ctx bounds all of it.
func fetch(ctx context.Context, b transport.Backend, tg target, pf probeFlags, roots *x509.CertPool, hdr http.Header) (res fetchResult) {
	tr := &protocols.Transport{
		Backend:         b,
		TLSClientConfig: &tls.Config{RootCAs: roots, InsecureSkipVerify: pf.insecure},
		H2C:             pf.proto == "h2c",
		NextProtos:      nextProtos(pf.proto),
	}
	defer tr.CloseIdleConnections()

	var tm traceTimes
	ctx = tm.attach(ctx)
	req, err := http.NewRequestWithContext(ctx, pf.method, tg.url.String(), nil)
	if err != nil {
		res.err = err
		return res
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	start := time.Now()
	defer func() { tm.fill(&res, start) }()
	resp, err := tr.RoundTrip(req)
	if alpn, ok := tm.negotiated(); ok && pf.proto == "h2" && alpn != alpnH2 {
		// Say what went wrong first: the exchange that followed (over
		// HTTP/1.1, or not at all) is not what was asked for.
		if resp != nil {
			resp.Body.Close()
		}
		res.err = fmt.Errorf("the server did not negotiate h2 (ALPN %q)", alpn)
		return res
	}
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	tm.headers(time.Now())
	res.status, res.proto = resp.StatusCode, resp.Proto
	res.protocol = protocolOf(resp)
	if resp.TLS != nil {
		res.alpn = resp.TLS.NegotiatedProtocol
	}
	res.bytes, res.err = io.Copy(io.Discard, resp.Body)
	tm.end(time.Now())
	return res
}

// nextProtos returns the ALPN protocols to offer for --proto; nil is the
// Transport's default (h2, then http/1.1).
func nextProtos(proto string) []string {
	switch proto {
	case "h1":
		return []string{alpnHTTP1}
	case "h2":
		return []string{alpnH2}
	}
	return nil
}

// mockLike is what prepareInMemory needs of the mock backend (*mock.Backend
// and the tests' wrappers of it).
type mockLike interface {
	Handle(address string, p mock.Peer, faults ...mock.Fault)
}

// prepareInMemory points an in-memory backend at the embedded server, or
// says why it cannot reach the target (an error meaning "skip it").
func prepareInMemory(b transport.Backend, in registry.Info, tg target) error {
	mb, isMock := b.(mockLike)
	switch {
	case isMock && tg.server != nil && tg.server.URL.Scheme == "http":
		mb.Handle(tg.url.Host, mock.HandlerPeer(tg.server.Handler, mock.HTTP1|mock.H2C))
		return nil
	case isMock && tg.server != nil:
		mb.Handle(tg.url.Host, mock.TLSHandlerPeer(tg.server.Handler, tg.server.TLS))
		return nil
	case isMock || slices.Contains(in.Capabilities, registry.CapInMemory):
		return fmt.Errorf("in-memory backend: reaches only peers set up in code, not %s", tg.url.Host)
	}
	return nil
}

// printProbeTable writes the rows as a table, after a line saying what
// was probed.
func printProbeTable(a *app, tg target, pf probeFlags, rows []probeRow) error {
	what := tg.url.Redacted()
	if tg.server != nil {
		what += " (embedded server)"
	}
	fmt.Fprintf(a.stdout, "probe %s %s, proto %s, %d fetch(es) per backend", pf.method, what, pf.proto, pf.count)
	if pf.count > 1 {
		fmt.Fprint(a.stdout, ", phases as p50/p99")
	}
	fmt.Fprint(a.stdout, "\n\n")
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tRESULT\tPROTOCOL\tSTATUS\tREMOTE\tDNS\tCONNECT\tTLS\tTTFB\tTOTAL\tNOTE")
	for _, r := range rows {
		result, status := "ok", "-"
		switch {
		case r.Skipped:
			result = "skipped"
		case !r.OK:
			result = "FAIL"
		}
		if r.Status != 0 {
			status = fmt.Sprint(r.Status)
		}
		note := r.Note
		if r.Error != "" {
			note = r.Error
		}
		var p99 phases
		if r.P99 != nil {
			p99 = *r.P99
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Backend, result, orDash(r.Protocol), status, orDash(r.RemoteAddr),
			phaseText(r.DNS, p99.DNS), phaseText(r.Connect, p99.Connect), phaseText(r.TLS, p99.TLS),
			phaseText(r.TTFB, p99.TTFB), phaseText(r.Total, p99.Total), note)
	}
	return tw.Flush()
}

// phaseText formats a phase's median, and its p99 when there is one, or
// "-" when it was not reached.
func phaseText(p50, p99 *float64) string {
	if p50 == nil {
		return "-"
	}
	if p99 == nil {
		return fmt.Sprintf("%.2fms", *p50)
	}
	return fmt.Sprintf("%.2f/%.2fms", *p50, *p99)
}

// usageError returns err when it is the user's to fix, bad usage or
// config (exit 2) rather than a failure of the work (exit 1): a plugin
// binary that is not a plugin at all (a file in a plugin directory that
// is not one), or a plugin that refused its options and config section
// (*plugins.OpenError). Otherwise it returns nil.
func usageError(err error) error {
	var oe *plugins.OpenError
	if errors.Is(err, plugins.ErrNotPlugin) || errors.As(err, &oe) {
		return err
	}
	return nil
}

// firstUsageError returns the usage error (exit 2) of the first of rows
// that has one, naming its backend, or nil.
func firstUsageError[R any](rows []R, of func(R) (backend string, usage error)) error {
	for _, r := range rows {
		if backend, err := of(r); err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
	}
	return nil
}

// verdict turns the rows into the command's result: a failure when a
// probe failed, when none ran, or (failOnStatus) when a status was 400 or
// above.
func verdict(rows []probeRow, failOnStatus bool) error {
	if err := firstUsageError(rows, func(r probeRow) (string, error) { return r.Backend, r.usage }); err != nil {
		return err
	}
	failed, ran, bad := 0, 0, 0
	for _, r := range rows {
		if r.Skipped {
			continue
		}
		ran++
		if !r.OK {
			failed++
		} else if failOnStatus && r.Status >= 400 {
			bad++
		}
	}
	switch {
	case failed > 0:
		first := ""
		for _, r := range rows {
			if !r.Skipped && !r.OK {
				first = "; " + r.Backend + ": " + r.Error
				break
			}
		}
		return &failure{fmt.Errorf("%d of %d probes failed%s", failed, ran, first)}
	case ran == 0:
		return &failure{errors.New("no backend could run the probe")}
	case bad > 0:
		return &failure{fmt.Errorf("--fail: %d of %d probes got a status of 400 or above", bad, ran)}
	}
	return nil
}
