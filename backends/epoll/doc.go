// Package epoll is transportkit's Linux network engine: a few event loops
// on golang.org/x/sys/unix that serve every stream, so that an idle stream
// holds no goroutine and no buffer, and IsReadable is answered from the
// poller's readiness state without a system call. It is the default backend
// on Linux; elsewhere it registers as unavailable and the registry falls
// back to stdnet.
//
// Import it for its side effect of registering "epoll" with package
// registry, or call Open directly. Its JSON configuration (Options.Config)
// is described by Config.
//
// # Design
//
// Sockets are non-blocking and close-on-exec and are registered once,
// edge-triggered, for input, output and the peer's shutdown. A loop
// goroutine waits in epoll_wait and, per event, records readiness in the
// stream's two pollDir words (read and write) and wakes the goroutine
// parked there, if any, through a one-slot channel: no allocation per
// wait, no lock, one hand-off from the loop to the caller.
//
// Write tries write(2) first and parks only on EAGAIN. Read tries read(2)
// first unless the readiness state proves it would fail: with
// edge-triggered epoll every arrival of data after a drain produces an
// event, so a Read after a drain (EAGAIN, or a short read of a stream
// socket) with no event since parks at once. That saves one of the two
// read calls per request and response that a try-first poller makes; set
// Config.TryRead to always try.
//
// On a non-race build the reads and writes are raw system calls: the
// sockets never block, so the goroutine keeps its P.
//
// # Deadlines
//
// A deadline is a monotonic instant checked by the caller before each
// attempt, plus a runtime timer (time.AfterFunc, one per stream and
// direction, made the first time a deadline is set and reused) that wakes a
// parked caller when it passes. The timer holds no goroutine while pending.
// Loop-owned timer heaps were considered: they need a lock shared by all
// streams of a loop and an eventfd write (a system call) and a loop wake-up
// whenever a deadline moves earlier, where a runtime timer is a per-P heap
// operation with no system call; setting a deadline is on the hot path of
// protocol code that sets one per request.
//
// # Lifetimes
//
// Read and Write hold a per-direction mutex across their system calls, and
// Close sets the closed flag, wakes both directions and takes both mutexes
// before closing the fd, so the fd is closed once and never while a system
// call uses it. Every failed dial closes its socket. Backend.Close stops
// new dials; each loop exits once its last stream is closed.
package epoll
