package parity

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// An observation is what a caller of a RoundTripper can see of one run of
// a scenario, flattened to ordered key/value pairs: for each request
// (numbered from 1) its response (status, protocol, normalised header,
// length, body, trailer), its errors by errors.Is class, and its httptrace
// events; then what the server and the proxy saw. Two observations are
// compared key by key.
type observation struct {
	fields []field
}

type field struct{ key, value string }

func (o *observation) add(key, value string) { o.fields = append(o.fields, field{key, value}) }

// get returns the value of key and whether it is there.
func (o *observation) get(key string) (string, bool) {
	for _, f := range o.fields {
		if f.key == key {
			return f.value, true
		}
	}
	return "", false
}

// clone returns a deep copy.
func (o *observation) clone() *observation { return &observation{fields: slices.Clone(o.fields)} }

// edit replaces the value of every field whose key ends with suffix by
// fn's result, and reports whether any value changed.
func (o *observation) edit(suffix string, fn func(string) string) bool {
	changed := false
	for i, f := range o.fields {
		if strings.HasSuffix(f.key, suffix) {
			if v := fn(f.value); v != f.value {
				o.fields[i].value = v
				changed = true
			}
		}
	}
	return changed
}

// diff lists the keys whose values differ, or that only one side has.
func diff(ref, cand *observation) []string {
	var out []string
	keys := map[string]bool{}
	var order []string
	for _, o := range []*observation{ref, cand} {
		for _, f := range o.fields {
			if !keys[f.key] {
				keys[f.key] = true
				order = append(order, f.key)
			}
		}
	}
	for _, k := range order {
		rv, rok := ref.get(k)
		cv, cok := cand.get(k)
		switch {
		case !rok:
			out = append(out, fmt.Sprintf("%s: net/http has none, got %s", k, cv))
		case !cok:
			out = append(out, fmt.Sprintf("%s: missing, net/http has %s", k, rv))
		case rv != cv:
			out = append(out, fmt.Sprintf("%s:\n\tnet/http: %s\n\tgot:      %s", k, rv, cv))
		}
	}
	return out
}

func (o *observation) String() string {
	var b strings.Builder
	for _, f := range o.fields {
		fmt.Fprintf(&b, "%s = %s\n", f.key, f.value)
	}
	return b.String()
}

// excludedHeaders are response headers left out of the comparison: they
// describe the moment or the server, not what the transport did.
var excludedHeaders = []string{"Date", "Server", "Last-Modified", "Etag"}

// headerString renders h sorted, without the excluded headers.
func headerString(h http.Header) string {
	var kv []string
	for k, v := range h {
		if slices.Contains(excludedHeaders, k) {
			continue
		}
		kv = append(kv, k+": "+strings.Join(v, ", "))
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, "; ") + "}"
}

// bodyString is the body itself when short, else its length and hash.
func bodyString(b []byte) string {
	if len(b) <= 200 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%d bytes sha256:%x", len(b), sha256.Sum256(b))
}

