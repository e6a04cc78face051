package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

const probeLong = `probe connects to URL with each backend, in turn: it dials, runs a TLS
handshake offering ALPN h2 and http/1.1 (for https URLs), sends one GET
and reads the whole response. It prints one row per backend, side by side:
the negotiated protocol (h2 or http/1.1 by ALPN, h2c for HTTP/2 with prior
knowledge over clear text, http/1.1 for other http URLs), the HTTP status
and the time of each phase,
  CONNECT  name resolution and TCP connect
  TLS      the TLS handshake (with CONNECT included when the backend does
           its own TLS; CONNECT is then "-")
  TTFB     from sending the request to reading the response head
  TOTAL    from the start of the dial to the end of the body
With --count N each backend fetches N times, one connection each, and the
row shows the median of each phase.

--proto chooses the protocol: auto (ALPN offers h2 and http/1.1), h1 (ALPN
offers only http/1.1), h2 (ALPN offers only h2 and the probe fails unless
the server chose it), h2c (HTTP/2 with prior knowledge, for http URLs).

Which backends: when a backend is chosen anywhere (--backend, the
TRANSPORTKIT_BACKEND environment variable, or the config file's "backend",
strongest first) only that one is probed, and it must exist and be
available here. When none is chosen, every backend is probed: those that
cannot run here, and the in-memory mock against a real URL, are listed as
skipped with the reason.

Without URL, probe starts an HTTPS server on 127.0.0.1 (HTTP/2 and
HTTP/1.1 by ALPN, with a certificate made in memory that the probe trusts)
and probes it; the mock backend then serves the same handler over TLS in
memory. With --proto h2c that server speaks clear text (HTTP/1.1 and h2c)
instead.

Exit codes: 0 when every probe that ran succeeded (and at least one ran),
1 when a probe failed or none could run, 2 for bad usage or an unknown
backend.`

// probeFlags are the probe command's flags.
type probeFlags struct {
	asJSON   bool
	insecure bool
	timeout  time.Duration
	proto    string
	count    int
}

// probeRow is one backend's line of the probe report; the json tags are
// the --json format.
type probeRow struct {
	Backend   string  `json:"backend"`
	URL       string  `json:"url"`
	OK        bool    `json:"ok"`
	Skipped   bool    `json:"skipped"`
	Status    int     `json:"status,omitempty"`
	Proto     string  `json:"proto,omitempty"`
	ALPN      string  `json:"alpn,omitempty"`
	Protocol  string  `json:"protocol,omitempty"`
	ConnectMS float64 `json:"connect_ms"`
	TLSMS     float64 `json:"tls_ms"`
	TTFBMS    float64 `json:"ttfb_ms"`
	TotalMS   float64 `json:"total_ms"`
	Bytes     int64   `json:"bytes"`
	Count     int     `json:"count"`
	Error     string  `json:"error,omitempty"`
	Note      string  `json:"note,omitempty"`
}

func newProbeCmd(a *app) *cobra.Command {
	var pf probeFlags
	cmd := &cobra.Command{
		Use:   "probe [URL]",
		Short: "Fetch URL with each backend and compare the timings",
		Long:  probeLong,
		Example: `  transportctl probe                        # embedded server, every backend
  transportctl probe --backend stdnet --proto h1
  transportctl probe --proto h2c http://127.0.0.1:8080/
  transportctl probe --json https://example.com/
  transportctl probe --count 5 --timeout 3s https://localhost:8443/
  TRANSPORTKIT_BACKEND=stdnet transportctl probe`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.probe(cmd.Context(), pf, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&pf.asJSON, "json", false, "print a JSON array of rows instead of a table")
	f.BoolVar(&pf.insecure, "insecure", false, "do not verify the server's certificate")
	f.DurationVar(&pf.timeout, "timeout", 10*time.Second, "bound for each fetch, dial to last byte")
	f.StringVar(&pf.proto, "proto", "auto", "HTTP version: auto (ALPN offers h2 and http/1.1), h1, h2, or h2c (HTTP/2 with prior knowledge over clear text)")
	f.IntVar(&pf.count, "count", 1, "fetches per backend; the report shows medians")
	return cmd
}

// target is what is probed.
type target struct {
	url    *url.URL
	server *embeddedServer // nil for a URL given on the command line
}

func (a *app) probe(ctx context.Context, pf probeFlags, args []string) error {
	if err := pf.check(); err != nil {
		return err
	}
	var tg target
	if len(args) == 1 {
		u, err := parseTarget(args[0], pf.proto)
		if err != nil {
			return err
		}
		tg.url = u
	} else {
		srv, err := startEmbeddedServer(a.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}), pf.proto == "h2c")
		if err != nil {
			return &failure{err}
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Close(sctx); err != nil {
				a.log.Warn("embedded server shutdown", "error", err)
			}
		}()
		tg.url, tg.server = srv.URL, srv
	}

	rows, err := a.probeBackends(ctx, pf, tg)
	if err != nil {
		return err
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
	return verdict(rows)
}

