// Package protocols puts HTTP on top of transportkit backends: Transport
// is an http.RoundTripper that dials through any transport.Backend (the
// epoll engine, the standard library's net, the in-memory mock, a plugin),
// negotiates HTTP/1.1 or HTTP/2 by TLS ALPN (or speaks HTTP/2 with prior
// knowledge over clear text when H2C is set), and pools connections per
// origin.
//
//	client := &http.Client{Transport: &protocols.Transport{Backend: b}}
//
// # Design
//
// An HTTP/1.1 request runs on its caller's goroutine from start to end: the caller
// takes a connection from the origin's idle stack (or dials one), writes
// the request, reads the response head, and reads the body straight from
// the connection's buffer. When the body reaches EOF the connection goes
// back on the stack. There is no reader or writer goroutine per
// connection, and an idle connection holds no buffer (buffers come from a
// sync.Pool for the time of an exchange), so an idle pooled connection
// costs a few hundred bytes of Go memory beyond its stream and no
// goroutine.
//
// Idle connections are checked when taken: one that is readable (the
// server closed it, or sent something unasked) is closed and the next one
// tried. One timer per Transport closes connections idle for longer than
// IdleConnTimeout.
//
// HTTP/1.1 is package h1, HTTP/2 package h2; the pool works with both
// through a small internal interface, and the protocol is decided in one
// place, alpn.go. An HTTP/2 connection is shared by the callers to its
// origin up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS, each holding a
// reserved stream slot, and a new one is dialed when all are full. A dial
// that may give HTTP/2 is shared by the callers that arrive while it is in
// flight (each waits for it one second at most, or a quarter of what its
// own deadline leaves, then dials its own), and its connection is handed
// out only once the peer's SETTINGS are known. At MaxConnsPerHost, callers
// wait in the pool, in order, for an idle HTTP/1.1 connection, a stream
// slot on an HTTP/2 connection or a connection slot; no request enters a
// connection without a slot. A connection that got GOAWAY or failed takes
// no new requests and is closed when its last one ends.
//
// # Proxies, tracing and limits
//
// As net/http's DefaultTransport, the zero Transport takes its proxy from
// the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY); Transport.Proxy
// chooses otherwise, and NoProxy turns proxies off. http, https, socks5
// and socks5h proxies are spoken, with credentials from the proxy URL.
// httptrace's GetConn, GotConn and PutIdleConn come from the pool, and
// the dial's DNS, connect and TLS events from the backend, in net/http's
// order. MaxIdleConns bounds idle connections over all origins, pools of
// origins with nothing open are dropped, and Clone copies a Transport's
// configuration without its state.
//
// # Errors and retries
//
// RoundTrip and response bodies fail with *Error, one shape over
// HTTP/1.1 and HTTP/2: the step (Op), the protocol, the origin and the
// cause, which keeps the protocol's own error for errors.As. errors.Is
// tells timeouts (os.ErrDeadlineExceeded and context.DeadlineExceeded
// alike), cancellation (context.Canceled), a server that closed before
// responding (ErrServerClosed, also io.EOF) and a request the server did
// not process (ErrNotProcessed).
//
//	resp, err := client.Do(req)
//	var e *protocols.Error
//	switch {
//	case errors.Is(err, context.DeadlineExceeded): // any timeout
//	case errors.As(err, &e): // e.Op, e.Proto, e.Addr
//	}
//
// A request the server did not process is sent again, whatever its
// method, when its body can be had again; one that failed on a reused
// connection before any byte of a response is sent again when its method
// allows. Four sends at most (those lost to a connection the server
// retired after serving others do not count, up to sixteen): at once on
// another connection when the one it failed on is gone, after a growing
// wait from about 100 ms when the server refused it on a live one.
//
// Neither this package nor package h1 writes to the standard logger; the
// Transport's Logger gets its debug events. (Package h2's engine, before
// its rewrite, logs a few peer protocol errors through the log package:
// see its doc.)
package protocols
