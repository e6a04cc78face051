package transport

import (
	"context"
	"crypto/tls"
	"net/http/httptrace"
)

// Tracing: a Dial or a TLS handshake reports its progress to the
// net/http/httptrace.ClientTrace carried by its context, with net/http's
// meanings, so that tracing and metrics built on httptrace see every
// backend alike:
//
//   - DNSStart and DNSDone around a name lookup. A backend that resolves
//     with a net.Resolver (or dials with a net.Dialer) gets them from the
//     resolver; one that resolves otherwise, or out of process, reports
//     them itself.
//   - ConnectStart and ConnectDone around each connection attempt, with
//     the network and the address dialed (an IP:port after resolution).
//     net.Dialer reports them itself; other backends call TraceConnect.
//   - TLSHandshakeStart and TLSHandshakeDone around a handshake: StartTLS
//     reports them; a TLSDialer reports them itself, after ConnectDone.
//
// transporttest's TestBackend checks the connect events of every backend.

// TraceConnect reports the start of a connection attempt to network and
// address to the ClientTrace in ctx, if it has ConnectStart, and returns
// the function that reports its end (ConnectDone) with the attempt's
// error. Without a trace it returns a function that does nothing.
func TraceConnect(ctx context.Context, network, address string) (done func(err error)) {
	trace := httptrace.ContextClientTrace(ctx)
	if trace == nil || (trace.ConnectStart == nil && trace.ConnectDone == nil) {
		return func(error) {}
	}
	if trace.ConnectStart != nil {
		trace.ConnectStart(network, address)
	}
	return func(err error) {
		if trace.ConnectDone != nil {
			trace.ConnectDone(network, address, err)
		}
	}
}

// traceTLS reports the start of a TLS handshake to the ClientTrace in
// ctx and returns the function that reports its end, or nil when no hook
// listens (so that the state is not built for nobody).
func traceTLS(ctx context.Context) (done func(tls.ConnectionState, error)) {
	trace := httptrace.ContextClientTrace(ctx)
	if trace == nil || (trace.TLSHandshakeStart == nil && trace.TLSHandshakeDone == nil) {
		return nil
	}
	if trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	return func(st tls.ConnectionState, err error) {
		if trace.TLSHandshakeDone != nil {
			trace.TLSHandshakeDone(st, err)
		}
	}
}
