//lint:file-ignore SA1019 x/net/http2 is the HTTP/2 engine we chose (see doc.go); its deprecation points at net/http APIs that cannot run over a Stream we dialed.

package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// NextProtoTLS is the ALPN protocol ID of HTTP/2 over TLS.
const NextProtoTLS = "h2"

// DefaultMaxHeaderListSize is the response header list limit used when
// Options.MaxHeaderListSize is zero: 1 MiB, net/http's default.
const DefaultMaxHeaderListSize = 1 << 20

// DefaultMaxControlFrames is the control-frame rate limit used when
// Options.MaxControlFrames is zero.
const DefaultMaxControlFrames = 1000

// Options configure a Conn. The zero value is ready to use.
type Options struct {
	// MaxHeaderListSize is the largest response header list (or trailer
	// list) accepted, in HTTP/2's measure: the sum of each field's name
	// and value lengths plus 32 (RFC 9113 section 6.5.2). It is advertised
	// to the peer as SETTINGS_MAX_HEADER_LIST_SIZE; a response over it
	// fails with an http2.StreamError, and a header block far over it
	// closes the connection with an http2.ConnectionError. If zero,
	// DefaultMaxHeaderListSize.
	MaxHeaderListSize uint32

	// MaxReadFrameSize is the largest frame payload the peer may send,
	// advertised as SETTINGS_MAX_FRAME_SIZE and clipped to the range HTTP/2
	// allows (16 KiB to 16 MiB-1). If zero, 1 MiB.
	MaxReadFrameSize uint32

	// ReadIdleTimeout turns on health checks: when no frame has arrived
	// for this long, the Conn sends a PING, and closes itself if no reply
	// comes within PingTimeout (requests in flight then fail). If zero,
	// there are no health checks.
	ReadIdleTimeout time.Duration

	// PingTimeout is how long a health-check PING may wait for its reply.
	// If zero, 15 seconds.
	PingTimeout time.Duration

	// WriteByteTimeout closes the connection when a write makes no
	// progress for this long (the peer stopped reading). If zero, writes
	// wait as long as the stream lets them; Close always unblocks them.
	WriteByteTimeout time.Duration

	// MaxReceiveBufferPerStream is the flow-control window granted to
	// each response body, which bounds what is buffered for a body that
	// is not being read. A peer that sends beyond it gets a
	// FLOW_CONTROL_ERROR. If zero, 4 MiB.
	MaxReceiveBufferPerStream int32

	// MaxReceiveBufferPerConnection is the window granted to all streams
	// of the connection together. If zero, 1 GiB; values below 64 KiB are
	// raised to 64 KiB.
	MaxReceiveBufferPerConnection int32

	// MaxControlFrames is how many control frames (PING, SETTINGS,
	// RST_STREAM, PRIORITY, frames of unknown type, empty DATA without
	// END_STREAM, empty CONTINUATION) the peer may send in one second
	// before the Conn closes with ENHANCE_YOUR_CALM and errors matching
	// ErrFlood. If zero, DefaultMaxControlFrames; if negative, no limit.
	MaxControlFrames int

	// DisableCompression stops the Conn from asking for gzip and
	// decompressing responses itself. If false, a request without its own
	// Accept-Encoding asks for gzip and gets the body decompressed, as
	// with net/http.
	DisableCompression bool

	// Logger receives the connection's events: start, GOAWAY, close at
	// Debug level, a peer flood at Warn. If nil, nothing is logged.
	Logger hclog.Logger

	// OnIdle, if not nil, is called each time the Conn becomes idle:
	// the last active request ended (its body was read to its end or
	// closed, or it failed) or the last reservation was released, leaving
	// nothing active or reserved. It runs on the goroutine that ended the
	// request, with no lock held; it must not block, and may call the
	// Conn's methods. A pool uses it to retire a connection that is going
	// away, or to time its idleness. If nil, nothing is called.
	OnIdle func()
}

func (o *Options) headerListSize() uint32 {
	if o.MaxHeaderListSize == 0 {
		return DefaultMaxHeaderListSize
	}
	return o.MaxHeaderListSize
}

// engineConfig is the part of Options the engine's Transport holds.
// Conns with the same engineConfig share one Transport.
type engineConfig struct {
	maxHeaderListSize  uint32
	maxReadFrameSize   uint32
	readIdleTimeout    time.Duration
	pingTimeout        time.Duration
	writeByteTimeout   time.Duration
	streamWindow       int32
	connWindow         int32
	disableCompression bool
}

