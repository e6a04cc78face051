package parity

import (
	"regexp"
	"slices"
	"strings"
)

// A difference is an intended difference between net/http's Transport
// and protocols.Transport: what a caller sees differently, why, and how
// the comparison sets it aside. Each one is also described in
// docs/ARCHITECTURE.md ("Intended differences"). An entry that no run shows any more fails
// the suite, so the table cannot outlive the behaviour it excuses.
type difference struct {
	name   string
	reason string
	// scenarios, variants and backends limit where it applies (nil:
	// everywhere).
	scenarios, variants, backends []string
	// normalize removes the difference from both observations (copies)
	// and reports whether it was there. It is nil for docOnly entries.
	normalize func(ref, cand *observation) bool
	// docOnly marks a difference no fast scenario can show (a default
	// of minutes, say); it is kept for the doc and never reported stale.
	docOnly bool
}

// applies reports whether d applies to a run of scenario on variant and
// backend.
func (d *difference) applies(scenario, variant, backend string) bool {
	return (d.scenarios == nil || slices.Contains(d.scenarios, scenario)) &&
		(d.variants == nil || slices.Contains(d.variants, variant)) &&
		(d.backends == nil || slices.Contains(d.backends, backend))
}

// replaceIn rewrites the values of the keys ending with suffix on both
// sides with re → repl, and reports whether what re matched differed
// between the two sides.
func replaceIn(ref, cand *observation, suffix string, re *regexp.Regexp, repl string) bool {
	found := false
	for _, f := range cand.fields {
		if !strings.HasSuffix(f.key, suffix) {
			continue
		}
		rv, _ := ref.get(f.key)
		if !slices.Equal(re.FindAllString(rv, -1), re.FindAllString(f.value, -1)) {
			found = true
		}
	}
	fn := func(v string) string { return re.ReplaceAllString(v, repl) }
	ref.edit(suffix, fn)
	cand.edit(suffix, fn)
	return found
}

// differs reports whether a key ending with suffix has different values
// on the two sides.
func differs(ref, cand *observation, suffix string) bool {
	for _, f := range cand.fields {
		if strings.HasSuffix(f.key, suffix) {
			if rv, ok := ref.get(f.key); !ok || rv != f.value {
				return true
			}
		}
	}
	return false
}

// mask replaces the values of the keys ending with one of suffixes by
// "<not compared: why>" on both sides, when the keys ending with
// evidence differ, and reports whether they did.
func mask(ref, cand *observation, why, evidence string, suffixes ...string) bool {
	if !differs(ref, cand, evidence) {
		return false
	}
	for _, suffix := range suffixes {
		fn := func(string) string { return "<not compared: " + why + ">" }
		ref.edit(suffix, fn)
		cand.edit(suffix, fn)
	}
	return true
}

// dropEvents removes the trace events events matches from both
// observations and reports whether either had one.
func dropEvents(ref, cand *observation, events *regexp.Regexp) bool {
	present := false
	for _, o := range []*observation{ref, cand} {
		for _, f := range o.fields {
			if strings.HasSuffix(f.key, ".trace") && events.MatchString(f.value) {
				present = true
			}
		}
		o.edit(".trace", func(v string) string { return events.ReplaceAllString(v, "") })
	}
	return present
}

var (
	userAgentServer = regexp.MustCompile(`user-agent="[^"]*"|ua="[^"]*"`)
	userAgentTrace  = regexp.MustCompile(`WroteHeaderField user-agent: [^|\]]*[^ |\]]`)
)

