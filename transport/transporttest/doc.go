// Package transporttest is the conformance suite for transportkit
// backends. Every Stream and Backend implementation, in tree or shipped as a
// plugin, runs it from its own tests under the race detector.
//
// Its entry points:
//
//   - [TestStream] checks a Stream: it runs golang.org/x/net/nettest's
//     TestConn (the net.Conn contract: I/O, concurrency, deadlines) and then
//     transportkit's own rules for CloseWrite, IsReadable, Close, Info and
//     deadline errors. It takes a [MakePipe], a function that returns a
//     connected pair; [TCPPipe] and [UnixPipe] make one from a Backend by
//     dialing a standard library listener on loopback.
//   - [TestBackend] checks a Backend's Dial: TCP and unix sockets, refused
//     connections, context deadlines and cancellation, unsupported networks,
//     bad addresses and Dial after Close, each with the typed errors the
//     transport package promises. [TestBackendChecks] runs the checks it is
//     given by name, for a backend some checks cannot apply to.
//   - [TestOptions] checks that a Backend honours transport.Options:
//     ConnectTimeout, Control, LocalAddr, DisableNoDelay, KeepAlive and
//     Resolver. Backends that dial kernel sockets run it; it takes a
//     function with the signature of registry.Driver's Open.
//   - [VerifyNoLeaks] fails a test that leaves file descriptors or
//     goroutines behind. The suites use it themselves; use it in your own
//     tests too.
//
// Each check is a subtest, so a failure names the rule that broke, and a
// single rule can be rerun with go test -run, for example
// -run 'TestConformance/tcp/IsReadable'. The checks, by name:
//
//   - TestStream: nettest's BasicIO, PingPong, RacyRead, RacyWrite,
//     ReadTimeout, WriteTimeout, PastTimeout, PresentTimeout,
//     FutureTimeout, CloseTimeout, ConcurrentMethods (nettest.TestConn),
//     then CloseWrite, IsReadable, IsReadableDuringRead,
//     IsReadableAfterReset, Close, Info, Deadlines, StopReleases.
//   - TestBackend (and TestBackendChecks): Name, DialTCP, DialUnix,
//     Concurrent, Refused, ConnectTrace, Deadline, Cancel, CanceledBefore,
//     Unsupported, BadAddress, Closed ([BackendCheckNames] returns them in
//     order).
//   - TestOptions: ConnectTimeout, Control, ControlError, LocalAddr,
//     NoDelay, KeepAlive, Resolver.
//
// # Tunnel and relay backends
//
// A backend that reaches its peer through something in between (a proxy,
// a relay, another process) passes the suite when what the caller sees is
// what a direct socket would show:
//
//   - Refused: when the far side refuses the connection (a SOCKS5 reply 5,
//     a CONNECT answered 502 for a refused port, ...), Dial fails with an
//     *transport.OpError whose cause matches syscall.ECONNREFUSED, at
//     once and not as a timeout. Map the tunnel's answer to that errno.
//   - ConnectTrace: report the connect to the address the caller dialed
//     (transport.TraceConnect), not the sockets to the tunnel: the caller's
//     httptrace.ClientTrace must not see the backend's own connections,
//     so dial those under a context that hides it.
//   - IsReadableAfterReset and Close: a reset by the peer reaches the
//     caller as a reset (a Read error matching syscall.ECONNRESET, and
//     IsReadable true), not as a clean EOF: pass resets through, for
//     example by closing the relayed socket with SO_LINGER 0.
//   - Deadline and Cancel: a dial that cannot complete (the tunnel
//     answers nothing) ends at the context's deadline or cancellation,
//     with the typed errors above, and leaves nothing behind.
//   - VerifyNoLeaks counts descriptors for the whole process: a relay in
//     the same process that copies socket to socket with io.Copy makes the
//     runtime cache splice pipes, which VerifyNoLeaks tells apart (see its
//     doc); any other descriptor the relay keeps is reported.
//
// # Using it in a backend
//
// A backend author adds one test file:
//
//	package mybackend_test
//
//	import (
//		"testing"
//
//		"github.com/transportkit/transportkit/transport"
//		"github.com/transportkit/transportkit/transport/transporttest"
//		"example.com/mybackend"
//	)
//
//	func TestConformance(t *testing.T) {
//		b, err := mybackend.New(transport.Options{})
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer b.Close()
//		t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
//		t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
//	}
//
//	func TestBackend(t *testing.T) {
//		transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
//			b, err := mybackend.New(transport.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
//
// and runs go test -race. A backend that dials real sockets adds
//
//	func TestOptions(t *testing.T) {
//		transporttest.TestOptions(t, func(opts transport.Options) (transport.Backend, error) {
//			return mybackend.New(opts)
//		})
//	}
//
// A backend some of TestBackend's checks cannot apply to (an in-memory
// one cannot reach loopback listeners) runs the others with
// [TestBackendChecks] and says why. A backend whose streams do not come from a
// socket writes its own MakePipe: anything that returns the stream under
// test and a net.Conn peer connected to it.
//
// # Decisions the suite enforces
//
// Some rules are left open by net.Conn; the suite pins them down:
//
//   - A second Close of a Stream may return nil or an error matching
//     net.ErrClosed; every other call after Close must fail matching
//     net.ErrClosed. A second Close of a Backend likewise.
//   - IsReadable is true after Close, since a Read would then return at
//     once (with an error).
//   - The stream's InfoBackend and a dial error's OpError.Backend equal the
//     backend's Name.
//
// The suite never calls t.Parallel, listens on loopback and in temporary
// directories only, bounds every wait, and keeps its timeouts generous so
// a loaded machine does not make it flaky.
package transporttest
