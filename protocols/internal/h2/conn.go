package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// NextProtoTLS is the ALPN protocol ID of HTTP/2 over TLS.
const NextProtoTLS = "h2"

// DefaultMaxHeaderListSize is the response header list limit used when
// Options.MaxHeaderListSize is zero: 10 MiB, net/http's client default
// (its servers' is 1 MiB).
const DefaultMaxHeaderListSize = 10 << 20

// DefaultMaxControlFrames is the control-frame rate limit used when
// Options.MaxControlFrames is zero.
const DefaultMaxControlFrames = 1000

// DefaultUserAgent is sent when a request has no User-Agent field and
// Options.UserAgent is empty; it is protocols/internal/h1's default too.
const DefaultUserAgent = "transportkit"

const (
	// defaultMaxStreamsBeforeSettings and defaultMaxStreamsUnlimited are
	// the peer's concurrency limit assumed before its first SETTINGS
	// frame arrives, and when that frame names none.
	defaultMaxStreamsBeforeSettings = 100
	defaultMaxStreamsUnlimited      = 1000

	defaultStreamWindow  = 4 << 20
	defaultConnWindow    = 1 << 30
	minWindow            = 64 << 10
	defaultMaxReadFrame  = 1 << 20
	minFrameSize         = 16 << 10
	maxFrameSize         = 1<<24 - 1
	initialWindow        = 65535 // RFC 9113 section 6.9.2
	defaultPingTimeout   = 15 * time.Second
	defaultHeaderTableSz = 4096
)

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
	// wait as long as the stream lets them; Close always unblocks them,
	// and a RoundTrip blocked writing its head gives up one second after
	// its context ends (closing the connection).
	WriteByteTimeout time.Duration

	// MaxReceiveBufferPerStream is the flow-control window granted to
	// each response body, which bounds what is buffered for a body that
	// is not being read. A peer that sends beyond it gets a
	// FLOW_CONTROL_ERROR. If zero, 4 MiB; values below 64 KiB are raised
	// to 64 KiB (the peer may send 64 KiB before it learns the window).
	MaxReceiveBufferPerStream int32

	// MaxReceiveBufferPerConnection is the window granted to all streams
	// of the connection together. If zero, 1 GiB; values below 64 KiB are
	// raised to 64 KiB.
	MaxReceiveBufferPerConnection int32

	// MaxControlFrames is how many control frames (PING, SETTINGS,
	// RST_STREAM, PRIORITY, GOAWAY, WINDOW_UPDATE frames that no request
	// body being sent can use, frames of unknown type, empty DATA without
	// END_STREAM, empty CONTINUATION) the peer may send in one second
	// before the Conn closes with ENHANCE_YOUR_CALM and errors matching
	// ErrFlood. If zero, DefaultMaxControlFrames; if negative, no limit.
	MaxControlFrames int

	// UserAgent is sent when a request has no User-Agent field. If empty,
	// DefaultUserAgent. A request whose User-Agent field is present but
	// empty is sent without one.
	UserAgent string

	// DisableCompression, if true, stops the Conn from asking for gzip.
	// If false (compression on, as with net/http), a request with no
	// Accept-Encoding and no Range field, other than HEAD, is sent with
	// "accept-encoding: gzip" (req.Header is not changed), and a gzip
	// response to it is decompressed as it is read: its Content-Encoding
	// and Content-Length fields are removed, ContentLength is -1 and
	// Uncompressed is true. A corrupt gzip stream is a Read error.
	DisableCompression bool

	// ResponseHeaderTimeout is how long to wait for the response head
	// once the request (head and body) has been written. When it passes,
	// the stream is reset and RoundTrip fails with
	// ErrResponseHeaderTimeout. If zero, only the request's context
	// bounds the wait.
	ResponseHeaderTimeout time.Duration

	// ExpectContinueTimeout is how long a request with a body and
	// "Expect: 100-continue" waits for the 100 Continue before its body
	// is sent; a final response that comes instead means the body is not
	// sent. If zero, the body is sent at once, without waiting.
	ExpectContinueTimeout time.Duration

	// Logger receives the connection's events: start, GOAWAY, close at
	// Debug level, a peer flood at Warn. If nil, nothing is logged. The
	// Conn never writes to the standard library's logger.
	Logger hclog.Logger

	// OnIdle, if not nil, is called each time the Conn becomes idle:
	// the last active request ended (its body was read to its end or
	// closed, or it failed) or the last reservation was released, or the
	// last stream still sending its request body after its response
	// closed, leaving nothing active or reserved. It runs on the goroutine
	// that ended the request (on a goroutine of its own when a stream
	// closed), with no lock held; it must not block, and may call the
	// Conn's methods. A pool uses it to retire a connection that is going
	// away, or to time its idleness. If nil, nothing is called.
	OnIdle func()
}

