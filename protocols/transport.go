package protocols

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/net/http/httpguts"

	"github.com/transportkit/transportkit/protocols/internal/h1"
	"github.com/transportkit/transportkit/protocols/internal/h2"
	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// Defaults for the zero values of Transport's fields.
const (
	// DefaultMaxIdleConnsPerHost is the idle connections kept per origin
	// when Transport.MaxIdleConnsPerHost is zero.
	DefaultMaxIdleConnsPerHost = 64

	// DefaultIdleConnTimeout is how long an idle connection is kept when
	// Transport.IdleConnTimeout is zero.
	DefaultIdleConnTimeout = 90 * time.Second

	// DefaultTLSHandshakeTimeout bounds the setup of a connection when
	// Transport.TLSHandshakeTimeout is zero, as in net/http's
	// DefaultTransport.
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

// The retry policy of RoundTrip.
const (
	// maxAttempts bounds the sends of one request, the first and the
	// replays, not counting those lost to a connection the server
	// retired after it had served other requests.
	maxAttempts = 4
	// maxSends bounds all the sends of one request, those included.
	maxSends = 16
	// retryBackoff is the wait before the first replay of a request
	// refused on a connection that is still taking requests; each later
	// one waits twice as long, give or take a tenth.
	retryBackoff = 100 * time.Millisecond
)

// Transport is an http.RoundTripper that dials through a transportkit
// backend, speaks HTTP/1.1 or HTTP/2 over the streams it returns (over
// TLS for https, negotiated by ALPN; HTTP/2 over clear text with prior
// knowledge when H2C is set), and pools connections per origin.
//
// HTTP/1.1 requests run on their caller's goroutine: the transport starts
// no goroutine per HTTP/1.1 connection, only one per request whose body is
// streamed (not a small one in memory), written beside the response as
// net/http does; an idle connection holds no buffer. Idle HTTP/1.1 connections are kept on a stack per origin,
// most recently used first; one the server closed is found when it is
// taken (Stream.IsReadable) and replaced.
//
// An HTTP/2 connection (package h2, one reader goroutine each) is shared
// by the callers to its origin up to the peer's concurrent-stream limit;
// a new one is dialed when all are full. Callers that arrive while a
// dial that may give an HTTP/2 connection is in flight wait for it
// rather than dial their own, for one second at most and never more than
// a quarter of what their own deadline leaves: a dial that never ends
// does not hold them. A connection that got GOAWAY or failed takes no
// new requests, and is closed once its last request ends.
//
// Errors have one shape whatever the protocol, *Error, and requests the
// server did not process are sent again, a bounded number of times: see
// RoundTrip.
//
// The zero value is ready to use: it opens the backend the registry
// selects on first use. A Transport must not be copied after first use.
// It is safe for concurrent use.
type Transport struct {
	// Backend dials the connections. If nil, the backend chosen by
	// registry.Select with Selection is opened on first use (and closed
	// by Close); the program must import the backends it wants, for
	// example backends/all.
	Backend transport.Backend

	// Selection chooses the backend when Backend is nil. The zero value
	// selects by TRANSPORTKIT_BACKEND, then the TRANSPORTKIT_CONFIG file,
	// then the default chain.
	Selection registry.Selection

	// Proxy returns the proxy for a request, as http.Transport.Proxy
	// does: an http://, https://, socks5:// or socks5h:// URL, whose user
	// and password, if any, are sent to the proxy (Proxy-Authorization
	// Basic, or SOCKS5 user name and password); nil for a direct
	// connection. An error fails the request (an *Error with Op "proxy").
	//
	// If nil, http.ProxyFromEnvironment is used, as by net/http's
	// DefaultTransport: HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their
	// lower-case forms) choose the proxy, and requests to localhost and
	// loopback addresses go direct. Set Proxy to NoProxy to turn proxies
	// off whatever the environment says.
	//
	// http origins through an http or https proxy are sent as requests in
	// absolute form on connections to the proxy, shared by all http
	// origins through it (unless H2C, which tunnels); https origins go
	// through a CONNECT tunnel, then TLS to the origin with ALPN (HTTP/2
	// when the origin picks h2); socks5 proxies get the target's address,
	// looked up here, and socks5h proxies its name. Connections are
	// pooled by proxy (and its credentials) and origin. A failed proxy
	// dial is an *Error with Op "proxy" whose cause is a *ProxyError.
	Proxy func(*http.Request) (*url.URL, error)

	// ProxyConnectHeader is sent with each CONNECT request to a proxy,
	// as http.Transport.ProxyConnectHeader. If nil, none (besides
	// Proxy-Authorization from the proxy URL's user, and User-Agent).
	ProxyConnectHeader http.Header

	// GetProxyConnectHeader, if not nil, is called for each CONNECT
	// request, with the proxy and the target host:port, and what it
	// returns is sent instead of ProxyConnectHeader, as
	// http.Transport.GetProxyConnectHeader. An error fails the dial.
	GetProxyConnectHeader func(ctx context.Context, proxyURL *url.URL, target string) (http.Header, error)

	// OnProxyConnectResponse, if not nil, is called with every answer to
	// a CONNECT request, 2xx or not, before it is checked, as
	// http.Transport.OnProxyConnectResponse. An error fails the dial.
	OnProxyConnectResponse func(ctx context.Context, proxyURL *url.URL, connectReq *http.Request, connectRes *http.Response) error

	// TLSClientConfig configures TLS for https. If nil, the default
	// configuration is used. Its NextProtos is replaced by what the
	// transport offers (the NextProtos field); ServerName, if empty, is
	// the host.
	TLSClientConfig *tls.Config

	// NextProtos are the application protocols offered by ALPN to https
	// origins, most preferred first: ProtoH2 and ProtoHTTP11 are known,
	// and any other makes RoundTrip fail with ErrUnsupportedProtocol. If
	// nil, h2, then http/1.1. With DisableKeepAlives,
	// only http/1.1 is offered.
	NextProtos []string

	// H2C makes the transport speak HTTP/2 with prior knowledge to http
	// origins (h2c: the HTTP/2 preface over clear text, no Upgrade). If
	// false, http origins get HTTP/1.1.
	H2C bool

	// HTTP2 configures HTTP/2 connections. The zero value is h2's
	// defaults. Its Logger, if nil, is Logger; MaxHeaderListSize, if
	// zero, is MaxResponseHeaderBytes (when set); its OnIdle is the
	// pool's own.
	HTTP2 h2.Options

	// TLSHandshakeTimeout bounds the setup of a connection that needs a
	// handshake: for https, or through an https proxy, the dial and the
	// TLS handshake together, and for HTTP/2 (over TLS or h2c) also the
	// wait for the server's first SETTINGS frame. Other HTTP/1.1 dials
	// are bounded by the request's
	// context (and the backend's ConnectTimeout) only. If zero,
	// DefaultTLSHandshakeTimeout (10 s); if negative, only the request's
	// context bounds the setup. A setup that runs out of time fails with
	// a timeout (errors.Is os.ErrDeadlineExceeded).
	TLSHandshakeTimeout time.Duration

	// DisableKeepAlives sends "Connection: close" with each request and
	// closes each connection after one exchange. If false, connections
	// are reused.
	DisableKeepAlives bool

	// DisableCompression, if true, stops the Transport from asking for
	// gzip, as with net/http. If false, a request with no Accept-Encoding
	// and no Range field, other than HEAD, is sent with "Accept-Encoding:
	// gzip" (over HTTP/1.1 and HTTP/2; req.Header is not changed) and a
	// gzip response to it is decompressed as it is read: Content-Encoding
	// and Content-Length are removed, ContentLength is -1 and
	// Response.Uncompressed is true. HTTP2.DisableCompression also turns
	// it off for HTTP/2.
	DisableCompression bool

	// MaxConnsPerHost limits the connections per origin, dialing and
	// busy ones included; callers beyond it wait, in the pool and in
	// order of arrival, for an idle HTTP/1.1 connection, a free stream
	// slot on an HTTP/2 connection, or a connection slot to dial in. If
	// zero, there is no limit.
	MaxConnsPerHost int

	// MaxIdleConns limits the idle HTTP/1.1 connections kept over all
	// origins: when one more goes idle, the one idle the longest,
	// whatever its origin, is closed. If zero, there is no limit, as in
	// http.Transport (whose DefaultTransport sets 100); then each origin
	// keeps up to MaxIdleConnsPerHost. HTTP/2 connections are not counted:
	// IdleConnTimeout closes them.
	MaxIdleConns int

	// MaxIdleConnsPerHost is the number of idle connections kept per
	// origin. If zero, DefaultMaxIdleConnsPerHost; if negative, none are
	// kept.
	MaxIdleConnsPerHost int

	// IdleConnTimeout is how long a connection may stay idle before it is
	// closed. If zero, DefaultIdleConnTimeout; if negative, no limit.
	IdleConnTimeout time.Duration

	// ResponseHeaderTimeout is how long to wait for a response head after
	// the request was written, over HTTP/1.1 and HTTP/2 alike (HTTP2's
	// own ResponseHeaderTimeout, if set, wins for HTTP/2). If zero, only
	// the request's context bounds the wait.
	ResponseHeaderTimeout time.Duration

	// ExpectContinueTimeout is how long to wait for "100 Continue" before
	// sending the body of a request with "Expect: 100-continue", over
	// HTTP/1.1 and HTTP/2. If zero, the body is sent at once.
	ExpectContinueTimeout time.Duration

	// MaxResponseHeaderBytes limits a response head (over HTTP/2, the
	// header list). If zero, 10 MiB, as with net/http.
	MaxResponseHeaderBytes int

	// UserAgent is sent when a request has none, over HTTP/1.1 and
	// HTTP/2. If empty, h1.DefaultUserAgent ("transportkit").
	UserAgent string

	// Logger receives debug logs (the backend chosen). If nil, nothing is
	// logged.
	Logger hclog.Logger

	mu       sync.RWMutex
	pools    map[key]*hostPool
	last     atomic.Pointer[hostPool] // the pool used last, checked first
	closed   atomic.Bool
	dials    atomic.Int64
	tlsOnce  sync.Once
	tlsCfg   *tls.Config
	protoErr error // from NextProtos
	offersH2 bool

	bmu   sync.Mutex
	owned transport.Backend // opened by the transport from the registry

	jmu       sync.Mutex
	janitor   *time.Timer
	janitorOn bool

	// The idle HTTP/1.1 connections of every origin, oldest first, while
	// MaxIdleConns is set (see pconn.older). imu is taken under a pool's
	// mu, never the other way.
	imu                sync.Mutex
	oldestIdle, newest *pconn
	idleCount          int
}

var _ http.RoundTripper = (*Transport)(nil)

// Clone returns a new Transport with t's configuration and none of its
// state: no connection, pool or backend opened from the registry is
// shared (a Backend set by the caller is, as net/http's Clone shares
// DialContext). TLSClientConfig, HTTP2, NextProtos and
// ProxyConnectHeader are copied, so changing them on one does not change
// the other.
func (t *Transport) Clone() *Transport {
	c := &Transport{
		Backend:                t.Backend,
		Selection:              t.Selection,
		Proxy:                  t.Proxy,
		ProxyConnectHeader:     t.ProxyConnectHeader.Clone(),
		GetProxyConnectHeader:  t.GetProxyConnectHeader,
		OnProxyConnectResponse: t.OnProxyConnectResponse,
		TLSClientConfig:        t.TLSClientConfig.Clone(),
		NextProtos:             slices.Clone(t.NextProtos),
		H2C:                    t.H2C,
		HTTP2:                  t.HTTP2,
		TLSHandshakeTimeout:    t.TLSHandshakeTimeout,
		DisableKeepAlives:      t.DisableKeepAlives,
		MaxConnsPerHost:        t.MaxConnsPerHost,
		MaxIdleConns:           t.MaxIdleConns,
		MaxIdleConnsPerHost:    t.MaxIdleConnsPerHost,
		IdleConnTimeout:        t.IdleConnTimeout,
		ResponseHeaderTimeout:  t.ResponseHeaderTimeout,
		ExpectContinueTimeout:  t.ExpectContinueTimeout,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
		UserAgent:              t.UserAgent,
		DisableCompression:     t.DisableCompression,
		Logger:                 t.Logger,
	}
	return c
}

// NoProxy is a Transport.Proxy that sends every request directly, whatever
// the environment says.
var NoProxy = func(*http.Request) (*url.URL, error) { return nil, nil }

// ErrClosed is matched (errors.Is) by the error of RoundTrip after Close,
// an *Error with Op "request".
var ErrClosed = errors.New("protocols: transport closed")

// RoundTrip sends req and returns its response. Any status is a response,
// not an error. req is not modified and req.Body is always closed.
//
// Errors are *Error values, with one shape over HTTP/1.1 and HTTP/2 (see
// Error): errors.Is tells timeouts, cancellation, ErrServerClosed and
// ErrNotProcessed apart, and errors.As reaches the protocol's own error.
//
// A request is sent again, when its body is absent or can be had again
// through GetBody, and:
//
//   - the server certainly did not process it (ErrNotProcessed: an
//     HTTP/2 stream refused or above the last stream of a GOAWAY, a
//     connection going away before the request went out, an HTTP/1.1
//     request of which no byte could be written), whatever its method;
//   - the server reset its HTTP/2 stream with PROTOCOL_ERROR before any
//     response, whatever its method, as net/http does (some servers
//     answer so requests they did not process); the connection takes
//     no new requests, so the request goes on another one; or
//   - a reused connection broke before any byte of the response (the
//     server closed an idle connection as it was taken), and the method
//     allows a replay: GET, HEAD, OPTIONS, TRACE, or a request with an
//     Idempotency-Key.
//
// A request is sent at most four times. Sends lost to a connection that
// had served earlier requests and then went away under the request (a
// server retiring connections with GOAWAY every few requests, as nginx's
// keepalive_requests does, or closing an idle one as it was taken) do
// not count, up to sixteen sends in all: a busy client can lose several
// in a row to such a server without any fault.
//
// When the connection it failed on takes no new requests (it got GOAWAY
// or broke), the request goes again at once, on another connection. When
// the server refused it on a connection that is still up, it waits first:
// about 100 ms, then 200 ms, then 400 ms (each give or take a tenth), so
// that a server that refuses everything gets four attempts in under a
// second rather than a burst. The request's context cuts every wait
// short; the error then matches both the context's error and the last
// failure.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, err := t.poolFor(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		if e, ok := err.(*Error); ok {
			return nil, e
		}
		e := &Error{Op: "request", Err: err}
		if req.URL != nil {
			e.Addr = req.URL.Host
		}
		return nil, e
	}
	ctx := req.Context()
	r := req
	backoff := retryBackoff
	attempts := 0
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.GetConn == nil && trace.GotConn == nil {
		trace = nil // nothing at the pool's level
	}
	poolGone := false
	for sends := 1; ; sends++ {
		attempts++
		var idle *time.Time
		var idleSince time.Time
		if trace != nil {
			idle = &idleSince
			if trace.GetConn != nil && !poolGone {
				trace.GetConn(p.traceAddr())
			}
		}
		c, reused, d, err := p.get(ctx, idle)
		if err == errPoolGone {
			// The janitor took the pool off the map as this caller
			// arrived: look it up anew.
			attempts--
			sends--
			poolGone = true // the same getting of a connection goes on
			if p, err = t.poolFor(req); err != nil {
				if r.Body != nil {
					r.Body.Close()
				}
				return nil, &Error{Op: "request", Addr: req.URL.Host, Err: err}
			}
			continue
		}
		dialed := false
		if err == nil && c == nil {
			c, err = p.dial(ctx, d)
			dialed = true
		}
		if err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			if attempts < maxAttempts && errors.Is(err, ErrNotProcessed) && rewindable(req) && ctx.Err() == nil {
				if r, err = rewind(req, err); err != nil {
					return nil, err
				}
				continue // a new connection that went away at once
			}
			return nil, err
		}
		connReused := reused
		if hc, ok := c.(*h2conn); ok && !dialed {
			// As net/http: reused once any request had it before (the
			// request that dialed it first of all, see dial).
			connReused = hc.used.Swap(true)
		}
		poolGone = false
		if trace != nil && trace.GotConn != nil {
			trace.GotConn(gotConnInfo(c, connReused, idleSince))
		}
		sent := r
		if p.forward {
			sent = forwardRequest(r, p.proxy)
		}
		resp, err := c.roundTrip(sent)
		if err == nil {
			resp.Request = req
			return resp, nil
		}
		gone := c.goneAway()
		if gone && c.servedBefore(reused) {
			attempts-- // retired by the server: not this request's fault
		}
		if attempts >= maxAttempts || sends >= maxSends || !c.retry(err, reused, req) || !rewindable(req) || ctx.Err() != nil {
			return nil, err
		}
		if !gone {
			// Refused on a connection that still takes requests: wait
			// before asking again.
			if err := retryWait(ctx, jitter(backoff), err); err != nil {
				return nil, err
			}
			backoff *= 2
		}
		if r, err = rewind(req, err); err != nil {
			return nil, err
		}
	}
}

