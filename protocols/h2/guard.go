package h2

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// Frame header layout (RFC 9113 section 4.1) and the settings the guard
// reads. The guard never decodes more than this: the engine does the
// framing, HPACK and flow control.
const (
	frameHeaderLen = 9

	// engineMaxStreamsBeforeSettings and engineMaxStreamsUnlimited mirror
	// the engine's own assumptions about the peer's concurrency limit:
	// 100 until the first SETTINGS frame arrives, 1000 when that frame
	// does not name SETTINGS_MAX_CONCURRENT_STREAMS.
	engineMaxStreamsBeforeSettings = 100
	engineMaxStreamsUnlimited      = 1000
)

// guard watches the frame headers the peer sends on their way to the
// engine. It learns the peer's SETTINGS_MAX_CONCURRENT_STREAMS (so that
// Reserve never has to ask the engine, whose state lock can be held across
// a blocked socket write), notices GOAWAY and RST_STREAM(PROTOCOL_ERROR)
// (after which the engine takes no new requests), and stops the floods
// the engine itself lets through: PING, SETTINGS, RST_STREAM, PRIORITY,
// unknown and empty frames beyond Options.MaxControlFrames a second, and
// header blocks split into more CONTINUATION frames than their size
// limit could need. A tripped guard fails every later Read with
// ConnectionError(ENHANCE_YOUR_CALM), which the engine reports to every
// open stream before it closes the connection.
//
// All fields but tripped are touched only by the engine's read goroutine.
type guard struct {
	c *Conn

	hdr  [frameHeaderLen]byte
	nhdr int    // header bytes collected so far
	left uint32 // payload bytes of the current frame not yet seen

	typ   http2.FrameType
	flags http2.Flags

	// keep collects the payload bytes the guard reads: 4 for RST_STREAM,
	// 8 for GOAWAY, one 6-byte record at a time for SETTINGS.
	keep   [8]byte
	nkeep  int
	want   int
	maxSet uint32 // SETTINGS_MAX_CONCURRENT_STREAMS in the current frame
	hasMax bool
	seen   bool // a non-ACK SETTINGS frame has been seen

	conts    int // CONTINUATION frames in the current header block
	maxConts int

	limit  int // control frames a second; <= 0: no limit
	window time.Time
	count  int

	tripped atomic.Pointer[error]
}

func newGuard(c *Conn, opts *Options) *guard {
	g := &guard{c: c, limit: opts.MaxControlFrames}
	if g.limit == 0 {
		g.limit = DefaultMaxControlFrames
	}
	// A legitimate peer splits a header block at its frame size (16 KiB
	// at least); allow twice the list limit in 1 KiB pieces, plus slack.
	g.maxConts = 16 + int(2*uint64(opts.headerListSize())/1024)
	return g
}

// err returns the error the guard tripped with, or nil.
func (g *guard) err() error {
	if p := g.tripped.Load(); p != nil {
		return *p
	}
	return nil
}

// scan follows the frames in b, the next bytes read from the peer.
func (g *guard) scan(b []byte) error {
	for len(b) > 0 {
		if g.left > 0 {
			n := min(uint32(len(b)), g.left)
			if g.want > 0 {
				g.collect(b[:n])
			}
			b = b[n:]
			g.left -= n
			if g.left == 0 {
				g.endFrame()
			}
			continue
		}
		n := copy(g.hdr[g.nhdr:], b)
		g.nhdr += n
		b = b[n:]
		if g.nhdr < frameHeaderLen {
			return nil
		}
		g.nhdr = 0
		if err := g.startFrame(); err != nil {
			return g.trip(err)
		}
	}
	return nil
}