// State is a snapshot of a Conn, for the pool.
type State struct {
	// Active is the number of requests in flight: sent, or waiting for a
	// stream, and whose response body has not been read to its end or
	// closed; and of streams still sending their request body after the
	// response ended (each holds a stream slot).
	Active int
	// Reserved is the number of slots claimed by Reserve and not yet used
	// by RoundTrip or given back by Release.
	Reserved int
	// MaxConcurrent is the peer's SETTINGS_MAX_CONCURRENT_STREAMS. Until
	// the peer's first SETTINGS frame arrives it is 100, and it is 1000
	// when the peer sets no limit.
	MaxConcurrent int
	// GoingAway reports that the Conn takes no new requests: the peer sent
	// GOAWAY, Shutdown or Close was called, the connection broke, or a
	// request asked for the connection to close. Requests in flight may
	// still complete.
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
	s        transport.Stream
	log      hclog.Logger
	tlsState *tls.ConnectionState
	onIdle   func()

	// Identity of the stream, for errors.
	backend, network, address string

	// This side's settings; fixed.
	maxHeaderList     uint32
	maxReadFrame      uint32
	streamWindow      int64
	connWindow        int64
	maxControl        int
	maxConts          int
	userAgent         string
	compress          bool
	respHeaderTimeout time.Duration
	continueTimeout   time.Duration
	writeByteTimeout  time.Duration
	readIdleTimeout   time.Duration
	pingTimeout       time.Duration

	// Owned by the read loop.
	br           connReader
	fr           *http2.Framer
	hdec         *hpack.Decoder
	hb           headerBlock
	frameStream  uint32 // the stream of the frame being read, 0 between frames
	seenSettings bool
	controlStart time.Time
	controlCount int
	readDone     chan struct{}
	lastRead     atomic.Int64 // since processStart, for health checks
	// cutHead is the stream whose response head the connection's end cut
	// short (its HEADERS or CONTINUATION frame, or its header block, was
	// not complete): that stream's error is io.ErrUnexpectedEOF, not
	// "closed before responding".
	cutHead atomic.Uint32
	health  *time.Timer

	mu                sync.Mutex
	streams           map[uint32]*stream // open on the wire
	peakStreams       int                // most streams open at once since the map was made
	nextID            uint32
	peerMaxStreams    uint32
	peerInitialWindow uint32
	peerMaxFrame      uint32
	peerMaxHeaderList uint32
	outflow           int64         // connection send window
	inflow            int64         // what the peer may still send on the connection
	unackedConn       int64         // bytes read (or dropped) not yet granted back
	bodies            int           // request bodies being sent
	windowc           chan struct{} // closed on a connection WINDOW_UPDATE
	slotc             chan struct{} // closed when a stream slot may be free
	pings             map[[8]byte]chan struct{}
	pingSeq           uint64
	maxConcurrent     int // for Reserve and State
	active            int
	lingering         int  // streams still sending after their request ended
	idleDue           bool // the last lingering stream closed: OnIdle is due
	reserved          int
	lastIdle          time.Time
	goingAway         bool
	closed            bool
	closeErr          error         // why the connection closed
	goAway            *GoAwayError  // the peer's GOAWAY
	closeWhenIdle     bool          // a request asked for the connection to close
	idlec             chan struct{} // closed when nothing is active or lingering (Shutdown)
	sentGoAway        bool

	ready     chan struct{} // closed by the peer's first SETTINGS or the close
	readyOnce sync.Once

	wmu      sync.Mutex
	wbuf     *[]byte // frames to write; nil when none
	wspare   *[]byte
	flushing bool          // a goroutine is writing
	flushed  chan struct{} // closed when a write round ends
	werr     error
	henc     *hpack.Encoder
	hbuf     []byte // header block being encoded
}