// jitter returns d give or take a tenth, at random.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// retryWait is wait; tests replace it to see the waits.
var retryWait = wait

// wait waits for d before a retry, or for ctx. When ctx ends first, the
// error matches both the context's error and the failure being retried,
// whose shape it keeps.
func wait(ctx context.Context, d time.Duration, failed error) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
	}
	cause := fmt.Errorf("%w, waiting to send the request again after: %w", transport.ContextError(ctx.Err()), failed)
	var e *Error
	if errors.As(failed, &e) {
		return &Error{Op: e.Op, Proto: e.Proto, Addr: e.Addr, Err: cause}
	}
	return cause
}

// retryable reports whether err is a connection failure before any
// response byte: the server closed a reused connection as it was taken.
func retryable(err error) bool {
	var e *h1.Error
	if !errors.As(err, &e) || !e.NoResponse || e.Timeout() {
		return false
	}
	return !errors.Is(err, h1.ErrInvalidRequest) && !errors.Is(err, h1.ErrBodyLength)
}

// rewindable reports whether req's body can be sent again: it has none,
// or GetBody gives it anew.
func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// replayable reports whether req's method allows sending it again after
// the server may have seen it.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	_, xok := req.Header["X-Idempotency-Key"]
	return ok || xok
}

// rewind returns the request to replay: req itself, or a copy with a
// fresh body from GetBody. failed is returned if GetBody fails.
func rewind(req *http.Request, failed error) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, failed
	}
	r := *req
	r.Body = body
	return &r, nil
}

