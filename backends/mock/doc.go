// Package mock is a deterministic, in-memory transport.Backend for tests.
// It opens no socket and no file: each Dial makes a pair of connected
// in-memory ends, the client's transport.Stream and a server end answered
// by the Peer configured for the address.
//
//	b := mock.New()
//	defer b.Close()
//	b.Handle("example.com:80", mock.ScriptPeer(...), faults...)
//	s, err := b.Dial(ctx, "tcp", "example.com:80")
//
// A Dial to an address with no peer fails with an *transport.OpError
// wrapping syscall.ECONNREFUSED; so does every Dial of a backend opened
// through the registry ("mock"), until the test configures it with Handle
// (type-assert the transport.Backend to *mock.Backend).
//
// # Streams
//
// The streams behave as TCP does where tests look: each direction has a
// bounded buffer (1 MiB) and a writer blocks while it is full; deadlines
// are kept with timers and wake blocked calls, which fail with errors
// matching os.ErrDeadlineExceeded; CloseWrite makes the other end read
// io.EOF once it has drained; Close wakes every blocked call, and later
// calls fail with errors matching net.ErrClosed. Errors are
// *transport.OpError values from backend "mock". Writes are queued as
// chunks of at most 64 KiB and a Read never returns bytes of two chunks,
// so what each Read returns depends only on what was written and on the
// faults, never on timing. The streams pass transport/transporttest.
//
// # Three kinds of peer
//
// A scripted peer (ScriptPeer, TLSScriptPeer) plays a list of steps on
// each connection: Send a chunk, Recv n bytes or RecvUntil a delimiter,
// Await a channel, CloseWrite, Close or Reset. Backend.Conns lists the
// connections and Conn.Written returns what the client wrote, for the test
// to check. Backend.DialTLS to a scripted peer skips the handshake and
// reports the script's ALPN protocol, so HTTP/2 and HTTP/1.1 client code
// can be tested byte for byte.
//
// A handler peer runs real server code in goroutines the backend owns:
// FuncPeer runs a func(net.Conn) per connection; HandlerPeer serves an
// http.Handler with net/http's server over HTTP/1.1 (HTTP1), HTTP/2 with
// prior knowledge (H2C) or both; TLSHandlerPeer serves it over real TLS
// with ALPN "h2" and "http/1.1", using a built-in test certificate that
// clients trust through RootCAs.
//
// Faults (Refuse, Delay, Stall, SplitReads, SplitWrites, ResetAfter,
// CloseAfter) apply to any peer and combine. They count bytes, not time
// (only Delay waits, and a Dial's context cuts it short), so a test sees
// the same errors on every run.
//
// # Closing
//
// Backend.Close closes every connection the backend made, both ends,
// stops the HTTP servers and waits for every peer goroutine, so a test
// that closes its backend leaves no goroutine behind.
package mock
