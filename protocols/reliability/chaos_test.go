package reliability

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// chaos is a TCP proxy on loopback that misbehaves like a network: it
// resets a share of the connections (an RST to the client, SO_LINGER 0)
// and slows others down.
//
// A connection chosen for a reset is reset when the client sends again
// after the connection was quiet, in both directions, for resetQuiet,
// once the server has answered the client resetTurns times (so that TLS
// handshakes and the first exchange are over): the client's new bytes
// never reach the server, as when a middlebox or a restarted server has
// dropped a connection that sat in the client's pool. The request meets
// the reset before any byte of its response, which a correct client
// replays when the request is idempotent. (A reset in the middle of a
// response is the fault matrix's business: no client can hide it.) A
// delayed connection holds every chunk from the server for its delay
// before passing it on.
type chaos struct {
	ln       net.Listener
	upstream string
	cfg      chaosConfig

	rmu sync.Mutex
	rng *rand.Rand

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*chaosConn]struct{}
	closed bool

	accepted, resets, delayed, upstreamResets atomic.Int64
}

// chaosConfig is the share of connections reset and delayed.
type chaosConfig struct {
	resetShare, delayShare float64
	delayMin, delayMax     time.Duration
	resetQuiet             time.Duration
	resetTurns             int64
}

// chaosConn is one proxied connection.
type chaosConn struct {
	client, server *net.TCPConn
	reset          bool         // chosen for a reset
	last           atomic.Int64 // unix nanoseconds of the last chunk either way
	fromClient     atomic.Bool  // the last chunk came from the client
	turns          atomic.Int64 // server chunks that followed client chunks
	closeOnce      sync.Once
}

// startChaos proxies a loopback port to upstream until t ends.
func startChaos(t testing.TB, upstream string, cfg chaosConfig, seed uint64) *chaos {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &chaos{ln: ln, upstream: upstream, cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), conns: map[*chaosConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *chaos) addr() string { return p.ln.Addr().String() }

// open returns the number of connections being proxied.
func (p *chaos) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *chaos) float() float64 {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.rng.Float64()
}

func (p *chaos) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			rst(c)
			continue
		}
		cc := &chaosConn{client: c.(*net.TCPConn), server: up.(*net.TCPConn)}
		cc.last.Store(time.Now().UnixNano())
		var delay time.Duration
		switch r := p.float(); {
		case r < p.cfg.resetShare:
			cc.reset = true
		case r < p.cfg.resetShare+p.cfg.delayShare:
			p.delayed.Add(1)
			delay = p.cfg.delayMin + time.Duration(p.float()*float64(p.cfg.delayMax-p.cfg.delayMin))
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			cc.close(true)
			return
		}
		p.conns[cc] = struct{}{}
		p.mu.Unlock()
		var relays sync.WaitGroup
		relays.Add(2)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			relays.Wait()
			cc.close(false)
			p.mu.Lock()
			delete(p.conns, cc)
			p.mu.Unlock()
		}()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); defer relays.Done(); p.relay(cc, cc.server, cc.client, delay) }()
		go func() { defer p.wg.Done(); defer relays.Done(); p.relay(cc, cc.client, cc.server, 0) }()
	}
}

// relay copies from src to dst, holding each chunk for delay. At EOF it
// half-closes dst; when src was reset, it resets the whole connection.
func (p *chaos) relay(cc *chaosConn, src, dst *net.TCPConn, delay time.Duration) {
	fromClient := src == cc.client
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			if fromClient && cc.reset && cc.turns.Load() >= p.cfg.resetTurns &&
				now.Sub(time.Unix(0, cc.last.Load())) >= p.cfg.resetQuiet {
				p.resets.Add(1)
				cc.close(true)
				return
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				cc.close(true)
				return
			}
			if !fromClient && cc.fromClient.Load() {
				cc.turns.Add(1)
			}
			cc.fromClient.Store(fromClient)
			cc.last.Store(time.Now().UnixNano())
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			dst.CloseWrite()
			return
		default:
			if !fromClient && errors.Is(err, syscall.ECONNRESET) {
				p.upstreamResets.Add(1)
			}
			cc.close(true) // a reset, or our own close
			return
		}
	}
}

// close closes both sides of cc, with an RST when reset.
func (cc *chaosConn) close(reset bool) {
	cc.closeOnce.Do(func() {
		if reset {
			cc.client.SetLinger(0)
			cc.server.SetLinger(0)
		}
		cc.client.Close()
		cc.server.Close()
	})
}

// close stops the proxy and waits for its goroutines.
func (p *chaos) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for cc := range p.conns {
		cc.close(true)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