var engines sync.Map // engineConfig -> *http2.Transport

// engineFor returns the engine Transport for opts.
func engineFor(opts *Options) *http2.Transport {
	cfg := engineConfig{
		maxHeaderListSize:  opts.headerListSize(),
		maxReadFrameSize:   opts.MaxReadFrameSize,
		readIdleTimeout:    opts.ReadIdleTimeout,
		pingTimeout:        opts.PingTimeout,
		writeByteTimeout:   opts.WriteByteTimeout,
		streamWindow:       opts.MaxReceiveBufferPerStream,
		connWindow:         opts.MaxReceiveBufferPerConnection,
		disableCompression: opts.DisableCompression,
	}
	if t, ok := engines.Load(cfg); ok {
		return t.(*http2.Transport)
	}
	// The receive windows are only configurable through a linked
	// net/http Transport; it is never used to dial.
	t1 := &http.Transport{
		DisableCompression: cfg.disableCompression,
		HTTP2: &http.HTTP2Config{
			MaxReceiveBufferPerStream:     int(cfg.streamWindow),
			MaxReceiveBufferPerConnection: int(cfg.connWindow),
		},
	}
	t, err := http2.ConfigureTransports(t1)
	if err != nil { // only when t1 was configured before, and it is new
		panic("h2: " + err.Error())
	}
	t.AllowHTTP = true
	// Strict: a request beyond the peer's limit waits inside the engine
	// for a stream, as RoundTrip promises. Without it the engine fails
	// such a request as "unusable", which would retire a healthy but
	// full connection, and the engine frees a stream slightly after its
	// body has ended, so a slot freed by Conn's own count can still be
	// taken in the engine for a moment.
	t.StrictMaxConcurrentStreams = true
	t.DisableCompression = cfg.disableCompression
	t.MaxHeaderListSize = cfg.maxHeaderListSize
	t.MaxReadFrameSize = cfg.maxReadFrameSize
	t.ReadIdleTimeout = cfg.readIdleTimeout
	t.PingTimeout = cfg.pingTimeout
	t.WriteByteTimeout = cfg.writeByteTimeout
	got, _ := engines.LoadOrStore(cfg, t)
	return got.(*http2.Transport)
}

// State is a snapshot of a Conn, for the pool.
type State struct {
	// Active is the number of requests in flight: sent, or waiting for a
	// stream, and whose response body has not been read to its end or
	// closed.
	Active int
	// Reserved is the number of slots claimed by Reserve and not yet used
	// by RoundTrip or given back by Release.
	Reserved int
	// MaxConcurrent is the peer's SETTINGS_MAX_CONCURRENT_STREAMS. Until
	// the peer's first SETTINGS frame arrives it is 100, and it is 1000
	// when the peer sets no limit: the engine's own assumptions.
	MaxConcurrent int
	// GoingAway reports that the Conn takes no new requests: the peer sent
	// GOAWAY, Shutdown or Close was called, or the connection broke.
	// Requests in flight may still complete.
	GoingAway bool
	// Closed reports that the connection is closed: Close was called, the
	// peer or a failed health check ended it, or it went away and became
	// idle. GoingAway is true too.
	Closed bool
	// LastIdle is when the Conn last had nothing active or reserved (its
	// creation time if it has never been used); zero while it is busy.
	LastIdle time.Time
}

// Conn is an HTTP/2 client connection over a transport.Stream, with
// multiplexed streams. Its methods may be called from any goroutine.
type Conn struct {
	cc    *http2.ClientConn
	guard *guard
	log   hclog.Logger

	// Identity of the stream, for errors.
	backend, network, address string

	mu            sync.Mutex
	active        int
	reserved      int
	maxConcurrent int
	goingAway     bool
	closed        bool
	lastIdle      time.Time

	shutdowns sync.WaitGroup // Shutdown calls waiting for the engine

	onIdle    func()
	ready     chan struct{} // closed by the peer's first SETTINGS or the close
	readyOnce sync.Once
}