// errClasses are the sentinels an error is tested against with
// errors.Is; the classes of an error are those it matches, and whether
// it is a net.Error timeout.
var errClasses = []struct {
	name   string
	target error
}{
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
	{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
	{"io.EOF", io.EOF},
	{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF},
	{"net.ErrClosed", net.ErrClosed},
	{"ECONNREFUSED", syscall.ECONNREFUSED},
	{"ECONNRESET", syscall.ECONNRESET},
	{"http.ErrBodyReadAfterClose", http.ErrBodyReadAfterClose},
}

// errString describes err by its classes: "" for nil, "error[...]"
// otherwise ("error[other]" when it matches none).
func errString(err error) string {
	if err == nil {
		return ""
	}
	var cls []string
	for _, c := range errClasses {
		if errors.Is(err, c.target) {
			cls = append(cls, c.name)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		cls = append(cls, "timeout")
	}
	if len(cls) == 0 {
		cls = append(cls, "other")
	}
	return "error[" + strings.Join(cls, ",") + "]"
}

// tracer records the httptrace events of one request, with addresses
// named by role.
type tracer struct {
	mu     sync.Mutex
	events []string
	roles  map[string]string
	token  string // the run's path prefix /r/TOKEN, left out of paths
}

func (tr *tracer) add(format string, args ...any) {
	ev := strings.ReplaceAll(fmt.Sprintf(format, args...), "/r/"+tr.token, "")
	tr.mu.Lock()
	tr.events = append(tr.events, ev)
	tr.mu.Unlock()
}

// role names an address by the server behind it.
func (tr *tracer) role(addr string) string {
	if r, ok := tr.roles[addr]; ok {
		return r
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if r, ok := tr.roles[net.JoinHostPort("127.0.0.1", port)]; ok {
			return host + "/" + r
		}
	}
	return addr
}

// clientTrace returns the hooks that record into tr.
func (tr *tracer) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(hostPort string) { tr.add("GetConn %s", tr.role(hostPort)) },
		GotConn: func(i httptrace.GotConnInfo) {
			tr.add("GotConn reused=%v wasIdle=%v", i.Reused, i.WasIdle)
		},
		PutIdleConn:          func(err error) { tr.add("PutIdleConn err=%v", err != nil) },
		GotFirstResponseByte: func() { tr.add("GotFirstResponseByte") },
		Got100Continue:       func() { tr.add("Got100Continue") },
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			tr.add("Got1xxResponse %d %s", code, headerString(http.Header(h)))
			return nil
		},
		DNSStart: func(i httptrace.DNSStartInfo) { tr.add("DNSStart %s", i.Host) },
		DNSDone:  func(i httptrace.DNSDoneInfo) { tr.add("DNSDone err=%v", i.Err != nil) },
		ConnectStart: func(network, addr string) {
			tr.add("ConnectStart %s %s", network, tr.role(addr))
		},
		ConnectDone: func(network, addr string, err error) {
			tr.add("ConnectDone %s %s err=%v", network, tr.role(addr), err != nil)
		},
		TLSHandshakeStart: func() { tr.add("TLSHandshakeStart") },
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			tr.add("TLSHandshakeDone alpn=%q err=%v", st.NegotiatedProtocol, err != nil)
		},
		WroteHeaderField: func(k string, v []string) {
			tr.add("WroteHeaderField %s: %s", strings.ToLower(k), strings.Join(v, ","))
		},
		WroteHeaders:    func() { tr.add("WroteHeaders") },
		Wait100Continue: func() { tr.add("Wait100Continue") },
		WroteRequest:    func(i httptrace.WroteRequestInfo) { tr.add("WroteRequest err=%v", i.Err != nil) },
	}
}

// canonical returns the events in the order the comparison uses:
//
//   - a run of WroteHeaderField events is sorted by field (the order
//     fields go on the wire is not something a caller relies on, and
//     net/http's own HTTP/1.1 and HTTP/2 orders differ);
//   - the events of writing the request (WroteHeaderField, WroteHeaders,
//     WroteRequest) are moved before the GotFirstResponseByte or
//     Got1xxResponse events right before them: net/http reports them
//     after the bytes are flushed (from its writing goroutine for
//     HTTP/1.1), so a fast server's answer can be reported first.
func (tr *tracer) canonical() string {
	tr.mu.Lock()
	ev := slices.Clone(tr.events)
	tr.mu.Unlock()
	for i := 0; i < len(ev); {
		j := i
		for j < len(ev) && strings.HasPrefix(ev[j], "WroteHeaderField ") {
			j++
		}
		sort.Strings(ev[i:j])
		i = max(j, i+1)
	}
	for i := 1; i < len(ev); i++ {
		if !strings.HasPrefix(ev[i], "Wrote") {
			continue
		}
		for k := i; k > 0 && (ev[k-1] == "GotFirstResponseByte" || strings.HasPrefix(ev[k-1], "Got1xxResponse ")); k-- {
			ev[k-1], ev[k] = ev[k], ev[k-1]
		}
	}
	return "[" + strings.Join(ev, " | ") + "]"
}