// startFrame looks at a complete frame header.
func (g *guard) startFrame() error {
	h := g.hdr[:]
	length := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	g.typ = http2.FrameType(h[3])
	g.flags = http2.Flags(h[4])
	g.left = length
	g.nkeep, g.want = 0, 0
	control := false
	switch g.typ {
	case http2.FrameData:
		control = length == 0 && !g.flags.Has(http2.FlagDataEndStream)
	case http2.FrameHeaders, http2.FramePushPromise:
		g.conts = 0
	case http2.FrameContinuation:
		g.conts++
		if g.conts > g.maxConts {
			return fmt.Errorf("%w: header block in more than %d CONTINUATION frames", ErrFlood, g.maxConts)
		}
		control = length == 0
	case http2.FrameWindowUpdate:
	case http2.FrameRSTStream:
		control, g.want = true, 4
	case http2.FrameGoAway:
		control, g.want = true, 8
	case http2.FrameSettings:
		control = true
		if !g.flags.Has(http2.FlagSettingsAck) {
			g.want, g.hasMax = 6, false
		}
	default: // PING, PRIORITY and frame types the engine does not know
		control = true
	}
	if control && g.limit > 0 {
		now := time.Now()
		if now.Sub(g.window) >= time.Second {
			g.window, g.count = now, 0
		}
		g.count++
		if g.count > g.limit {
			return fmt.Errorf("%w: more than %d control frames in one second (last %v)", ErrFlood, g.limit, g.typ)
		}
	}
	if length == 0 {
		g.endFrame()
	}
	return nil
}

// collect keeps the payload bytes the guard reads.
func (g *guard) collect(b []byte) {
	for len(b) > 0 && g.want > 0 {
		n := copy(g.keep[g.nkeep:g.want], b)
		g.nkeep += n
		b = b[n:]
		if g.nkeep < g.want {
			return
		}
		switch g.typ {
		case http2.FrameSettings:
			id := http2.SettingID(binary.BigEndian.Uint16(g.keep[:2]))
			if id == http2.SettingMaxConcurrentStreams {
				g.maxSet, g.hasMax = binary.BigEndian.Uint32(g.keep[2:6]), true
			}
			g.nkeep = 0 // next record
		case http2.FrameRSTStream:
			code := http2.ErrCode(binary.BigEndian.Uint32(g.keep[:4]))
			g.c.peerReset(g.streamID(), code)
			g.want = 0
		case http2.FrameGoAway:
			last := binary.BigEndian.Uint32(g.keep[:4]) & (1<<31 - 1)
			code := http2.ErrCode(binary.BigEndian.Uint32(g.keep[4:8]))
			g.c.peerGoAway(last, code)
			g.want = 0
		}
	}
}

// endFrame is called once the current frame has gone by.
func (g *guard) endFrame() {
	if g.typ == http2.FrameSettings && !g.flags.Has(http2.FlagSettingsAck) {
		switch {
		case g.hasMax:
			g.c.peerMaxStreams(int64(g.maxSet))
		case !g.seen:
			g.c.peerMaxStreams(engineMaxStreamsUnlimited)
		}
		if !g.seen {
			g.c.settled()
		}
		g.seen = true
	}
	g.want = 0
}

func (g *guard) streamID() uint32 {
	return binary.BigEndian.Uint32(g.hdr[5:9]) & (1<<31 - 1)
}

// trip records why the guard stopped the connection and returns the error
// the engine is given: a ConnectionError, so that it sends a GOAWAY.
func (g *guard) trip(cause error) error {
	if g.tripped.CompareAndSwap(nil, &cause) {
		g.c.log.Warn("closing connection: peer flood", "error", cause)
	}
	return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
}

// engineConn is the net.Conn the engine runs on: the Stream, with every
// read shown to the guard and Close reported to the Conn.
type engineConn struct {
	transport.Stream
	g *guard
}

var _ transport.Stream = (*engineConn)(nil)

// Read reads from the stream and lets the guard see the bytes.
func (e *engineConn) Read(p []byte) (int, error) {
	if e.g.err() != nil {
		return 0, http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	n, err := e.Stream.Read(p)
	if n > 0 {
		if gerr := e.g.scan(p[:n]); gerr != nil {
			return 0, gerr
		}
	}
	return n, err
}

// Close closes the stream. The engine calls it whenever it gives up the
// connection, so it is where the Conn learns that it is closed.
func (e *engineConn) Close() error {
	e.g.c.engineClosed()
	return e.Stream.Close()
}

// tlsEngineConn is an engineConn over a TLS stream. The engine copies its
// ConnectionState into every http.Response's TLS field.
type tlsEngineConn struct {
	*engineConn
	state tls.ConnectionState
}

// ConnectionState returns the TLS state of the stream.
func (t *tlsEngineConn) ConnectionState() tls.ConnectionState { return t.state }