// NewConn starts an HTTP/2 client connection over s and takes ownership
// of s: it is closed by Close, or when NewConn fails. For a TLS stream the
// caller has already checked that ALPN chose NextProtoTLS; a plain stream
// speaks HTTP/2 with prior knowledge (h2c). NewConn writes the client
// preface and SETTINGS and returns without waiting for the peer's.
func NewConn(s transport.Stream, opts Options) (*Conn, error) {
	if s == nil {
		return nil, &transport.OpError{Op: "handshake", Err: errNilStream}
	}
	c := &Conn{
		log:           opts.Logger,
		maxConcurrent: engineMaxStreamsBeforeSettings,
		lastIdle:      time.Now(),
		onIdle:        opts.OnIdle,
		ready:         make(chan struct{}),
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if v, ok := s.Info(transport.InfoBackend); ok {
		c.backend, _ = v.(string)
	}
	if a := s.RemoteAddr(); a != nil {
		c.network, c.address = a.Network(), a.String()
	}
	c.log = c.log.With("backend", c.backend, "remote", c.address)
	c.guard = newGuard(c, &opts)
	ec := &engineConn{Stream: s, g: c.guard}
	var nc transport.Stream = ec
	if v, ok := s.Info(transport.InfoTLS); ok {
		if st, ok := v.(tls.ConnectionState); ok {
			nc = &tlsEngineConn{engineConn: ec, state: st}
		}
	}
	cc, err := engineFor(&opts).NewClientConn(nc)
	if err != nil {
		c.settled()
		s.Close()
		return nil, c.opError("handshake", err)
	}
	c.cc = cc
	c.log.Debug("connection started")
	return c, nil
}

// RoundTrip sends req on a new stream of the connection and returns the
// response once its headers arrive. It uses a slot claimed by Reserve if
// there is one; without one, it waits for a free stream when the peer's
// concurrency limit is reached. Cancelling req's context resets only its
// stream. The response body must be read to its end or closed, which
// frees the stream.
//
// Errors are *transport.OpError values with Op "roundtrip". Their cause
// matches ErrRetryable when the server did not process the request, and
// otherwise is what the engine said: http2.StreamError,
// http2.ConnectionError and http2.GoAwayError (use errors.As), an error
// matching ErrFlood, a context's error (a deadline as transport.ErrTimeout,
// which still matches context.DeadlineExceeded), or the stream's error.
func (c *Conn) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := c.begin(req); err != nil {
		return nil, c.opError("roundtrip", err)
	}
	resp, err := c.cc.RoundTrip(req)
	if err != nil {
		c.finish()
		return nil, c.roundTripError(err)
	}
	if req.Close || hasToken(req.Header["Connection"], "close") {
		c.setGoingAway() // the engine takes no new request after this one
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		c.finish()
		return resp, nil
	}
	resp.Body = &body{ReadCloser: resp.Body, c: c}
	return resp, nil
}

// begin accounts for a request about to start.
func (c *Conn) begin(req *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved > 0 {
		c.reserved--
	}
	switch {
	case c.closed:
		return fmt.Errorf("%w: %w", ErrRetryable, transport.ErrClosed)
	case c.goingAway:
		return fmt.Errorf("%w: %w", ErrRetryable, errGoingAway)
	}
	c.active++
	c.lastIdle = time.Time{}
	return nil
}

// hasToken reports whether a comma-separated header has token in it.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// finish accounts for a request that is over.
func (c *Conn) finish() {
	c.mu.Lock()
	c.active--
	idle := c.markIdleLocked()
	c.mu.Unlock()
	if idle && c.onIdle != nil {
		c.onIdle()
	}
}

// markIdleLocked notes the time when nothing is active or reserved, and
// reports whether that is the case.
func (c *Conn) markIdleLocked() bool {
	if c.active == 0 && c.reserved == 0 {
		c.lastIdle = time.Now()
		return true
	}
	return false
}

// body is a response body that frees its slot when it ends or is closed.
type body struct {
	io.ReadCloser
	c    *Conn
	done atomic.Bool
}

// Read reads the body; its end (or failure) frees the stream's slot. A
// failure caused by a peer flood also matches ErrFlood.
func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if b.done.CompareAndSwap(false, true) {
			b.c.finish()
		}
		if gerr := b.c.guard.err(); gerr != nil && err != io.EOF {
			err = fmt.Errorf("%w: %w", gerr, err)
		}
	}
	return n, err
}

// Close closes the body (resetting the stream if it had not ended) and
// frees its slot.
func (b *body) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.c.finish()
	}
	return err
}

