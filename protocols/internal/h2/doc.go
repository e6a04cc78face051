// Package h2 is an HTTP/2 client connection over any transport.Stream:
// multiplexed streams, flow control both ways, the peer's SETTINGS
// honoured, GOAWAY, PING health checks, trailers, 1xx responses and
// 100-continue, httptrace hooks, and cancellation that resets only its
// own stream. It is its own engine, built on golang.org/x/net/http2's
// Framer and hpack (pinned by go.mod, so it behaves the same whatever Go
// release builds it); it uses no HTTP/2 client of x/net or net/http.
//
// A pool (package protocols) dials a Stream with any backend, checks that
// ALPN chose [NextProtoTLS] (or uses prior knowledge over a plain stream,
// h2c), and hands it to [NewConn]. It then calls [Conn.Reserve] to claim a
// stream slot within the peer's SETTINGS_MAX_CONCURRENT_STREAMS (false:
// use or dial another connection), [Conn.RoundTrip] to use it (or
// [Conn.Release] to give it back), and reads [Conn.State] to retire
// connections that are going away, closed or idle for too long; it waits
// for [Conn.Ready] before sharing a new connection. [Conn.Shutdown]
// closes gracefully; [Conn.Close] at once. As with net/http, a request
// that states no Accept-Encoding and no Range (other than HEAD) asks for
// gzip and its gzip response is decompressed as it is read, unless
// Options.DisableCompression is set.
//
// # Errors
//
// RoundTrip errors, and those of a response body's Read (but io.EOF), are
// *transport.OpError values (Op "roundtrip", "body") whose cause says
// what happened. [IsRetryable] (errors.Is with [ErrRetryable], which is
// protocols.ErrNotProcessed) reports a request the server certainly did
// not process: a stream refused with REFUSED_STREAM before any response,
// a stream above the last stream ID of the peer's GOAWAY, or a request
// never written because the connection was going away or closed. The
// caller may send it again on another connection if its body can be
// replayed. A request written and then left without a byte of response
// by a closing peer matches protocols.ErrServerClosed (and io.EOF).
// Protocol failures are reached with errors.As: http2.StreamError,
// http2.ConnectionError, [*GoAwayError]. A peer that floods the
// connection gets it closed, with errors matching [ErrFlood] and
// ENHANCE_YOUR_CALM; one that allows no streams makes a waiting RoundTrip
// fail with [ErrNoStreams] when its context ends. Nothing is logged to
// the standard library's logger; events go to Options.Logger.
//
// # How it works
//
// One goroutine per connection reads; the goroutines that have frames to
// send share one write buffer, so concurrent requests share write calls.
// An idle connection holds its read loop and a small read buffer.
// docs/design/h2-engine.md has the design, and docs/ARCHITECTURE.md ("The
// HTTP/2 engine") why the package exists, the comparison with net/http's
// and x/net's HTTP/2 clients, and the measurements. interop_test.go runs
// it against nghttpd and nginx, over TLS and h2c.
package h2