// poolFor returns the pool of req's origin (and proxy), creating it.
func (t *Transport) poolFor(req *http.Request) (*hostPool, error) {
	if t.closed.Load() {
		return nil, ErrClosed
	}
	if t.tlsConfig(); t.protoErr != nil {
		return nil, t.protoErr
	}
	u := req.URL
	if u == nil {
		return nil, fmt.Errorf("%w: nil URL", h1.ErrInvalidRequest)
	}
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return nil, fmt.Errorf("%w: unsupported protocol scheme %q", h1.ErrInvalidRequest, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: no Host in URL", h1.ErrInvalidRequest)
	}
	proxy, err := t.proxyFor(req)
	if err != nil {
		return nil, err
	}
	// As net/http, an internationalized name is dialed, named to proxies
	// and TLS, and sent, in its ASCII form.
	host, err := httpguts.PunycodeHostPort(strings.TrimSuffix(u.Host, ":"+port))
	if err != nil {
		return nil, fmt.Errorf("%w: host %q: %v", h1.ErrInvalidRequest, u.Host, err)
	}
	k := key{scheme: u.Scheme, host: host}
	forward := proxyForwards(proxy, u.Scheme, t.H2C)
	if proxy != nil {
		k.proxy = proxyKey(proxy)
		if forward {
			k.host = "" // one pool for every http origin through the proxy
		}
	}
	if p := t.last.Load(); p != nil && p.key == k && !p.gone.Load() {
		return p, nil
	}
	t.mu.RLock()
	p := t.pools[k]
	t.mu.RUnlock()
	if p == nil {
		t.mu.Lock()
		if p = t.pools[k]; p == nil {
			addr := k.host
			if forward {
				addr, _ = proxyAddr(proxy) // checked when dialing
			} else if _, _, err := net.SplitHostPort(addr); err != nil {
				addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
			}
			p = &hostPool{t: t, key: k, addr: addr, proxy: proxy, forward: forward}
			p.wrapH1 = p.h1Error // one closure per pool, not per connection
			if t.pools == nil {
				t.pools = map[key]*hostPool{}
			}
			t.pools[k] = p
		}
		t.mu.Unlock()
	}
	t.last.Store(p)
	return p, nil
}