// processStart is the origin of Conn.lastRead.
var processStart = time.Now()

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
		s:                 s,
		log:               opts.Logger,
		onIdle:            opts.OnIdle,
		maxHeaderList:     opts.MaxHeaderListSize,
		maxReadFrame:      opts.MaxReadFrameSize,
		streamWindow:      int64(opts.MaxReceiveBufferPerStream),
		connWindow:        int64(opts.MaxReceiveBufferPerConnection),
		maxControl:        opts.MaxControlFrames,
		userAgent:         opts.UserAgent,
		compress:          !opts.DisableCompression,
		respHeaderTimeout: opts.ResponseHeaderTimeout,
		continueTimeout:   opts.ExpectContinueTimeout,
		writeByteTimeout:  opts.WriteByteTimeout,
		readIdleTimeout:   opts.ReadIdleTimeout,
		pingTimeout:       opts.PingTimeout,
		controlStart:      time.Now(),
		readDone:          make(chan struct{}),
		streams:           make(map[uint32]*stream),
		nextID:            1,
		peerMaxStreams:    defaultMaxStreamsBeforeSettings,
		peerInitialWindow: initialWindow,
		peerMaxFrame:      minFrameSize,
		peerMaxHeaderList: 1<<32 - 1,
		outflow:           initialWindow,
		pings:             make(map[[8]byte]chan struct{}),
		maxConcurrent:     defaultMaxStreamsBeforeSettings,
		lastIdle:          time.Now(),
		ready:             make(chan struct{}),
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if c.maxHeaderList == 0 {
		c.maxHeaderList = DefaultMaxHeaderListSize
	}
	switch {
	case c.maxReadFrame == 0:
		c.maxReadFrame = defaultMaxReadFrame
	case c.maxReadFrame < minFrameSize:
		c.maxReadFrame = minFrameSize
	case c.maxReadFrame > maxFrameSize:
		c.maxReadFrame = maxFrameSize
	}
	if c.streamWindow == 0 {
		c.streamWindow = defaultStreamWindow
	}
	c.streamWindow = max(c.streamWindow, minWindow)
	if c.connWindow == 0 {
		c.connWindow = defaultConnWindow
	}
	c.connWindow = max(c.connWindow, minWindow)
	c.inflow = c.connWindow
	if c.maxControl == 0 {
		c.maxControl = DefaultMaxControlFrames
	}
	// A legitimate peer splits a header block at its frame size (16 KiB
	// at least); allow twice the list limit in 1 KiB pieces, plus slack.
	c.maxConts = 16 + int(2*uint64(c.maxHeaderList)/1024)
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.pingTimeout <= 0 {
		c.pingTimeout = defaultPingTimeout
	}
	if v, ok := s.Info(transport.InfoBackend); ok {
		c.backend, _ = v.(string)
	}
	if a := s.RemoteAddr(); a != nil {
		c.network, c.address = a.Network(), a.String()
	}
	if v, ok := s.Info(transport.InfoTLS); ok {
		if st, ok := v.(tls.ConnectionState); ok {
			c.tlsState = &st
		}
	}
	c.log = c.log.With("backend", c.backend, "remote", c.address)
	c.br.c = c
	c.fr = c.newReadFramer()
	c.hdec = hpack.NewDecoder(defaultHeaderTableSz, c.emit)
	c.hdec.SetMaxStringLength(int(c.maxHeaderList))
	c.henc = hpack.NewEncoder(&hpackSink{c})

	// The preface, SETTINGS and the connection window, in one write.
	c.wmu.Lock()
	*c.wbuf0() = append(*c.wbuf0(), http2.ClientPreface...)
	settings := []http2.Setting{
		{ID: http2.SettingEnablePush, Val: 0},
		{ID: http2.SettingInitialWindowSize, Val: uint32(c.streamWindow)},
		{ID: http2.SettingMaxHeaderListSize, Val: c.maxHeaderList},
	}
	if c.maxReadFrame != minFrameSize {
		settings = append(settings, http2.Setting{ID: http2.SettingMaxFrameSize, Val: c.maxReadFrame})
	}
	c.appendSettingsLocked(settings...)
	if c.connWindow > initialWindow {
		c.appendWindowUpdateLocked(0, uint32(c.connWindow-initialWindow))
	}
	buf := c.wbuf
	c.wbuf = nil
	c.wmu.Unlock()
	_, err := s.Write(*buf)
	*buf = (*buf)[:0]
	writeBufPool.Put(buf)
	if err != nil {
		c.closed, c.goingAway = true, true
		c.settled()
		close(c.readDone)
		s.Close()
		return nil, c.opError("handshake", err)
	}
	if c.readIdleTimeout > 0 {
		c.mu.Lock()
		c.health = time.AfterFunc(c.readIdleTimeout, c.healthCheck)
		c.mu.Unlock()
	}
	go c.readLoop()
	c.log.Debug("connection started")
	return c, nil
}

