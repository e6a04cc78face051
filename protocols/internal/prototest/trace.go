package prototest

import (
	"fmt"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TraceLog records the request-level hooks of an httptrace.ClientTrace:
// the events in order (a run of WroteHeaderField as one), and every field
// reported.
type TraceLog struct {
	mu     sync.Mutex
	events []string
	fields []string // "Name: v1,v2"
	names  []string
}

func (l *TraceLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e == "WroteHeaderField" && len(l.events) > 0 && l.events[len(l.events)-1] == e {
		return // one event for the run of fields
	}
	l.events = append(l.events, e)
}

// Trace returns a ClientTrace that records into l.
func (l *TraceLog) Trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		WroteHeaderField: func(k string, v []string) {
			l.mu.Lock()
			l.fields = append(l.fields, k+": "+strings.Join(v, ","))
			l.names = append(l.names, k)
			l.mu.Unlock()
			l.add("WroteHeaderField")
		},
		WroteHeaders:         func() { l.add("WroteHeaders") },
		Wait100Continue:      func() { l.add("Wait100Continue") },
		Got100Continue:       func() { l.add("Got100Continue") },
		WroteRequest:         func(i httptrace.WroteRequestInfo) { l.add(fmt.Sprintf("WroteRequest(%v)", i.Err)) },
		GotFirstResponseByte: func() { l.add("GotFirstResponseByte") },
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			l.add(fmt.Sprintf("Got1xxResponse(%d %s)", code, h.Get("Link")))
			return nil
		},
	}
}

// Events returns the events recorded, in order.
func (l *TraceLog) Events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Fields returns the fields WroteHeaderField reported, as "Name: v1,v2",
// sorted.
func (l *TraceLog) Fields() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	fields := slices.Clone(l.fields)
	slices.Sort(fields)
	return fields
}

// FieldNames returns the names WroteHeaderField reported, in order.
func (l *TraceLog) FieldNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

// writing reports whether e is a hook of the writing side of an exchange.
func writing(e string) bool { return strings.HasPrefix(e, "Wrote") || e == "Wait100Continue" }

// SameSides reports, by t.Errorf, where the events of got and want
// differ on either side of the exchange: the hooks of the writing side
// (Wrote*, Wait100Continue) must come in the same order, and so must
// those of the reading side. net/http writes and reads on two goroutines,
// so only each side's order is comparable with its events. It returns
// whether they matched.
func SameSides(t testing.TB, got, want []string) bool {
	t.Helper()
	ok := true
	for _, w := range []bool{true, false} {
		if g, n := side(got, w), side(want, w); !slices.Equal(g, n) {
			t.Errorf("writing=%v hooks\n got %q\nwant %q (net/http)", w, g, n)
			ok = false
		}
	}
	return ok
}

// side returns the events of the writing side (w) or the reading side.
func side(events []string, w bool) []string {
	var out []string
	for _, e := range events {
		if writing(e) == w {
			out = append(out, e)
		}
	}
	return out
}