// Reserve claims a stream slot within the peer's concurrency limit, for
// one RoundTrip (or Release) to use. It reports false, without waiting,
// when the limit is reached or the Conn takes no new requests; a pool
// then uses or dials another connection.
func (c *Conn) Reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goingAway || c.closed || c.active+c.reserved >= c.maxConcurrent {
		return false
	}
	c.reserved++
	c.lastIdle = time.Time{}
	return true
}

// Release gives back a slot claimed by Reserve that will not be used. It
// does nothing when no slot is reserved.
func (c *Conn) Release() {
	c.mu.Lock()
	idle := false
	if c.reserved > 0 {
		c.reserved--
		idle = c.markIdleLocked()
	}
	c.mu.Unlock()
	if idle && c.onIdle != nil {
		c.onIdle()
	}
}

// Ready returns a channel that is closed once the peer's first SETTINGS
// frame has been read, so that State's MaxConcurrent is the peer's own
// limit rather than the engine's assumption, or once the connection is
// closed. A pool waits for it before it shares a new connection among
// more callers than the peer may allow.
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// settled closes the channel of Ready.
func (c *Conn) settled() { c.readyOnce.Do(func() { close(c.ready) }) }

// State returns a snapshot of the Conn. It never blocks on the network.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return State{
		Active:        c.active,
		Reserved:      c.reserved,
		MaxConcurrent: c.maxConcurrent,
		GoingAway:     c.goingAway || c.closed,
		Closed:        c.closed,
		LastIdle:      c.lastIdle,
	}
}

// Ping sends a PING frame and waits for the peer's reply, or for ctx.
func (c *Conn) Ping(ctx context.Context) error {
	if c.State().Closed {
		return c.opError("ping", transport.ErrClosed)
	}
	if err := c.cc.Ping(ctx); err != nil {
		return c.opError("ping", err)
	}
	return nil
}

// Shutdown closes the connection gracefully: it stops taking new
// requests, sends GOAWAY, waits for the requests in flight to finish
// (their bodies read or closed) and closes. If ctx ends first, Shutdown
// returns its error and leaves the connection open, the requests in
// flight going on; call Close to end them. On a closed Conn it does
// nothing.
func (c *Conn) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.goingAway = true
	c.shutdowns.Add(1) // before Close can wait: it sets closed first
	c.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		defer c.shutdowns.Done()
		done <- c.cc.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			return c.opError("shutdown", err)
		}
		return nil
	case <-ctx.Done():
		return c.opError("shutdown", ctx.Err())
	}
}

// Close closes the connection at once: requests in flight fail and the
// stream is closed. It may be called more than once.
func (c *Conn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.goingAway, c.closed = true, true
	c.mu.Unlock()
	c.settled()
	err := c.cc.Close()
	c.shutdowns.Wait()
	if !already {
		c.log.Debug("connection closed")
	}
	return err
}

// setGoingAway stops the Conn from taking new requests.
func (c *Conn) setGoingAway() {
	c.mu.Lock()
	c.goingAway = true
	c.mu.Unlock()
}

// engineClosed is called when the engine closes the stream.
func (c *Conn) engineClosed() {
	c.mu.Lock()
	already := c.closed
	c.goingAway, c.closed = true, true
	c.mu.Unlock()
	c.settled()
	if !already {
		c.log.Debug("connection closed by the engine", "error", c.guard.err())
	}
}

// peerMaxStreams records the peer's SETTINGS_MAX_CONCURRENT_STREAMS.
func (c *Conn) peerMaxStreams(n int64) {
	c.mu.Lock()
	c.maxConcurrent = int(min(n, 1<<31-1))
	c.mu.Unlock()
}

// peerGoAway records the peer's GOAWAY.
func (c *Conn) peerGoAway(lastStream uint32, code http2.ErrCode) {
	c.setGoingAway()
	c.log.Debug("peer sent GOAWAY", "last_stream", lastStream, "code", code)
}

// peerReset notes a RST_STREAM from the peer: after one with
// PROTOCOL_ERROR the engine takes no new requests on the connection.
func (c *Conn) peerReset(stream uint32, code http2.ErrCode) {
	if code == http2.ErrCodeProtocol {
		c.setGoingAway()
		c.log.Debug("peer reset a stream with PROTOCOL_ERROR", "stream", stream)
	}
}

var errNilStream = errors.New("h2: nil stream")