// wbuf0 returns the write buffer, taking one from the pool; wmu is held.
func (c *Conn) wbuf0() *[]byte {
	c.bufLocked()
	return c.wbuf
}

// begin accounts for a request about to start.
func (c *Conn) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved > 0 {
		c.reserved--
	}
	switch {
	case c.closed:
		return notSent(c.closedError())
	case c.goingAway:
		return notSent(c.goingAwayError())
	}
	c.active++
	c.lastIdle = time.Time{}
	return nil
}

// closedError is why RoundTrip finds the connection closed; mu is held.
func (c *Conn) closedError() error {
	if c.closeErr == nil || errors.Is(c.closeErr, transport.ErrClosed) {
		return errConnClosed
	}
	return fmt.Errorf("%w: %w", errConnClosed, c.closeErr)
}

// goingAwayError is why RoundTrip finds the connection going away; mu is
// held.
func (c *Conn) goingAwayError() error {
	if c.goAway != nil {
		return fmt.Errorf("%w: %w", errGoingAway, c.goAway)
	}
	return errGoingAway
}

// finish accounts for a request that is over. Its stream s (nil if it
// has none) may still be open, sending the request body after the
// response ended: it lingers, holding its slot, until it closes.
func (c *Conn) finish(s *stream) {
	c.mu.Lock()
	c.active--
	if s != nil && c.streams[s.id] == s && !s.sentEnd && !s.lingers {
		s.lingers = true
		c.lingering++
	}
	idle := c.markIdleLocked()
	c.wakeShutdownLocked()
	c.mu.Unlock()
	if idle && c.onIdle != nil {
		c.onIdle()
	}
}

// wakeShutdownLocked wakes Shutdown when nothing is active or
// lingering; mu is held.
func (c *Conn) wakeShutdownLocked() {
	if c.active+c.lingering == 0 && c.idlec != nil {
		close(c.idlec)
		c.idlec = nil
	}
}

// markIdleLocked notes the time when nothing is active, lingering or
// reserved, and reports whether that is the case.
func (c *Conn) markIdleLocked() bool {
	if c.active == 0 && c.lingering == 0 && c.reserved == 0 {
		c.lastIdle = time.Now()
		return true
	}
	return false
}