// proxyFor returns the proxy for req: Transport.Proxy's answer, or the
// environment's when Proxy is nil.
func (t *Transport) proxyFor(req *http.Request) (*url.URL, error) {
	f := t.Proxy
	if f == nil {
		f = http.ProxyFromEnvironment
	}
	proxy, err := f(req)
	if err != nil {
		return nil, &Error{Op: "proxy", Addr: req.URL.Host, Err: err}
	}
	return proxy, nil
}

// backend returns the backend to dial with, opening it on first use.
func (t *Transport) backend() (transport.Backend, error) {
	if t.Backend != nil {
		return t.Backend, nil
	}
	t.bmu.Lock()
	defer t.bmu.Unlock()
	if t.closed.Load() {
		return nil, ErrClosed
	}
	if t.owned == nil {
		sel := t.Selection
		if sel.Logger == nil {
			sel.Logger = t.Logger
		}
		b, _, err := registry.Select(sel)
		if err != nil {
			return nil, err
		}
		t.owned = b
	}
	return t.owned, nil
}

// tlsConfig returns the TLS configuration of https dials, made on first
// use with the protocols to offer.
func (t *Transport) tlsConfig() *tls.Config {
	t.tlsOnce.Do(func() {
		protos, err := t.nextProtos()
		t.protoErr = err
		t.offersH2 = slices.Contains(protos, ProtoH2)
		t.tlsCfg = tlsConfigFor(t.TLSClientConfig, protos)
	})
	return t.tlsCfg
}

