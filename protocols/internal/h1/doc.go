// Package h1 is an HTTP/1.1 client connection over any transport.Stream.
//
// A Conn carries one exchange at a time on its caller's goroutine:
// RoundTrip writes the request (Host, Content-Length or chunked body,
// trailers, "Expect: 100-continue") and reads the response head; the
// response body then reads straight from the connection's buffer, which
// comes from a pool only while an exchange is in flight. A request body
// that is not small and in memory is written by a goroutine of the
// exchange while the response is read, as net/http does, so that a server
// may answer before it has read the body and a caller may stream a body in
// answer to the response; otherwise the Conn starts no goroutine. Context
// cancellation sets a deadline in the past on the stream through
// context.AfterFunc.
//
// Responses are read with the rules of http.ReadResponse, checked against
// it by a differential fuzz target: 1xx responses are skipped (101 is
// final: with Upgrade and "Connection: Upgrade" its body is the
// connection itself, otherwise it has no body and the connection is
// closed, as with net/http), HEAD, 204 and 304 have no body,
// Content-Length and chunked bodies with trailers, bodies that run until
// the server closes, HTTP/1.0 and Connection: close. A response that breaks a rule fails with a
// *ProtocolError whose Rule is one of the Err* sentinels, and the
// connection is closed. The codec is stricter than net/http on purpose
// in three places: a status code must be three digits from 100 up,
// whitespace between a field name and its colon is rejected, and a
// trailer section must end in CRLF CRLF.
//
// Errors of RoundTrip and of response bodies are *Error values (Op
// "write", "read" or "body"), or what Options.WrapError makes of them.
// They match the sentinels shared with HTTP/2 and package protocols where
// they mean the same: ErrServerClosed (also io.EOF) when the server
// closed before any byte of a response, ErrNotProcessed when no byte of
// the request was written, and every timeout matches both
// os.ErrDeadlineExceeded and context.DeadlineExceeded.
//
// As net/http's Transport does, a request that states no Accept-Encoding
// and no Range (other than HEAD) is sent with "Accept-Encoding: gzip",
// and a gzip response to it is decompressed as it is read (see
// Options.DisableCompression); req.Header is never changed. The request's
// httptrace.ClientTrace, if any, gets net/http's request hooks in
// net/http's order: WroteHeaderField for each field written (Host and
// User-Agent included), WroteHeaders, Wait100Continue, GotFirstResponseByte,
// Got100Continue and Got1xxResponse for each 1xx head (an error from it
// ends the exchange with that error), and WroteRequest with the write's
// error. Without a trace they cost nothing.
//
// A status line is checked as soon as it arrives, before the rest of
// the head: a peer that does not speak HTTP (an SSH banner, say) fails
// the exchange at once even if it keeps the connection open.
//
// A connection is reused only when the request was written in full, the
// body reached EOF and neither side asked to close; Options.OnDone tells
// its owner, such as the pool in package protocols, when that happens.
package h1