// Reserve claims a stream slot within the peer's concurrency limit, for
// one RoundTrip (or Release) to use. It reports false, without waiting,
// when the limit is reached or the Conn takes no new requests; a pool
// then uses or dials another connection.
func (c *Conn) Reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goingAway || c.closed || c.active+c.lingering+c.reserved >= c.maxConcurrent {
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
// limit rather than the assumed one, or once the connection is closed. A
// pool waits for it before it shares a new connection among more callers
// than the peer may allow.
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// settled closes the channel of Ready.
func (c *Conn) settled() { c.readyOnce.Do(func() { close(c.ready) }) }

// State returns a snapshot of the Conn. It never blocks on the network.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return State{
		Active:        c.active + c.lingering,
		Reserved:      c.reserved,
		MaxConcurrent: c.maxConcurrent,
		GoingAway:     c.goingAway || c.closed,
		Closed:        c.closed,
		LastIdle:      c.lastIdle,
	}
}

// openStreams returns the number of streams open on the wire.
func (c *Conn) openStreams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}

// removeLocked forgets s as an open stream and frees its slot; mu is held.
func (c *Conn) removeLocked(s *stream) {
	if c.streams[s.id] != s {
		return
	}
	delete(c.streams, s.id)
	if s.sendingBody {
		s.sendingBody = false
		c.bodies--
	}
	if s.lingers {
		s.lingers = false
		c.lingering--
		c.idleDue = c.idleDue || c.markIdleLocked()
		c.wakeShutdownLocked()
	}
	c.wakeSlotsLocked()
	if len(c.streams) == 0 && c.peakStreams > 8 {
		// A map does not shrink: let a large one go with the load.
		c.streams = make(map[uint32]*stream)
		c.peakStreams = 0
	}
}

// wakeSlotsLocked wakes the requests waiting for a stream slot; mu is
// held.
func (c *Conn) wakeSlotsLocked() {
	if c.slotc != nil {
		close(c.slotc)
		c.slotc = nil
	}
}

// peerEnded notes that the peer ended its side of s; the stream closes
// if this side ended too, or had given up sending its body.
func (c *Conn) peerEnded(s *stream) {
	c.mu.Lock()
	if c.streams[s.id] != s {
		c.mu.Unlock()
		return
	}
	rst := !s.sentEnd && s.bodyStopped
	if !s.sentEnd && !rst {
		c.mu.Unlock()
		return // the body is still being sent: half-closed
	}
	c.removeLocked(s)
	c.mu.Unlock()
	if rst {
		// The body will never be sent: close this side (RFC 9113
		// section 8.1).
		c.send(context.Background(), func() { c.appendRSTLocked(s.id, http2.ErrCodeNo) })
	}
	c.idleAfterGoAway()
}

// idleAfterGoAway closes a connection that got GOAWAY, or carried a
// request that asked for it to close, once no stream is left on it. It
// is called after a stream closed, and calls OnIdle if the stream was
// the last thing on the connection.
func (c *Conn) idleAfterGoAway() {
	c.mu.Lock()
	due := c.idleDue
	c.idleDue = false
	var cause error
	switch {
	case c.closed || len(c.streams) > 0:
	case c.goAway != nil:
		cause = c.goAway
	case c.closeWhenIdle:
		cause = errCloseRequested
	}
	c.mu.Unlock()
	if cause != nil {
		c.shut(cause)
	}
	if due && c.onIdle != nil {
		// Maybe on the read loop, which OnIdle's call of Close would
		// wait for.
		go c.onIdle()
	}
}

// resetStream resets stream id on this side's initiative, for something
// wrong the peer sent: RST_STREAM with code goes to the peer and the
// request fails with err, after the body bytes already received.
func (c *Conn) resetStream(id uint32, code http2.ErrCode, err error) {
	c.mu.Lock()
	s := c.streams[id]
	if s != nil {
		c.removeLocked(s)
	}
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.send(context.Background(), func() { c.appendRSTLocked(id, code) })
	}
	if s != nil {
		// The peer's fault: the body bytes that came before it are read
		// first, and a response that had ended keeps its body, as with
		// net/http.
		s.fail(err, false)
	}
	c.idleAfterGoAway()
}

