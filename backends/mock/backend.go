package mock

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// Name is the name the mock backend reports and registers under.
const Name = "mock"

// Backend is an in-memory transport.Backend. Each address is answered by
// the Peer and Faults given to Handle; a Dial to any other address is
// refused. The zero value is not usable; call New or Open.
//
// A Backend is safe for concurrent use. Close closes every connection it
// made, both ends, and waits for its peers to return.
type Backend struct {
	opts transport.Options
	done chan struct{} // closed by Close; wakes Dials waiting out a Delay
	wg   sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	routes  map[string]route
	conns   []*Conn
	servers map[*httpPeer]*httpServer
}

// route is what answers one address.
type route struct {
	peer   Peer
	faults faults
}

var (
	_ transport.Backend   = (*Backend)(nil)
	_ transport.TLSDialer = (*Backend)(nil)
)

// New returns a Backend with no address configured and default options.
func New() *Backend {
	b, _ := Open(transport.Options{})
	return b
}

// Open returns a Backend with the given options, as the registry does.
// Of the options, ConnectTimeout bounds each Dial (with a Delay fault, say)
// and LocalAddr, when set, is the client end's local address; Logger
// receives the logs of HTTP peers' servers. The socket options (NoDelay,
// KeepAlive, Control) and the Resolver do not apply to memory and are
// ignored. Config must be empty, null or an empty JSON object (anything
// else is a *registry.ConfigError): the mock has no settings of its own,
// since its addresses are configured in code with Handle.
func Open(opts transport.Options) (*Backend, error) {
	if _, err := registry.DecodeConfig[struct{}](opts.Config); err != nil {
		return nil, err
	}
	return &Backend{
		opts:    opts,
		done:    make(chan struct{}),
		routes:  map[string]route{},
		servers: map[*httpPeer]*httpServer{},
	}, nil
}

// Name returns "mock".
func (b *Backend) Name() string { return Name }

// Handle makes p answer the Dials to address (exactly as the caller gives
// it to Dial, such as "example.com:80" or a unix socket path), whatever
// the network, with faults applied. A nil p, or the Stall fault, accepts
// connections and never answers. Handle replaces an earlier configuration
// of address; connections already made keep theirs.
func (b *Backend) Handle(address string, p Peer, faults ...Fault) {
	r := route{peer: p, faults: newFaults()}
	for _, f := range faults {
		if f.apply != nil { // the zero Fault changes nothing
			f.apply(&r.faults)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.routes[address] = r
}

// Conns returns the connections made so far, in the order they were
// dialed, including closed ones.
func (b *Backend) Conns() []*Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.conns)
}

func supported(network string) bool {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		return true
	}
	return false
}

