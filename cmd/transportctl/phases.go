package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"time"
)

// traceTimes records when each phase of one fetch began and ended, from
// the net/http/httptrace hooks protocols.Transport and the backends call.
type traceTimes struct {
	mu sync.Mutex

	dnsStart, dnsDone         time.Time
	connectStart, connectDone time.Time
	tlsStart, tlsDone         time.Time
	wrote, firstByte, bodyEnd time.Time
	remote                    string
	alpn                      string // the handshake's ALPN choice
	handshook                 bool   // a TLS handshake completed
}

// attach returns ctx carrying the hooks that fill t.
func (t *traceTimes) attach(ctx context.Context) context.Context {
	set := func(f func()) {
		t.mu.Lock()
		f()
		t.mu.Unlock()
	}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { set(func() { t.dnsStart = time.Now() }) },
		DNSDone:  func(httptrace.DNSDoneInfo) { set(func() { t.dnsDone = time.Now() }) },
		ConnectStart: func(string, string) {
			set(func() {
				if t.connectStart.IsZero() {
					t.connectStart = time.Now()
				}
			})
		},
		ConnectDone: func(_, addr string, err error) {
			set(func() {
				if err == nil {
					t.connectDone = time.Now()
					t.remote = addr
				}
			})
		},
		TLSHandshakeStart: func() { set(func() { t.tlsStart = time.Now() }) },
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			set(func() {
				t.tlsDone = time.Now()
				if err == nil {
					t.handshook, t.alpn = true, st.NegotiatedProtocol
				}
			})
		},
		GotConn: func(info httptrace.GotConnInfo) {
			set(func() {
				if info.Conn != nil && info.Conn.RemoteAddr() != nil {
					t.remote = info.Conn.RemoteAddr().String()
				}
			})
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { set(func() { t.wrote = time.Now() }) },
		GotFirstResponseByte: func() { set(func() { t.firstByte = time.Now() }) },
	})
}

// headers notes that the response head arrived at now; it stands for the
// first byte when no hook reported one.
func (t *traceTimes) headers(now time.Time) {
	t.mu.Lock()
	if t.firstByte.IsZero() {
		t.firstByte = now
	}
	t.mu.Unlock()
}

// end notes the end of the body.
func (t *traceTimes) end(now time.Time) {
	t.mu.Lock()
	t.bodyEnd = now
	t.mu.Unlock()
}

// fill sets res's phases from the times seen; a phase whose end was not
// seen stays nil. TTFB runs from the request written (or, when no hook
// said so in time, from the end of the last phase before it) to the first
// byte.
func (t *traceTimes) fill(res *fetchResult, start time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	span := func(from, to time.Time) *time.Duration {
		if from.IsZero() || to.IsZero() || to.Before(from) {
			return nil
		}
		d := to.Sub(from)
		return &d
	}
	res.dns = span(t.dnsStart, t.dnsDone)
	res.connect = span(t.connectStart, t.connectDone)
	res.tls = span(t.tlsStart, t.tlsDone)
	// An engine may report the request written after the first response
	// byte (its writer and reader run apart); then the phase starts where
	// the connection was ready instead.
	var sent time.Time
	for _, from := range []time.Time{t.wrote, t.tlsDone, t.connectDone, start} {
		if !from.IsZero() && (t.firstByte.IsZero() || !from.After(t.firstByte)) {
			sent = from
			break
		}
	}
	res.ttfb = span(sent, t.firstByte)
	if res.err == nil {
		res.total = span(start, t.bodyEnd)
	}
	if res.remote == "" {
		res.remote = t.remote
	}
	if res.alpn == "" {
		res.alpn = t.alpn
	}
}

// negotiated returns the ALPN choice of the handshake, if one completed.
func (t *traceTimes) negotiated() (alpn string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.alpn, t.handshook
}

// percentiles returns, for each phase, the q-quantile over the runs that
// reached it (nil when none did), in milliseconds.
func percentiles(runs []fetchResult, q float64) phases {
	pick := func(f func(fetchResult) *time.Duration) *float64 {
		var ds []time.Duration
		for _, r := range runs {
			if d := f(r); d != nil {
				ds = append(ds, *d)
			}
		}
		if len(ds) == 0 {
			return nil
		}
		slices.Sort(ds)
		v := float64(quantile(ds, q)) / float64(time.Millisecond)
		return &v
	}
	return phases{
		DNS:     pick(func(r fetchResult) *time.Duration { return r.dns }),
		Connect: pick(func(r fetchResult) *time.Duration { return r.connect }),
		TLS:     pick(func(r fetchResult) *time.Duration { return r.tls }),
		TTFB:    pick(func(r fetchResult) *time.Duration { return r.ttfb }),
		Total:   pick(func(r fetchResult) *time.Duration { return r.total }),
	}
}

// quantile returns the q-quantile of sorted (not empty) by the nearest
// rank, interpolating the median of an even count as the middle pair's
// mean.
func quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if q == 0.5 && n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	i := int(q*float64(n)+0.999999) - 1
	return sorted[min(max(i, 0), n-1)]
}

// protocolOf names the protocol a response came on: h2 (HTTP/2 over TLS),
// h2c (HTTP/2 over clear text) or http/1.1.
func protocolOf(resp *http.Response) string {
	switch {
	case resp.ProtoMajor == 2 && resp.TLS != nil:
		return alpnH2
	case resp.ProtoMajor == 2:
		return protoH2C
	}
	return alpnHTTP1
}