// grantConn gives the peer back connection-level credit for what was
// read or dropped, once half the window is owed.
func (c *Conn) grantConn() {
	c.mu.Lock()
	n := c.unackedConn
	if n < c.connWindow/2 || c.closed {
		c.mu.Unlock()
		return
	}
	c.unackedConn = 0
	c.inflow += n
	c.mu.Unlock()
	c.send(context.Background(), func() { c.appendWindowUpdateLocked(0, uint32(n)) })
}

// shut closes the connection with cause: every open stream fails, and
// later requests are refused as not sent. It is idempotent.
func (c *Conn) shut(cause error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.goingAway = true, true
	c.closeErr = cause
	streams := c.streams
	c.streams = map[uint32]*stream{}
	for _, s := range streams {
		s.lingers = false
	}
	c.lingering, c.idleDue = 0, false
	c.wakeShutdownLocked()
	c.wakeSlotsLocked()
	if c.windowc != nil {
		close(c.windowc)
		c.windowc = nil
	}
	for k, ch := range c.pings {
		close(ch)
		delete(c.pings, k)
	}
	if c.health != nil {
		c.health.Stop()
	}
	c.mu.Unlock()
	c.settled()
	c.s.Close()
	for _, s := range streams {
		s.fail(s.connError(cause), false)
	}
	if cause == errConnClosed {
		c.log.Debug("connection closed")
	} else {
		c.log.Debug("connection closed", "cause", cause)
	}
}

// Ping sends a PING frame and waits for the peer's reply, or for ctx.
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.ping(ctx); err != nil {
		return c.opError("ping", err)
	}
	return nil
}

func (c *Conn) ping(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		err := c.closedError()
		c.mu.Unlock()
		return err
	}
	c.pingSeq++
	var data [8]byte
	for i := range data {
		data[i] = byte(c.pingSeq >> (8 * i))
	}
	ch := make(chan struct{})
	c.pings[data] = ch
	c.mu.Unlock()
	if err := c.send(ctx, func() { c.appendPingLocked(false, data) }); err != nil {
		return err
	}
	select {
	case <-ch:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return c.closedError()
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pings, data)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// healthCheck runs ReadIdleTimeout after the last frame arrived (or
// after its last run): it pings the peer if nothing came since, and
// closes the connection if the PING gets no reply in time.
func (c *Conn) healthCheck() {
	idle := time.Since(processStart) - time.Duration(c.lastRead.Load())
	if idle < c.readIdleTimeout {
		c.rearmHealth(c.readIdleTimeout - idle)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.pingTimeout)
	err := c.ping(ctx)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.log.Debug("health check failed: closing connection", "timeout", c.pingTimeout)
			c.shut(errPingTimeout)
		}
		return
	}
	c.rearmHealth(c.readIdleTimeout)
}

func (c *Conn) rearmHealth(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.health.Reset(d)
	}
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
	var idle chan struct{}
	if c.active+c.lingering > 0 {
		if c.idlec == nil {
			c.idlec = make(chan struct{})
		}
		idle = c.idlec
	}
	first := !c.sentGoAway
	c.sentGoAway = true
	c.mu.Unlock()
	if first {
		// This side accepts no streams of the peer's: last stream 0.
		c.send(ctx, func() { c.appendGoAwayLocked(0, http2.ErrCodeNo, "") })
	}
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return c.opError("shutdown", ctx.Err())
		}
	}
	if err := c.drainWrites(ctx); err != nil {
		return c.opError("shutdown", err)
	}
	c.shut(errShutdown)
	<-c.readDone
	return nil
}

// Close closes the connection at once: requests in flight fail and the
// stream is closed. It may be called more than once.
func (c *Conn) Close() error {
	c.shut(errConnClosed)
	<-c.readDone
	return nil
}