// intendedDifferences are the differences the suite accepts; any other
// fails it.
var intendedDifferences = []*difference{
	{
		name:   "default User-Agent",
		reason: "a request without User-Agent gets \"transportkit\" (Transport.UserAgent, h1.DefaultUserAgent) instead of \"Go-http-client/1.1\" or \"/2.0\": servers and logs can tell the library apart; a caller that sets User-Agent sends it unchanged",
		normalize: func(ref, cand *observation) bool {
			a := replaceIn(ref, cand, "server", userAgentServer, "user-agent=<default>")
			b := replaceIn(ref, cand, ".trace", userAgentTrace, "WroteHeaderField user-agent: <default>")
			return a || b
		},
	},
	{
		name:     "ALPN with HTTP/1.1 only",
		reason:   "with HTTP/2 turned off (NextProtos [\"http/1.1\"], or DisableKeepAlives) the TLS handshake still offers \"http/1.1\" by ALPN, where net/http offers nothing: servers that insist on ALPN (RFC 7301, RFC 9113 section 3.2) accept the connection, and Response.TLS.NegotiatedProtocol says which protocol runs",
		variants: []string{"h1-tls"},
		normalize: func(ref, cand *observation) bool {
			a := replaceIn(ref, cand, ".tls", regexp.MustCompile(`^(http/1\.1)?$`), "http/1.1 or none")
			b := replaceIn(ref, cand, ".trace", regexp.MustCompile(`alpn="(http/1\.1)?"`), `alpn="http/1.1 or none"`)
			return a || b
		},
	},
	{
		name:   "timeouts match os.ErrDeadlineExceeded too",
		reason: "every timeout of transportkit is a net.Error with Timeout() true that matches both context.DeadlineExceeded and os.ErrDeadlineExceeded (docs/ARCHITECTURE.md, Errors), whichever clock ran out first, over HTTP/1.1 and HTTP/2 alike; net/http's Client.Timeout and HTTP/1.1 ResponseHeaderTimeout errors match context.DeadlineExceeded only, and its HTTP/2 ResponseHeaderTimeout error neither. A caller testing either sentinel, or Timeout(), sees a timeout",
		normalize: func(ref, cand *observation) bool {
			found := false
			for _, suffix := range []string{".error", ".body-error"} {
				for i, f := range cand.fields {
					if !strings.HasSuffix(f.key, suffix) {
						continue
					}
					rv, _ := ref.get(f.key)
					if !strings.Contains(f.value, "context.DeadlineExceeded,os.ErrDeadlineExceeded") || !strings.Contains(rv, "timeout") {
						continue
					}
					v := f.value
					if !strings.Contains(rv, "os.ErrDeadlineExceeded") {
						v = strings.Replace(v, ",os.ErrDeadlineExceeded", "", 1)
					}
					if !strings.Contains(rv, "context.DeadlineExceeded") {
						// net/http's HTTP/2 ResponseHeaderTimeout error
						// is a timeout matching neither sentinel.
						v = strings.Replace(v, "context.DeadlineExceeded,", "", 1)
					}
					if v != f.value {
						cand.fields[i].value = v
						found = true
					}
				}
			}
			return found
		},
	},
	{
		name:      "idle connections kept per host",
		reason:    "MaxIdleConnsPerHost zero keeps DefaultMaxIdleConnsPerHost (64) idle connections per origin, where net/http keeps 2: a client that sends bursts to one host reuses its connections instead of dialing anew (and closing the extra idle ones) after each burst; set MaxIdleConnsPerHost to 2 for net/http's behaviour",
		scenarios: []string{"idle-pool-size"},
		normalize: func(ref, cand *observation) bool {
			return mask(ref, cand, "idle pool size", "server-connections", ".trace", "server", "server-connections")
		},
	},
	{
		name:      "DisableKeepAlives speaks HTTP/1.1 over TLS",
		reason:    "with DisableKeepAlives the TLS handshake offers only http/1.1 (protocols/alpn.go): an HTTP/2 connection exists to be shared, and one used for a single request costs a preface, SETTINGS and GOAWAY for nothing; net/http negotiates h2 and closes it after the request. Each request still gets its own connection",
		scenarios: []string{"disable-keep-alives"},
		variants:  []string{"h2", "nginx-h2"},
		normalize: func(ref, cand *observation) bool {
			return mask(ref, cand, "HTTP/1.1 instead of HTTP/2", ".proto", ".proto", ".tls", ".close", ".trace", "server", ".transfer-encoding")
		},
	},
	{
		name:      "socks5 looks the target up locally",
		reason:    "a socks5:// proxy gets the target's address, looked up by the client (DNSStart and DNSDone in the trace), as curl does, and socks5h:// gets the name; net/http sends the name to socks5:// and socks5h:// alike (protocols/proxy.go)",
		scenarios: []string{"proxy-socks5"},
		variants:  []string{"h1-localhost"},
		normalize: func(ref, cand *observation) bool {
			lookup := regexp.MustCompile(`DNSStart [^|\]]* \| DNSDone err=(true|false) \| `)
			found := false
			for i, f := range cand.fields {
				rv, _ := ref.get(f.key)
				if strings.HasSuffix(f.key, ".trace") && lookup.MatchString(f.value) && !lookup.MatchString(rv) {
					cand.fields[i].value = lookup.ReplaceAllString(f.value, "")
					found = true
				}
			}
			return found
		},
	},
	{
		name:     "GetConn once per request on HTTP/2",
		reason:   "net/http reports GetConn twice for a request that goes to an HTTP/2 connection it already has (once from its HTTP/1 pool, once from its HTTP/2 pool, an artefact of its two pools); transportkit has one pool and reports it once, as it does for HTTP/1.1",
		variants: []string{"h2", "h2c", "nginx-h2"},
		normalize: func(ref, cand *observation) bool {
			double := regexp.MustCompile(`(GetConn [^|\]]*[^ |\]]) \| GetConn [^|\]]*[^ |\]]`)
			found := false
			for _, f := range cand.fields {
				if rv, _ := ref.get(f.key); strings.HasSuffix(f.key, ".trace") && double.MatchString(rv) && !double.MatchString(f.value) {
					found = true
				}
			}
			ref.edit(".trace", func(v string) string { return double.ReplaceAllString(v, "$1") })
			return found
		},
	},
	{
		name:     "the mock and plugin backends resolve no names in the host",
		reason:   "the in-memory mock backend answers the address exactly as dialed (Backend.Handle), and a plugin backend dials the address as given in its own process: neither looks a name up in the caller's process, so the trace has no DNSStart and DNSDone, and ConnectStart carries the name, not an address",
		backends: []string{"mock", "plugin"},
		variants: []string{"h1-localhost"},
		normalize: func(ref, cand *observation) bool {
			lookup := regexp.MustCompile(`DNSStart [^|\]]* \| DNSDone err=(true|false) \| `)
			found := false
			for _, f := range cand.fields {
				if rv, _ := ref.get(f.key); strings.HasSuffix(f.key, ".trace") && lookup.MatchString(rv) && !lookup.MatchString(f.value) {
					found = true
				}
			}
			ref.edit(".trace", func(v string) string { return lookup.ReplaceAllString(v, "") })
			named := regexp.MustCompile(`(Connect(Start|Done) tcp )localhost/`)
			cand.edit(".trace", func(v string) string { return named.ReplaceAllString(v, "$1") })
			return found
		},
	},
	{
		name:      "the writer's events when a 100-continue body is refused",
		reason:    "when the server answers a request with \"Expect: 100-continue\" with a final status instead of 100, net/http's write goroutine reports Wait100Continue after flushing the head, and WroteRequest when it gives up the body (with an error over HTTP/2); the final answer can end the exchange before that goroutine gets to either, so each is there in some runs and missing in others; transportkit always reports Wait100Continue, and WroteRequest over HTTP/1.1 without an error (nothing failed) before the response, not over HTTP/2, where the body is dropped when the response comes. Neither event is compared in this scenario",
		scenarios: []string{"expect-100-refused"},
		normalize: func(ref, cand *observation) bool {
			return dropEvents(ref, cand, regexp.MustCompile(` \| (WroteRequest err=(true|false)|Wait100Continue)`))
		},
	},
	{
		name:      "the writer's events when an HTTP/2 server answers before reading the body",
		reason:    "over HTTP/2 net/http reports WroteHeaders and WroteRequest from the goroutine that writes the request, after the frames are flushed; when the server answers (here with a 307) before reading the body, the answer can end the stream first, and net/http then reports WroteHeaders late (after the redirect's GotConn, say) and WroteRequest in some runs only. transportkit reports both, in the order they happen, before the response. Neither is compared in this scenario over HTTP/2",
		scenarios: []string{"redirect-307-post"},
		variants:  []string{"h2", "h2c"},
		normalize: func(ref, cand *observation) bool {
			return dropEvents(ref, cand, regexp.MustCompile(` \| (WroteHeaders|WroteRequest err=(true|false))`))
		},
	},
	{
		name:      "GotConn with MaxConnsPerHost over HTTP/2",
		reason:    "with MaxConnsPerHost, net/http dials an HTTP/2 connection through its HTTP/1 pool and then takes it from its HTTP/2 pool, so the request that dialed reports GetConn twice and GotConn reused=true, and the next one reused=false; transportkit reports the dial's GotConn as new and the next request's as reused, as for any other HTTP/2 connection",
		scenarios: []string{"max-conns-per-host"},
		variants:  []string{"h2", "h2c", "nginx-h2"},
		normalize: func(ref, cand *observation) bool {
			// Whether net/http's two pools show depends on timing: in
			// some runs under load its trace equals ours. So the entry
			// counts as seen wherever there is a trace to compare.
			mask(ref, cand, "net/http's two pools", ".trace", ".trace")
			for _, f := range cand.fields {
				if strings.HasSuffix(f.key, ".trace") {
					return true
				}
			}
			return false
		},
	},
	{
		name:     "GotConn.WasIdle on HTTP/2",
		reason:   "over HTTP/2 transportkit reports WasIdle true when no request is active on the connection at GotConn (a finished response's stream is gone once its body is closed); net/http counts a stream until its own cleanup runs, so a request right after another often sees WasIdle false",
		variants: []string{"h2", "h2c", "nginx-h2"},
		normalize: func(ref, cand *observation) bool {
			// net/http's value depends on when its cleanup ran, so it is
			// never compared for a reused HTTP/2 connection (the entry
			// counts as seen wherever there is one to set aside).
			idle := regexp.MustCompile(`(GotConn reused=true) wasIdle=(true|false)`)
			present := false
			for _, f := range cand.fields {
				if strings.HasSuffix(f.key, ".trace") && idle.MatchString(f.value) {
					present = true
				}
			}
			replaceIn(ref, cand, ".trace", idle, "$1 wasIdle=<not compared>")
			return present
		},
	},
	{
		name:      "the order of net/http's writer and reader events around 100-continue",
		reason:    "net/http reports Wait100Continue and WroteRequest from its write goroutine and Got100Continue, Got1xxResponse and GotFirstResponseByte from its read goroutine, so with \"Expect: 100-continue\" their order varies from run to run (Wait100Continue after the 100 has been read, say); transportkit reports them from the one goroutine that runs the exchange, in the order they happen. The events are compared in a canonical order: the writer's events are the same, and so are the reader's",
		scenarios: []string{"expect-100-accepted", "expect-100-refused"},
		normalize: func(ref, cand *observation) bool {
			canonical := func(v string) string {
				inner := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
				evs := strings.Split(inner, " | ")
				var head, moved, tail []string
				for _, e := range evs {
					switch {
					case e == "Wait100Continue" || strings.HasPrefix(e, "WroteRequest ") ||
						e == "GotFirstResponseByte" || e == "Got100Continue" || strings.HasPrefix(e, "Got1xxResponse "):
						moved = append(moved, e)
					case len(moved) == 0:
						head = append(head, e)
					default:
						tail = append(tail, e)
					}
				}
				order := []string{"Wait100Continue", "GotFirstResponseByte", "Got100Continue", "Got1xxResponse", "WroteRequest"}
				slices.SortStableFunc(moved, func(a, b string) int {
					rank := func(e string) int {
						for i, p := range order {
							if strings.HasPrefix(e, p) {
								return i
							}
						}
						return len(order)
					}
					return rank(a) - rank(b)
				})
				return "[" + strings.Join(append(append(head, moved...), tail...), " | ") + "]"
			}
			present := false
			for _, f := range cand.fields {
				if strings.HasSuffix(f.key, ".trace") && strings.Contains(f.value, "Wait100Continue") {
					present = true
				}
			}
			ref.edit(".trace", canonical)
			cand.edit(".trace", canonical)
			return present
		},
	},
	{
		name:    "any 2xx answer to CONNECT opens the tunnel",
		reason:  "RFC 9110, section 9.3.6: any 2xx answer to CONNECT means the tunnel is open; net/http wants 200 exactly (protocols/proxy.go). tinyproxy answers 200, so no scenario shows it",
		docOnly: true,
	},
	{
		name:    "an https proxy's TLS name is the proxy's host",
		reason:  "the TLS ServerName for an https:// proxy is always the proxy's host; net/http takes TLSClientConfig.ServerName when it is set, a name meant for the origin (protocols/proxy.go). The scenarios set no ServerName, so none shows it",
		docOnly: true,
	},
	{
		name:    "IdleConnTimeout zero value",
		reason:  "zero means DefaultIdleConnTimeout (90 s), as in http.DefaultTransport, not \"no limit\" as in a zero http.Transport: a pooled connection is never kept forever by accident; a negative value means no limit",
		docOnly: true,
	},
}
