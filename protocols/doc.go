// Package protocols puts HTTP on top of transportkit backends: Transport
// is an http.RoundTripper that dials through any transport.Backend (the
// epoll engine, the standard library's net, the in-memory mock, a plugin),
// negotiates HTTP/1.1 or HTTP/2 by TLS ALPN (or speaks HTTP/2 with prior
// knowledge over clear text when H2C is set), and pools connections per
// origin.
//
//	client := &http.Client{Transport: &protocols.Transport{Backend: b}}
//
// # Connections
//
// An HTTP/1.1 exchange runs on the caller's goroutine (a streamed request
// body is written by a goroutine of its own, beside the response), and an
// idle HTTP/1.1 connection holds no goroutine and no buffer; a connection that
// the server closed while it was idle is noticed (transport.Stream's
// IsReadable) and dropped when it is next taken, and IdleConnTimeout
// closes those left idle. An HTTP/2 connection is shared by the callers to its origin, up to
// the streams the server allows, and a new one is dialed when it is full.
// ALPN decides the protocol, in one place (alpn.go). MaxConnsPerHost makes
// callers wait in the pool, in order of arrival, instead of dialing more.
// docs/design/http-pool.md has the design (who reads and writes, dial
// sharing, stream slots), and docs/ARCHITECTURE.md the contracts.
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
// Neither this package nor packages h1 and h2 write to the standard
// logger; the Transport's Logger gets their debug events.
package protocols
