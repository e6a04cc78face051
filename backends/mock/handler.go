package mock

import (
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// funcPeer runs a function per connection.
type funcPeer struct {
	f func(net.Conn)
}

// FuncPeer returns a peer that runs f with the server's end of each
// connection, in a goroutine the backend owns. The end is closed when f
// returns; f must return once the end is closed (its calls then fail with
// net.ErrClosed), since Backend.Close waits for it. f may run a real TLS
// server over the end, with tls.Server and ServerTLSConfig, to answer
// Backend.DialTLS.
func FuncPeer(f func(net.Conn)) Peer { return &funcPeer{f: f} }

func (fp *funcPeer) start(b *Backend, c *Conn) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer close(c.done)
		e := c.p.peer()
		defer e.Close()
		fp.f(e)
	}()
}

// Proto is a set of HTTP versions a HandlerPeer serves in clear text.
type Proto int

// HTTP versions for HandlerPeer, to combine with |.
const (
	// HTTP1 is HTTP/1.1 (and 1.0).
	HTTP1 Proto = 1 << iota
	// H2C is HTTP/2 over clear text with prior knowledge: the client
	// starts with the HTTP/2 preface, without an Upgrade.
	H2C
)

// httpPeer serves an http.Handler with the standard library's server.
type httpPeer struct {
	h      http.Handler
	protos Proto
	tls    *tls.Config // nil: clear text
}

// HandlerPeer returns a peer that serves h in clear text with net/http's
// server, speaking the versions in protos: HTTP1, H2C, or HTTP1|H2C to
// accept both (told apart by the HTTP/2 preface). A zero protos means
// HTTP1. Each Backend runs one server per HandlerPeer, started by the
// first Dial and stopped by Backend.Close.
func HandlerPeer(h http.Handler, protos Proto) Peer {
	if protos == 0 {
		protos = HTTP1
	}
	return &httpPeer{h: h, protos: protos}
}

// TLSHandlerPeer returns a peer that serves h over TLS with net/http's
// server, for Backend.DialTLS (or transport.StartTLS over a Dial). The
// versions offered follow cfg.NextProtos: "h2" for HTTP/2, "http/1.1"
// for HTTP/1.1, both when it lists neither. A nil cfg is
// ServerTLSConfig(); a cfg with no certificate gets the test certificate,
// which clients trust through RootCAs. cfg is not modified.
func TLSHandlerPeer(h http.Handler, cfg *tls.Config) Peer {
	if cfg == nil {
		cfg = ServerTLSConfig()
	} else {
		cfg = cfg.Clone()
	}
	if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
		cfg.Certificates = ServerTLSConfig().Certificates
	}
	return &httpPeer{h: h, tls: cfg}
}

// start hands the connection to this peer's server on b, starting the
// server first if needed.
func (hp *httpPeer) start(b *Backend, c *Conn) {
	s := b.servers[hp]
	if s == nil {
		s = hp.serve(b)
		b.servers[hp] = s
	}
	s.ln.push(c.p.peer())
}

// protocols returns the versions the server speaks.
func (hp *httpPeer) protocols() *http.Protocols {
	var p http.Protocols
	if hp.tls == nil {
		p.SetHTTP1(hp.protos&HTTP1 != 0)
		p.SetUnencryptedHTTP2(hp.protos&H2C != 0)
		return &p
	}
	h1 := slices.Contains(hp.tls.NextProtos, "http/1.1")
	h2 := slices.Contains(hp.tls.NextProtos, "h2")
	if !h1 && !h2 {
		h1, h2 = true, true
	}
	p.SetHTTP1(h1)
	p.SetHTTP2(h2)
	return &p
}

// httpServer is one http.Server of a backend, fed by a listener.
type httpServer struct {
	srv *http.Server
	ln  *listener
}

// serve starts a server for hp on b. The caller holds b.mu.
func (hp *httpPeer) serve(b *Backend) *httpServer {
	s := &httpServer{ln: newListener()}
	s.srv = &http.Server{
		Handler:   hp.h,
		Protocols: hp.protocols(),
		TLSConfig: hp.tls,
		ErrorLog:  b.opts.Log().StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		// The server's connection goroutines are counted from the
		// moment Serve accepts them (Serve holds its own count then) to
		// the moment they let the connection go.
		ConnState: func(nc net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				b.wg.Add(1)
			case http.StateClosed, http.StateHijacked:
				if e := endOf(nc); e != nil {
					close(e.p.rec.done)
				}
				b.wg.Done()
			}
		},
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if hp.tls != nil {
			s.srv.ServeTLS(s.ln, "", "")
		} else {
			s.srv.Serve(s.ln)
		}
	}()
	return s
}

// close stops the server and the connections it serves.
func (s *httpServer) close() {
	s.ln.Close()
	s.srv.Close()
}

// endOf returns the mock end under a server's connection.
func endOf(nc net.Conn) *end {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	e, _ := nc.(*end)
	return e
}

// listener is a net.Listener that accepts the ends pushed into it.
type listener struct {
	mu     sync.Mutex
	queue  []*end
	closed bool
	ready  chan struct{} // has a value when queue may be non-empty
	done   chan struct{} // closed by Close
}

var _ net.Listener = (*listener)(nil)

func newListener() *listener {
	return &listener{ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues e for Accept. It never blocks. After Close, e is closed.
func (l *listener) push(e *end) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		e.Close()
		close(e.p.rec.done)
		return
	}
	l.queue = append(l.queue, e)
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Accept returns the next pushed end, waiting for one; after Close it
// fails with net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		if len(l.queue) > 0 {
			e := l.queue[0]
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return e, nil
		}
		l.mu.Unlock()
		select {
		case <-l.ready:
		case <-l.done:
		}
	}
}

// Close stops Accept and closes the ends still queued.
func (l *listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.done)
	for _, e := range l.queue {
		e.Close()
		close(e.p.rec.done)
	}
	l.queue = nil
	return nil
}

// Addr returns the listener's address, which names no real endpoint.
func (l *listener) Addr() net.Addr { return &Addr{Net: Name, Address: Name} }
