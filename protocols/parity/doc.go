// Package parity is the parity suite of protocols.Transport: the proof
// that it is a drop-in for net/http users. Its tests (the package has no
// other code) run one table of scenarios through net/http's Transport and
// through protocols.Transport on every backend, against the same local
// servers, and compare what a caller can observe. Every difference is a
// failure, except those listed, with their reasons, in the table
// intendedDifferences (differences_test.go) and below.
//
//	go test -race ./protocols/parity/                  # the whole table
//	go test -race -run 'TestParity/gzip' ./protocols/parity/
//	PARITY_REPORT=/tmp/parity.md go test ./protocols/parity/   # the outcome table as Markdown
//
// # What runs
//
// Transports: net/http's Transport (the reference), and protocols.Transport
// on the stdnet, epoll and mock backends and on a plugin
// (testdata/netplugin: stdnet served out of process, every byte on the
// plugin's byte path). The mock backend serves the Go handler through its
// handler peers at the Go servers' addresses; it cannot reach nginx or
// the proxies, and those runs are reported n/a.
//
// Servers (started by the test through internal/testenv): a Go server
// over clear-text HTTP/1.1, over TLS offering h2 and http/1.1, and over
// h2c; nginx over HTTP/1.1 and TLS with h2, gzip on; tinyproxy (plain,
// CONNECT, and with Basic authentication); the same tinyproxy behind a
// TLS front (an https proxy); microsocks (socks5, socks5h). Without one
// of these programs the suite skips, and fails in CI (CI=true).
//
// Variants say which server and protocol a scenario's requests take:
// h1, h1-tls (HTTP/1.1 over TLS), h2 (by ALPN), h2c (prior knowledge),
// h1-localhost (a name to resolve), nginx-h1, nginx-h2. The scenarios
// cover GET, HEAD and POST with known and unknown length, redirects and
// cookies through http.Client, transparent gzip on, off and asked for by
// the caller, 100-continue accepted and refused, 103 Early Hints,
// request and response trailers, every proxy kind through the Proxy field
// with and without credentials and ProxyConnectHeader, NO_PROXY rules
// (golang.org/x/net/http/httpproxy), a per-request proxy choice, cancel
// before the headers and mid-body, Client.Timeout, ResponseHeaderTimeout,
// IdleConnTimeout, MaxConnsPerHost, MaxIdleConns, the idle pool's size,
// DisableKeepAlives, CloseIdleConnections, Clone, and replays on a
// connection the server dropped.
//
// # What is compared
//
// For each request: status, protocol, negotiated ALPN, final URL after
// redirects, response header (without Date, Server, Last-Modified and
// ETag, which describe the moment or the server), ContentLength,
// TransferEncoding, Uncompressed, Close, body bytes, trailer, the errors
// of RoundTrip and of reading the body by their errors.Is classes
// (context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded,
// io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, ECONNREFUSED, ECONNRESET,
// and net.Error's Timeout), and the ordered httptrace events (GetConn,
// DNSStart/DNSDone, ConnectStart/ConnectDone, TLSHandshakeStart/Done,
// GotConn with Reused and WasIdle, WroteHeaderField, WroteHeaders,
// Wait100Continue, WroteRequest, Got100Continue, Got1xxResponse,
// GotFirstResponseByte, PutIdleConn). Then, for the run: the requests the
// server saw (method, path, protocol, framing, the headers that matter,
// body bytes read, trailers, on which connection) and how many
// connections carried them, and the requests the proxy saw.
//
// Two normalisations apply to the trace, on both sides: a run of
// WroteHeaderField events is sorted by field, since the order of fields
// on the wire is not something a caller relies on (net/http's own
// HTTP/1.1 and HTTP/2 orders differ); and the events of writing a
// request are put before a GotFirstResponseByte or Got1xxResponse
// reported just before them, since net/http reports them after the flush
// (from another goroutine for HTTP/1.1), so a fast server's answer can
// be reported first. Steps that run concurrently are compared in a
// sorted order.
//
// A scenario also checks that net/http shows what it is about (the 103
// in the trace, the gzip asked for, two connections...), so a scenario
// that stopped testing anything fails.
//
// # Fields set by name
//
// fields_test.go sets Proxy, ProxyConnectHeader, DisableCompression,
// MaxIdleConns and Clone by name (they were added while the suite was
// written); a field that went missing would skip its runs with the reason,
// and a field of the wrong type fails the run.
//
// # Intended differences
//
// These differences between net/http's Transport and protocols.Transport
// are deliberate. Each has an entry in intendedDifferences; an entry that
// no run shows any more fails the suite, so this list cannot outlive the
// behaviour it describes.
//
//   - Default User-Agent. A request without User-Agent gets
//     "transportkit" (Transport.UserAgent, h1.DefaultUserAgent) instead
//     of "Go-http-client/1.1" or "/2.0", so that servers and logs can
//     tell the library apart. A caller that sets User-Agent sends it
//     unchanged.
//   - ALPN with HTTP/1.1 only. With HTTP/2 turned off (NextProtos
//     ["http/1.1"], or DisableKeepAlives), the TLS handshake still offers
//     "http/1.1" by ALPN, where net/http offers nothing. Servers that
//     insist on ALPN (RFC 7301; RFC 9113, section 3.2) accept the
//     connection, and Response.TLS.NegotiatedProtocol says which protocol
//     runs.
//   - Timeouts match os.ErrDeadlineExceeded too. Every timeout of
//     transportkit is a net.Error with Timeout() true that matches both
//     context.DeadlineExceeded and os.ErrDeadlineExceeded, whichever
//     clock ran out first, over HTTP/1.1 and HTTP/2; net/http's
//     Client.Timeout errors match context.DeadlineExceeded only, and its
//     HTTP/2 ResponseHeaderTimeout error neither. A caller testing either
//     sentinel, or Timeout(), sees a timeout.
//   - Idle connections kept per host. MaxIdleConnsPerHost zero keeps
//     DefaultMaxIdleConnsPerHost (64) idle connections per origin, where
//     net/http keeps 2: a client that sends bursts to one host reuses its
//     connections instead of dialing anew, and closing the extra idle
//     ones, after each burst. Set MaxIdleConnsPerHost to 2 for
//     net/http's behaviour.
//   - DisableKeepAlives speaks HTTP/1.1 over TLS. With DisableKeepAlives
//     the handshake offers only http/1.1 (protocols/alpn.go): an HTTP/2
//     connection exists to be shared, and one used for a single request
//     costs a preface, SETTINGS and GOAWAY for nothing. net/http
//     negotiates h2 and closes the connection after the request. Each
//     request gets its own connection either way.
//   - socks5 looks the target up locally. A socks5:// proxy gets the
//     target's address, looked up by the client (DNSStart and DNSDone
//     in the trace), as curl does, and socks5h:// gets the name; net/http
//     sends the name to socks5:// and socks5h:// alike
//     (protocols/proxy.go).
//   - Any 2xx answer to CONNECT opens the tunnel (RFC 9110, section
//     9.3.6); net/http wants 200 exactly. (tinyproxy answers 200: no
//     scenario shows it.)
//   - An https proxy's TLS name is the proxy's host, always; net/http
//     takes TLSClientConfig.ServerName when it is set, a name meant for
//     the origin. (The scenarios set no ServerName: none shows it.)
//   - GetConn once per request on HTTP/2. net/http reports GetConn twice
//     for a request to an HTTP/2 connection it already has (once from its
//     HTTP/1 pool, once from its HTTP/2 pool); transportkit has one pool.
//   - GotConn with MaxConnsPerHost over HTTP/2. net/http dials through its
//     HTTP/1 pool and then takes the connection from its HTTP/2 pool, so
//     the dialing request reports reused=true and the next reused=false;
//     transportkit reports the dial as new and the next as reused.
//   - GotConn.WasIdle on HTTP/2 is true when no request is active on the
//     connection; net/http counts a finished stream until its cleanup
//     runs.
//   - The mock and plugin backends resolve no names in the host: no
//     DNSStart/DNSDone, and ConnectStart carries the name (the mock
//     answers the address as dialed; a plugin dials it in its process).
//   - WroteRequest when a refused 100-continue body is not sent: net/http
//     reports it when its write goroutine gives up the body (with an
//     error over HTTP/2, over HTTP/1.1 only if it gets there in time);
//     transportkit reports it over HTTP/1.1 before the response, without
//     an error, and not over HTTP/2.
//   - The order of net/http's writer and reader events around
//     100-continue varies from run to run (two goroutines report them);
//     transportkit reports them from one goroutine in the order they
//     happen. They are compared in a canonical order.
//   - IdleConnTimeout's zero value. Zero means DefaultIdleConnTimeout
//     (90 s), as in http.DefaultTransport, not "no limit" as in a zero
//     http.Transport: a pooled connection is never kept forever by
//     accident. A negative value means no limit. (No scenario waits 90
//     s; the entry is documentation only.)
package parity
