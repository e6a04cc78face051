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
// # Design
//
// Sockets are non-blocking and close-on-exec and are registered once per
// stream, edge-triggered, for input and the peer's shutdown; output
// readiness is asked for only while a connect is in progress or after a
// Write met EAGAIN, since otherwise every ACK would report it.
//
// Each stream has two readiness words (read and write) and a one-slot
// channel per direction. A caller that must wait announces itself in the
// word and parks on the channel; whoever reports readiness (or a deadline,
// or Close) swaps the word and sends exactly one token. No allocation per
// wait, no lock, and a wake-up is never lost.
//
// The callers that must wait on a loop elect a leader, the first that
// must wait while nobody leads; the others park as followers, and the
// leader hands out the events of their streams on its way. It steps down
// when its own wait is over, and the loop goroutine takes over while
// followers are left. How the leader sleeps depends on its company:
//
//   - Alone (no follower now, and neither a follower nor another stream's
//     event in its loop's last 8 leads), it blocks in epoll_wait on the
//     loop's epoll fd itself, until its own event or another stream's,
//     for at most 1 ms (then it goes on as below, so that a goroutine
//     made runnable on its P meanwhile waits no longer). The call returns
//     its own event, and its return is the whole wake-up: no goroutine
//     readied, no runtime thread woken, no system call besides. A lockstep echo on one
//     connection so costs three system calls per message (write,
//     epoll_wait, readv) where the runtime's poller makes 4.3 to 4.5 (a
//     read failing with EAGAIN, and its idle threads' futex, nanosleep and
//     non-blocking epoll_wait calls), and about a third less CPU.
//   - With followers, a system call that blocks would hold the P the
//     woken followers need, so the leader sleeps in the runtime's poller
//     instead, like a caller of the runtime's network poller: the loop's
//     epoll fd is itself pollable, it sits in an outer epoll fd that the
//     runtime watches, and the leader harvests it with a non-blocking
//     epoll_wait whenever the runtime reports it readable, and once before
//     it sleeps (the wait clears the runtime's record of readiness, so
//     events queued since the last harvest would wait for the next). A
//     harvest serves many streams: with 1,000 lockstep connections a
//     message costs 2.05 system calls (write, readv, a share of the
//     harvests) against the runtime poller's 3.07.
//
// A lone leader takes the loop's epoll fd out of the outer one, or every
// event would wake a runtime thread as well. Spinning before sleeping was
// tried and rejected: on a shared machine it takes the CPU the peer needs.
// Config.BlockingWait selects the classic design, a loop goroutine blocked
// in epoll_wait on its own thread, which measured slower: every wake-up
// crosses threads. BENCHMARKS.md has the measurements.
//
// Write tries write(2) first and parks only on EAGAIN. Read tries the
// read first unless the readiness word proves it would fail: with
// edge-triggered epoll every arrival of data after a drain is reported, so
// a Read after a drain with no event since parks at once (a lone caller's
// epoll_wait then returns at once if the data has come). To know a drain
// even when a read fills the caller's buffer exactly, reads use readv(2)
// with one spare byte kept in the stream. A request/response exchange so
// costs one read system call instead of the two (one failing with EAGAIN)
// of a try-first poller. Config.TryRead restores try-first. On non-race
// builds reads and writes are raw system calls: the sockets never block,
// so the goroutine keeps its P.
//
// IsReadable reads the readiness word. When no goroutine leads the loop
// (nobody is waiting on any of its streams), events may still sit in the
// epoll fd, so IsReadable first collects them with one non-blocking
// epoll_wait on the loop's epoll fd (never a call on the stream's socket);
// while any caller waits on the loop, it makes no system call at all.
//
// # Deadlines
//
// A deadline is a monotonic instant that a caller checks before each
// attempt, plus a runtime timer (time.AfterFunc, one per stream and
// direction, made the first time a deadline is set and then reused) that
// pokes a parked caller when it passes. The timer holds no goroutine while
// pending. Loop-owned timer heaps were considered and rejected: a heap per
// loop needs a lock shared by all the loop's streams, and an eventfd write
// (a system call) plus a loop wake-up whenever a deadline moves earlier,
// where resetting a runtime timer is a per-P heap operation with no system
// call, and protocol code sets a deadline per request.
//
// # Lifetimes
//
// Read and Write hold a per-direction mutex across their system calls, and
// Close sets the closed flag, pokes both directions (a parked leader is
// interrupted through the loop's eventfd) and takes both mutexes before it
// closes the fd, so the fd is closed once and never while a system call
// uses it. Every failed dial closes its socket. Backend.Close stops new
// dials; each loop exits once its last stream is closed. A loop's own fds
// (its two epoll fds and the eventfd) are closed by the loop goroutine
// alone; every other use of them holds a reference to the loop, which
// every stream holds and IsReadable takes for the while, and the loop
// closes them only once no reference is left, so a closed fd, or a number
// the kernel reused, is never touched.
package epoll