func (pf *probeFlags) check() error {
	if !slices.Contains([]string{"auto", "h1", "h2", "h2c"}, pf.proto) {
		return fmt.Errorf("--proto %q: want auto, h1, h2 or h2c", pf.proto)
	}
	if pf.count < 1 {
		return fmt.Errorf("--count %d: want 1 or more", pf.count)
	}
	if pf.timeout <= 0 {
		return fmt.Errorf("--timeout %v: want a positive duration", pf.timeout)
	}
	return nil
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

// probeBackends probes the chosen backend, or every one when none is
// chosen, and returns a row for each.
func (a *app) probeBackends(ctx context.Context, pf probeFlags, tg target) ([]probeRow, error) {
	infos, derr := registry.List(a.cfg)
	if derr != nil {
		a.log.Warn("plugin discovery", "error", derr)
	}
	if a.backend != "" || os.Getenv(registry.EnvBackend) != "" || a.cfg.Backend != "" {
		b, choice, err := registry.Select(registry.Selection{Name: a.backend, Config: a.cfg, Logger: a.log})
		if err != nil {
			var ce *registry.ConfigError
			if errors.Is(err, registry.ErrUnknownBackend) || errors.As(err, &ce) {
				return nil, err
			}
			return nil, &failure{err}
		}
		defer b.Close()
		a.log.Debug("probing one backend", "backend", choice.Name, "reason", choice.Reason)
		var in registry.Info
		if i := slices.IndexFunc(infos, func(in registry.Info) bool { return in.Name == choice.Name }); i >= 0 {
			in = infos[i]
		}
		in.Name = choice.Name
		return []probeRow{a.probeOne(ctx, pf, tg, in, b)}, nil
	}

	rows := make([]probeRow, 0, len(infos))
	for _, in := range infos {
		if !in.Available {
			rows = append(rows, probeRow{Backend: in.Name, URL: tg.url.String(), Skipped: true, Note: "unavailable: " + in.Reason})
			continue
		}
		b, _, err := registry.Select(registry.Selection{Name: in.Name, Config: a.cfg, Logger: a.log})
		if err != nil {
			rows = append(rows, probeRow{Backend: in.Name, URL: tg.url.String(), Error: err.Error()})
			continue
		}
		rows = append(rows, a.probeOne(ctx, pf, tg, in, b))
		if err := b.Close(); err != nil {
			a.log.Warn("closing backend", "backend", in.Name, "error", err)
		}
	}
	return rows, nil
}

// probeOne fetches tg pf.count times through b and sums it up in a row.
func (a *app) probeOne(ctx context.Context, pf probeFlags, tg target, in registry.Info, b transport.Backend) probeRow {
	row := probeRow{Backend: in.Name, URL: tg.url.String()}
	if err := prepareInMemory(b, in, tg); err != nil {
		row.Skipped, row.Note = true, err.Error()
		return row
	}
	fr := fetchRequest{
		URL:       tg.url,
		TLS:       &tls.Config{NextProtos: nextProtos(pf.proto), InsecureSkipVerify: pf.insecure},
		OwnTLS:    slices.Contains(in.Capabilities, registry.CapTLS),
		RequireH2: pf.proto == "h2",
		H2C:       pf.proto == "h2c",
	}
	if tg.server != nil {
		fr.TLS.RootCAs = tg.server.Roots
	}
	if fr.OwnTLS && tg.url.Scheme == "https" {
		row.Note = "backend's own TLS: CONNECT counted in TLS"
	}
	var runs []fetchResult
	for range pf.count {
		fctx, cancel := context.WithTimeout(ctx, pf.timeout)
		res, err := fetch(fctx, b, fr)
		cancel()
		if err != nil {
			row.Error = err.Error()
			a.log.Debug("probe failed", "backend", in.Name, "error", err)
			break
		}
		runs = append(runs, res)
	}
	row.Count = len(runs)
	if len(runs) == 0 {
		return row
	}
	last := runs[len(runs)-1]
	row.OK = row.Error == ""
	row.Status, row.Proto, row.ALPN, row.Protocol, row.Bytes = last.Status, last.Proto, last.ALPN, last.Protocol, last.Bytes
	row.ConnectMS = medianMS(runs, func(r fetchResult) time.Duration { return r.Connect })
	row.TLSMS = medianMS(runs, func(r fetchResult) time.Duration { return r.TLS })
	row.TTFBMS = medianMS(runs, func(r fetchResult) time.Duration { return r.TTFB })
	row.TotalMS = medianMS(runs, func(r fetchResult) time.Duration { return r.Total })
	return row
}

// prepareInMemory points an in-memory backend at the embedded server, or
// says why it cannot reach the target (an error meaning "skip it").
func prepareInMemory(b transport.Backend, in registry.Info, tg target) error {
	mb, isMock := b.(*mock.Backend)
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

// nextProtos returns the ALPN protocols to offer for --proto.
func nextProtos(proto string) []string {
	switch proto {
	case "h1":
		return []string{alpnHTTP1}
	case "h2":
		return []string{alpnH2}
	}
	return []string{alpnH2, alpnHTTP1}
}

// medianMS returns the median of phase over runs, in milliseconds.
func medianMS(runs []fetchResult, phase func(fetchResult) time.Duration) float64 {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = phase(r)
	}
	slices.Sort(ds)
	m := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		m = (ds[len(ds)/2-1] + m) / 2
	}
	return float64(m) / float64(time.Millisecond)
}

