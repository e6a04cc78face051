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
// IdleConnTimeout. A replayable request that fails on a reused connection
// before any byte of a response is sent again on another connection.
//
// HTTP/1.1 is package h1, HTTP/2 package h2; the pool works with both
// through a small internal interface, and the protocol is decided in one
// place, alpn.go. An HTTP/2 connection is shared by the callers to its
// origin up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS, each holding a
// reserved stream slot, and a new one is dialed when all are full. A dial
// that may give HTTP/2 is shared by the callers that arrive while it is in
// flight, and its connection is handed out only once the peer's SETTINGS
// are known. A connection that got GOAWAY or failed takes no new requests
// and is closed when its last one ends; requests the server did not
// process (refused streams, GOAWAY) are sent again on another connection
// when their body can be had again.
package protocols