// h2Options are the options of every HTTP/2 connection.
func (t *Transport) h2Options(onIdle func()) h2.Options {
	o := t.HTTP2
	if o.Logger == nil {
		o.Logger = t.Logger
	}
	if o.MaxHeaderListSize == 0 && t.MaxResponseHeaderBytes > 0 {
		o.MaxHeaderListSize = uint32(min(t.MaxResponseHeaderBytes, 1<<31))
	}
	// The Transport's request settings apply to HTTP/2 as to HTTP/1.1,
	// unless HTTP2 sets its own.
	if o.UserAgent == "" {
		o.UserAgent = t.UserAgent
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = t.ResponseHeaderTimeout
	}
	if o.ExpectContinueTimeout == 0 {
		o.ExpectContinueTimeout = t.ExpectContinueTimeout
	}
	o.DisableCompression = o.DisableCompression || t.DisableCompression
	o.OnIdle = onIdle
	return o
}

// h1Options are the options of every HTTP/1.1 connection; wrap gives
// their errors the Transport's shape.
func (t *Transport) h1Options(done func(bool), wrap func(*h1.Error) error) h1.Options {
	return h1.Options{
		MaxHeaderBytes:        t.MaxResponseHeaderBytes,
		ResponseHeaderTimeout: t.ResponseHeaderTimeout,
		ExpectContinueTimeout: t.ExpectContinueTimeout,
		UserAgent:             t.UserAgent,
		DisableKeepAlives:     t.DisableKeepAlives,
		DisableCompression:    t.DisableCompression,
		OnDone:                done,
		WrapError:             wrap,
	}
}

