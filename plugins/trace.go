package plugins

import (
	"context"
	"crypto/tls"
	"net/http/httptrace"
	"sync/atomic"
)

// dialTrace reports a plugin Dial to the caller's httptrace.ClientTrace,
// as transport.TraceConnect and transport.StartTLS would for an
// in-process backend: ConnectStart and ConnectDone for the network and
// address asked for (not the plugin's own sockets, nor the host's to the
// plugin), and, for a handshake done in the plugin, TLSHandshakeStart and
// TLSHandshakeDone once the plugin answers (the plugin's events reach the
// host together, with its answer).
type dialTrace struct {
	trace            *httptrace.ClientTrace // nil: nothing to report
	network, address string
	tls              bool
}

// traceDial reports ConnectStart and returns the dialTrace whose done
// reports the rest.
func traceDial(ctx context.Context, network, address string, inPlugin bool) dialTrace {
	t := dialTrace{trace: httptrace.ContextClientTrace(ctx), network: network, address: address, tls: inPlugin}
	if t.trace != nil && t.trace.ConnectStart != nil {
		t.trace.ConnectStart(network, address)
	}
	return t
}

// done reports how the dial ended: resp is the plugin's answer (nil if
// there was none), err the Dial's error.
func (t dialTrace) done(resp *dialResponse, err error) {
	if t.trace == nil {
		return
	}
	// A handshake the plugin began means the connect itself succeeded.
	handshake := t.tls && (err == nil || (resp != nil && resp.TLSStarted))
	connectErr := err
	if handshake {
		connectErr = nil
	}
	if t.trace.ConnectDone != nil {
		t.trace.ConnectDone(t.network, t.address, connectErr)
	}
	if !handshake {
		return
	}
	if t.trace.TLSHandshakeStart != nil {
		t.trace.TLSHandshakeStart()
	}
	if t.trace.TLSHandshakeDone != nil {
		var cs tls.ConnectionState
		if err == nil && resp != nil && resp.TLS != nil {
			cs = resp.TLS.state()
		}
		t.trace.TLSHandshakeDone(cs, err)
	}
}

// traceTLSStart returns ctx with a ClientTrace that records, in started,
// that a TLS handshake began: the plugin side's dial tells the host so.
func traceTLSStart(ctx context.Context, started *atomic.Bool) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		TLSHandshakeStart: func() { started.Store(true) },
	})
}