// printProbeTable writes the rows as a table, after a line saying what
// was probed.
func printProbeTable(a *app, tg target, pf probeFlags, rows []probeRow) error {
	what := tg.url.String()
	if tg.server != nil {
		what += " (embedded server)"
	}
	fmt.Fprintf(a.stdout, "probe %s, proto %s, %d fetch(es) per backend\n\n", what, pf.proto, pf.count)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tRESULT\tPROTOCOL\tSTATUS\tCONNECT\tTLS\tTTFB\tTOTAL\tNOTE")
	for _, r := range rows {
		result, status, proto := "ok", "-", "-"
		switch {
		case r.Skipped:
			result = "skipped"
		case !r.OK:
			result = "FAIL"
		}
		if r.Status != 0 {
			status = fmt.Sprint(r.Status)
		}
		if r.Protocol != "" {
			proto = r.Protocol
		}
		note := r.Note
		if r.Error != "" {
			note = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Backend, result, proto, status,
			ms(r, r.ConnectMS), ms(r, r.TLSMS), ms(r, r.TTFBMS), ms(r, r.TotalMS), note)
	}
	return tw.Flush()
}

// ms formats a phase of r, or "-" when it was not measured.
func ms(r probeRow, v float64) string {
	if r.Count == 0 || v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", v)
}

// verdict turns the rows into the command's result: a failure when a
// probe failed or when none ran.
func verdict(rows []probeRow) error {
	failed, ran := 0, 0
	for _, r := range rows {
		if r.Skipped {
			continue
		}
		ran++
		if !r.OK {
			failed++
		}
	}
	switch {
	case failed > 0:
		return &failure{fmt.Errorf("%d of %d probes failed", failed, ran)}
	case ran == 0:
		return &failure{errors.New("no backend could run the probe")}
	}
	return nil
}