func (t *Transport) maxIdle() int {
	switch n := t.MaxIdleConnsPerHost; {
	case n == 0:
		return DefaultMaxIdleConnsPerHost
	case n < 0:
		return 0
	default:
		return n
	}
}

// setupTimeout is TLSHandshakeTimeout with its zero value resolved; 0
// for none.
func (t *Transport) setupTimeout() time.Duration {
	switch d := t.TLSHandshakeTimeout; {
	case d == 0:
		return DefaultTLSHandshakeTimeout
	case d < 0:
		return 0
	default:
		return d
	}
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout == 0 {
		return DefaultIdleConnTimeout
	}
	return t.IdleConnTimeout
}

// armJanitor makes sure a timer will close expired idle connections.
// One timer serves the whole transport; no goroutine waits while idle.
func (t *Transport) armJanitor() {
	if d := t.idleTimeout(); d > 0 {
		t.armSweep(d)
	}
}

// armPoolSweep makes sure a timer will take the pools left with no
// connection off the map: the janitor's, or with no idle limit
// (IdleConnTimeout negative) one in DefaultIdleConnTimeout.
func (t *Transport) armPoolSweep() {
	d := t.idleTimeout()
	if d < 0 {
		d = DefaultIdleConnTimeout
	}
	t.armSweep(d)
}

