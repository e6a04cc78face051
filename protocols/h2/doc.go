// Package h2 is an HTTP/2 client connection over any transport.Stream:
// multiplexed streams, flow control, the peer's SETTINGS honoured, GOAWAY,
// PING health checks, and cancellation that resets only its own stream.
//
// A pool (package protocols) dials a Stream with any backend, checks that
// ALPN chose [NextProtoTLS] (or uses prior knowledge over a plain stream,
// h2c), and hands it to [NewConn]. It then calls [Conn.Reserve] to claim a
// stream slot within the peer's SETTINGS_MAX_CONCURRENT_STREAMS (false:
// use or dial another connection), [Conn.RoundTrip] to use it (or
// [Conn.Release] to give it back), and reads [Conn.State] to retire
// connections that are going away, closed or idle for too long.
// [Conn.Shutdown] closes gracefully; [Conn.Close] at once.
//
// # Errors
//
// RoundTrip errors are *transport.OpError values whose cause says what
// happened. [IsRetryable] (errors.Is with [ErrRetryable]) reports a
// request the server certainly did not process: a stream refused with
// REFUSED_STREAM, a stream above the last stream ID of the peer's GOAWAY,
// or a connection that was going away before the request was sent. The
// caller may send such a request again on another connection if its body
// can be replayed. Protocol failures keep the engine's types, reached with
// errors.As: http2.StreamError, http2.ConnectionError, http2.GoAwayError.
// When the peer floods the connection, it is closed and its requests fail
// with errors matching [ErrFlood] and ENHANCE_YOUR_CALM.
//
// # Design: the engine
//
// Framing, HPACK, flow control, SETTINGS, GOAWAY, PING and stream resets
// are done by golang.org/x/net/http2's ClientConn (x/net v0.62.0), which
// runs over any net.Conn, and a Stream is one. The alternative was
// net/http's Transport.NewClientConn (Go 1.26), which runs the same HTTP/2
// code (bundled from x/net). Both were tried on one TLS connection to a
// local net/http h2 server, 32 goroutines issuing GETs of a 12-byte body,
// interleaved rounds in one process (2 cores shared with the server,
// GOMAXPROCS=2, go1.26.8):
//
//	req/s, median of 5 rounds [min..max]
//	net/http ClientConn   34,024 [29,419..34,482]
//	x/net ClientConn      33,247 [28,870..33,880]   ratio 0.98 (noise)
//
//	idle connection after one request, 1,000 connections, client process
//	only (server in another process), heap+stack after GC
//	net/http ClientConn   29.0-29.6 KB/conn, 1 goroutine/conn
//	x/net ClientConn      28.0-29.1 KB/conn, 1 goroutine/conn
//
// (The spike's code is not kept; BenchmarkRoundTrip32 in this package
// measures this package's Conn against net/http's client, W5 in the
// project's BENCH.md.) This package's Conn adds about 0.5 KB per idle
// connection over the bare x/net ClientConn (28.9 vs 28.4 KB, same
// setup) and one allocation per request (the body that frees the slot).
//
// Speed and memory are the same, so the choice rests on what the pool
// needs, and net/http's ClientConn in Go 1.26 lacks most of it: it dials
// its own connections (a Stream can only be smuggled in through a dial
// hook, as h2c even over TLS, losing Response.TLS), it has no Ping and no
// graceful Shutdown, it does not expose the peer's concurrency limit, and
// only its StreamError converts to a public type (GOAWAY and connection
// errors stay unexported). x/net's ClientConn takes a net.Conn and has
// Ping, Shutdown (sending GOAWAY), the health-check settings, and public
// StreamError, ConnectionError and GoAwayError. x/net marks this API
// deprecated in favour of net/http's, and from Go 1.27 it is implemented
// on top of net/http (which gains a way to ping); moving then means
// re-running this package's tests, which pin every behaviour relied on.
//
// Three things are done here, outside the engine:
//
//   - Slot accounting. x/net reservations cannot be given back and its
//     State takes a lock held across blocked socket writes, so Reserve,
//     Release and State keep their own counts (a request holds its slot
//     until its response body ends or is closed) against the peer's
//     limit, and never block. The engine stays the authority on the wire:
//     a request it cannot start yet waits inside RoundTrip.
//   - A guard on the read side (guard.go) that reads frame headers and
//     the few payload bytes of SETTINGS, RST_STREAM and GOAWAY: it learns SETTINGS_MAX_CONCURRENT_STREAMS and GOAWAY without asking
//     the engine, and closes the connection on floods the engine lets
//     through (it answers every PING, ignores RST_STREAM for unknown
//     streams, and reads empty CONTINUATION frames without end).
//   - Retry classification: the engine marks requests the server did not
//     process with unexported sentinel errors (those its own Transport
//     retries on); errors.go reads them with go:linkname, in one place,
//     and tests provoke each case so that an upgrade that changes them
//     fails loudly.
//
// Known limits of the engine: it logs a few peer protocol errors (and
// every frame of a type it does not know) through the standard library's
// log package, with no hook to route them to Options.Logger; and the
// GOAWAY it writes after a connection error is not flushed, so the peer
// usually just sees the connection close.
//
// Interop: interop_test.go runs requests, Ping and Shutdown against
// nghttpd and nginx, over TLS and h2c, where they are installed.
package h2
