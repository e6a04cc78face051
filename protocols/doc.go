// Package protocols puts HTTP on top of transportkit backends: Transport
// is an http.RoundTripper that dials through any transport.Backend (the
// epoll engine, the standard library's net, the in-memory mock, a plugin),
// negotiates the application protocol by TLS ALPN, and pools connections
// per origin.
//
//	client := &http.Client{Transport: &protocols.Transport{Backend: b}}
//
// # Design
//
// A request runs on its caller's goroutine from start to end: the caller
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
// HTTP/1.1 is package h1. The pool works with connections through a small
// internal interface, so an HTTP/2 connection (package h2, offered as "h2"
// by ALPN) plugs in beside it; ALPN is decided in one place, alpn.go.
package protocols