// Dial connects to the peer configured for address. It fails with an
// *transport.OpError wrapping syscall.ECONNREFUSED when no peer is
// configured there or the Refuse fault is set, ErrUnsupported for a
// network other than tcp, tcp4, tcp6 and unix, net.ErrClosed after Close,
// and transport.ErrTimeout or context.Canceled when ctx ends first (which
// only a Delay fault gives it time to do).
func (b *Backend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	e, _, err := b.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (b *Backend) dial(ctx context.Context, network, address string) (*end, route, error) {
	traced := func(error) {} // ConnectDone, once the attempt has started
	fail := func(err error) (*end, route, error) {
		err = &transport.OpError{Op: "dial", Backend: Name, Network: network, Address: address, Err: err}
		traced(err)
		return nil, route{}, err
	}
	if !supported(network) {
		return fail(fmt.Errorf("network %q: %w", network, transport.ErrUnsupported))
	}
	ctx, cancel := b.opts.ConnectContext(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return fail(transport.ContextError(err))
	}
	traced = transport.TraceConnect(ctx, network, address)

	b.mu.Lock()
	closed := b.closed
	r, ok := b.routes[address]
	b.mu.Unlock()
	if closed {
		return fail(net.ErrClosed)
	}
	if ok && r.faults.delay > 0 {
		t := time.NewTimer(r.faults.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fail(transport.ContextError(ctx.Err()))
		case <-b.done:
			t.Stop()
			return fail(net.ErrClosed)
		}
	}
	if !ok || r.faults.refuse {
		return fail(syscall.ECONNREFUSED)
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fail(net.ErrClosed)
	}
	c := &Conn{network: network, address: address, done: make(chan struct{})}
	b.conns = append(b.conns, c)
	var local net.Addr = &Addr{Net: network, Address: Name + ":" + strconv.Itoa(len(b.conns))}
	if b.opts.LocalAddr != nil {
		local = b.opts.LocalAddr
	}
	c.p = newPair(c, local, &Addr{Net: network, Address: address})
	r.faults.install(c.p)
	if r.peer == nil || r.faults.stall {
		close(c.done)
	} else {
		r.peer.start(b, c)
	}
	b.mu.Unlock()
	traced(nil)
	return c.p.client(), r, nil
}

// DialTLS connects to address and returns a TLS stream. For a scripted
// peer no handshake takes place: the stream carries the script's bytes in
// the clear and reports through Info(transport.InfoTLS) a TLS 1.3
// connection state (no certificates) whose NegotiatedProtocol, also
// reported by Info(transport.InfoALPN), is the script's ALPN when cfg
// offers it or offers nothing, and "" when the script has none. When cfg
// offers protocols and not the script's, DialTLS fails with
// tls.AlertError(120) (no_application_protocol), as a server would. With
// Stall the scripted handshake never completes and DialTLS waits for ctx.
//
// For every other peer DialTLS runs a real handshake with
// transport.StartTLS, which the peer must answer (TLSHandlerPeer does).
func (b *Backend) DialTLS(ctx context.Context, network, address string, cfg *tls.Config) (transport.Stream, error) {
	ctx, cancel := b.opts.ConnectContext(ctx)
	defer cancel()
	e, r, err := b.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	s, ok := r.peer.(*scriptPeer)
	if !ok {
		return transport.StartTLS(ctx, e, cfg)
	}
	fail := func(err error) (transport.Stream, error) {
		e.Close()
		return nil, &transport.OpError{Op: "tls", Backend: Name, Network: network, Address: address, Err: err}
	}
	if cfg == nil {
		return fail(fmt.Errorf("nil tls.Config"))
	}
	if r.faults.stall {
		return fail(e.waitFor(ctx, nil))
	}
	if err := e.handshakeErr(); err != nil {
		return fail(err)
	}
	alpn := s.alpn
	if len(cfg.NextProtos) == 0 {
		alpn = ""
	} else if alpn != "" && !slices.Contains(cfg.NextProtos, alpn) {
		return fail(tls.AlertError(120))
	}
	return &tlsEnd{end: e, state: tls.ConnectionState{
		Version:            tls.VersionTLS13,
		HandshakeComplete:  true,
		CipherSuite:        tls.TLS_AES_128_GCM_SHA256,
		NegotiatedProtocol: alpn,
		ServerName:         cfg.ServerName,
	}}, nil
}

// handshakeErr reports why a scripted handshake cannot complete: the peer
// reset or closed the connection before sending anything.
func (e *end) handshakeErr() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	d := e.in()
	switch {
	case len(d.chunks) > 0:
		return nil
	case d.err != nil:
		return d.err
	case d.shut:
		return io.ErrUnexpectedEOF
	}
	return nil
}

// Close closes every connection the backend made (both ends: blocked
// calls on client streams return errors matching net.ErrClosed), shuts
// down the HTTP servers of handler peers, and waits for every peer
// goroutine to return. Later Dials fail with an error matching
// net.ErrClosed. Close is idempotent. Close waits for peer code too: a
// FuncPeer function that does not return once its connection is closed,
// or an HTTP/1 handler that ignores its request's context, makes Close
// wait for it.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	servers := b.servers
	conns := slices.Clone(b.conns)
	b.mu.Unlock()

	for _, s := range servers {
		s.close()
	}
	for _, c := range conns {
		c.p.closeAll()
	}
	b.wg.Wait()
	return nil
}

// Conn is the record of one connection a Backend made, for the test to
// inspect.
type Conn struct {
	network string
	address string
	p       *pair
	done    chan struct{}
	err     error // set before done is closed

	// Guarded by p.mu.
	written  [][]byte // chunks the client wrote
	recorded int      // bytes in written
}

// Network returns the network the connection was dialed on.
func (c *Conn) Network() string { return c.network }

// Address returns the address the connection was dialed to.
func (c *Conn) Address() string { return c.address }

// Written returns a copy of the bytes the client has written so far,
// whether or not the peer has read them yet: all of them, up to the first
// 64 MiB of the connection. Under scripted TLS these are the plain bytes;
// under real TLS, the encrypted ones.
func (c *Conn) Written() []byte {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return bytes.Join(c.written, nil)
}

// Done returns a channel closed when the peer has finished with the
// connection: a script has run its last step, a FuncPeer function or an
// HTTP server's connection has returned. For a stalled connection it is
// closed from the start.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns the error that stopped a script before its last step (the
// client closed or reset the connection while the script waited, say),
// once Done is closed; nil before, and for other peers.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Addr is the address of one end of a mock connection.
type Addr struct {
	// Net is the network the connection was dialed on, such as "tcp".
	Net string
	// Address is the address given to Dial for the peer's end, and
	// "mock:N" for the client's end of the Nth connection of a backend.
	Address string
}

// Network returns Net.
func (a *Addr) Network() string { return a.Net }

// String returns Address.
func (a *Addr) String() string { return a.Address }