// armSweep makes sure sweep runs within d.
func (t *Transport) armSweep(d time.Duration) {
	t.jmu.Lock()
	defer t.jmu.Unlock()
	if t.janitorOn || t.closed.Load() {
		return
	}
	t.janitorOn = true
	if t.janitor == nil {
		t.janitor = time.AfterFunc(d, t.sweep)
	} else {
		t.janitor.Reset(d)
	}
}

// sweep closes the expired idle connections, takes the pools left with
// nothing off the map, and sets the timer for the next expiry.
func (t *Transport) sweep() {
	t.jmu.Lock()
	t.janitorOn = false
	t.jmu.Unlock()
	d := t.idleTimeout()
	now := time.Now()
	var oldest time.Time
	for _, p := range t.poolList() {
		if d > 0 {
			if o := p.closeIdle(now.Add(-d)); !o.IsZero() && (oldest.IsZero() || o.Before(oldest)) {
				oldest = o
			}
		}
		t.removeIfEmpty(p)
	}
	if oldest.IsZero() {
		return
	}
	t.jmu.Lock()
	defer t.jmu.Unlock()
	if !t.janitorOn && !t.closed.Load() {
		t.janitorOn = true
		t.janitor.Reset(time.Until(oldest.Add(d)) + time.Millisecond)
	}
}

// removeIfEmpty takes p off the map when it holds nothing, so that a
// transport that contacted many origins keeps nothing for those it no
// longer talks to. A caller that got p just before sees errPoolGone in
// get and looks again.
func (t *Transport) removeIfEmpty(p *hostPool) {
	t.mu.Lock()
	p.mu.Lock()
	empty := p.emptyLocked()
	if empty {
		p.gone.Store(true)
		if t.pools[p.key] == p {
			delete(t.pools, p.key)
		}
	}
	p.mu.Unlock()
	t.mu.Unlock()
	if empty {
		t.last.CompareAndSwap(p, nil)
	}
}

