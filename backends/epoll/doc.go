// Package epoll is transportkit's Linux network engine: event loops on
// golang.org/x/sys/unix that serve every stream, so that an idle stream
// holds no goroutine and no buffer, and IsReadable is answered from the
// poller's readiness state without touching the socket. It is the default
// backend on Linux; elsewhere it registers as unavailable (Available
// returns an error wrapping transport.ErrUnavailable) and the registry
// falls back to stdnet.
//
// Import it for its side effect of registering "epoll" with package
// registry, or call Open directly. Its JSON configuration
// (transport.Options.Config, such as {"loops": 2}) is described by Config;
// unknown fields, fields given twice and numbers outside their documented
// range are rejected with a *registry.ConfigError naming the field.
//
// A socket connected elsewhere (for example received from a plugin
// process) becomes a Stream with Backend.Adopt (an *os.File, as
// transport.Adopter); its doc says who owns the descriptor.
//
// # How it works
//
// Sockets are non-blocking and registered once, edge-triggered, with one
// of a few event loops. A caller that must wait parks on its stream; the
// callers waiting on a loop elect a leader that waits in epoll_wait for
// all of them (alone, on the loop's epoll fd itself, so that its wake-up
// is the return of its own system call, after a spin of up to 50 µs while
// its recent waits were that short; with company, through the runtime's
// poller) and hands out their events. Reads use readv(2) with
// one spare byte, so that a drained socket is known and a Read that
// would fail with EAGAIN parks without trying. Deadlines are runtime
// timers, one per stream and direction. Close waits for the system calls
// in flight, so a descriptor is closed once and never while in use.
// Config.BlockingWait (a loop goroutine blocked in epoll_wait) and
// Config.TryRead (read first, wait on EAGAIN) select the classic designs
// instead, for comparison; Config.NoSpin turns the spin off.
//
// docs/design/epoll.md has the design: readiness words, leaders and
// followers, how deadlines and lifetimes are kept, what was tried and
// rejected, and the system calls per message it saves; BENCHMARKS.md has
// the measurements.
package epoll
