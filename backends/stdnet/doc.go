// Package stdnet is the transportkit backend built on the standard
// library's net package: Go's runtime network poller does the waiting. It
// runs wherever Go does, which makes it the fallback at the end of the
// registry's default chain.
//
// Importing the package registers it with package registry under the name
// "stdnet"; [Open] opens one directly, without the registry.
//
// Dial supports "tcp", "tcp4", "tcp6" and "unix"; any other network fails
// with an error matching transport.ErrUnsupported. It honours every field
// of transport.Options: ConnectTimeout, LocalAddr, DisableNoDelay (TCP_NODELAY
// is on by default), KeepAlive, Control (called before connect, as
// net.Dialer.Control), Resolver (net.Dialer tries IPv4 and IPv6 addresses
// with Happy Eyeballs) and Logger. Options.Config must be empty: stdnet has
// no settings of its own.
//
// Streams wrap a *net.TCPConn or *net.UnixConn. Their errors are
// *transport.OpError values, as the contract says (the net package's
// *net.OpError is unwrapped into one), which match net.ErrClosed after
// Close and os.ErrDeadlineExceeded (as transport.ErrTimeout) after a
// deadline; Read returns io.EOF itself. IsReadable asks
// the kernel with one poll(2) of zero timeout on Unix systems, which
// consumes nothing (not even a pending error); on other systems (Windows)
// it always reports false, so a pool cannot see
// that an idle connection was closed until it uses it. Info answers
// InfoFD with the socket's descriptor (a Windows handle on Windows).
package stdnet