// listIdle puts pc, which just went idle, at the new end of the
// transport's idle list when MaxIdleConns is set, and reports whether the
// list is over the limit. The caller holds pc's pool's mu.
func (t *Transport) listIdle(pc *pconn) (over bool) {
	if t.MaxIdleConns <= 0 {
		return false
	}
	t.imu.Lock()
	defer t.imu.Unlock()
	pc.older, pc.newer = t.newest, nil
	if t.newest != nil {
		t.newest.newer = pc
	} else {
		t.oldestIdle = pc
	}
	t.newest = pc
	t.idleCount++
	return t.idleCount > t.MaxIdleConns
}

// unlistIdle takes pc, leaving its pool's idle stack, off the transport's
// idle list. The caller holds pc's pool's mu.
func (t *Transport) unlistIdle(pc *pconn) {
	if t.MaxIdleConns <= 0 {
		return
	}
	t.imu.Lock()
	defer t.imu.Unlock()
	if pc.older == nil && pc.newer == nil && t.oldestIdle != pc {
		return // not listed
	}
	if pc.older != nil {
		pc.older.newer = pc.newer
	} else {
		t.oldestIdle = pc.newer
	}
	if pc.newer != nil {
		pc.newer.older = pc.older
	} else {
		t.newest = pc.older
	}
	pc.older, pc.newer = nil, nil
	t.idleCount--
}

// evictIdle closes the connections idle the longest, whatever their
// origin, until MaxIdleConns are left.
func (t *Transport) evictIdle() {
	for {
		t.imu.Lock()
		pc := t.oldestIdle
		if t.idleCount <= t.MaxIdleConns || pc == nil {
			t.imu.Unlock()
			return
		}
		t.imu.Unlock()
		p := pc.pool
		p.mu.Lock()
		i := slices.Index(p.idle, pc)
		if i >= 0 {
			p.idle = slices.Delete(p.idle, i, i+1)
			t.unlistIdle(pc)
			p.slotsFreedLocked(1)
		}
		p.mu.Unlock()
		if i >= 0 {
			pc.close()
		}
	}
}

func (t *Transport) poolList() []*hostPool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	list := make([]*hostPool, 0, len(t.pools))
	for _, p := range t.pools {
		list = append(list, p)
	}
	return list
}

// CloseIdleConnections closes the connections that are idle now.
// Connections in use are not interrupted.
func (t *Transport) CloseIdleConnections() {
	for _, p := range t.poolList() {
		p.closeIdle(time.Time{})
	}
}

// Close closes the idle connections and stops pooling: later requests
// fail with ErrClosed, and connections in use are closed when their
// exchange ends. It closes the backend if the transport opened it.
func (t *Transport) Close() error {
	t.closed.Store(true)
	t.jmu.Lock()
	if t.janitor != nil {
		t.janitor.Stop()
	}
	t.jmu.Unlock()
	t.CloseIdleConnections()
	t.bmu.Lock()
	defer t.bmu.Unlock()
	if t.owned != nil {
		err := t.owned.Close()
		t.owned = nil
		return err
	}
	return nil
}

// Stats describes the transport's connections.
type Stats struct {
	// Dials is the number of connections dialed so far.
	Dials int64
	// Open is the number of connections open (idle, busy or dialing).
	Open int
	// Idle is the number of idle connections: HTTP/1.1 ones on the idle
	// stacks and HTTP/2 ones with no request in flight.
	Idle int
	// HTTP2 is the number of open HTTP/2 connections, those going away
	// included.
	HTTP2 int
}

// Stats returns counts of the transport's connections, over all origins.
func (t *Transport) Stats() Stats {
	s := Stats{Dials: t.dials.Load()}
	for _, p := range t.poolList() {
		p.mu.Lock()
		s.Open += p.conns
		s.Idle += len(p.idle)
		s.HTTP2 += len(p.h2) + len(p.draining)
		for _, hc := range p.h2 {
			if !hc.c.State().LastIdle.IsZero() {
				s.Idle++
			}
		}
		p.mu.Unlock()
	}
	return s
}
