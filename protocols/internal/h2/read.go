package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// The read side: one goroutine per connection reads frames (readLoop).
// http2.Framer parses and checks every frame but DATA, whose payload is
// copied straight from the connection's read buffer into the stream's
// body buffer, and frames of unknown type, which are skipped unread.
// The read buffer is pooled and dropped while no stream is open, so an
// idle connection holds only a small one.

const (
	// readBufSize is the read buffer of a connection with open streams.
	readBufSize = 16 << 10
	// idleReadBufSize is the read buffer of a connection with none: big
	// enough for a small response in one read, small enough to keep.
	idleReadBufSize = 512
	// maxKeptFrame is the largest frame payload after which the Framer
	// (whose buffer keeps the largest payload it read) is replaced.
	maxKeptFrame = 4 << 10
)

var readBufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// bigReadBufs counts the pooled read buffers connections hold, for tests.
var bigReadBufs atomic.Int64

// connReader is the buffered reader under the Framer.
type connReader struct {
	c     *Conn
	buf   []byte // buffered bytes are buf[r:w]
	r, w  int
	big   *[readBufSize]byte // the pooled buffer, while streams are open
	small [idleReadBufSize]byte
	err   error // sticky read error, returned once the buffer is empty
}

// Read reads for the Framer.
func (cr *connReader) Read(p []byte) (int, error) {
	if cr.r == cr.w {
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	return n, nil
}

// fill reads more bytes into an empty buffer.
func (cr *connReader) fill() error {
	if cr.err != nil {
		return cr.err
	}
	cr.r, cr.w = 0, 0
	if cr.c.openStreams() == 0 {
		cr.release()
		cr.buf = cr.small[:]
	} else if cr.big == nil {
		cr.big = readBufPool.Get().(*[readBufSize]byte)
		bigReadBufs.Add(1)
		cr.buf = cr.big[:]
	}
	for cr.w == 0 {
		n, err := cr.c.s.Read(cr.buf)
		cr.w = n
		if err != nil {
			cr.err = err
			if n == 0 {
				return err
			}
		}
	}
	return nil
}

// next returns up to max buffered bytes, reading if none are buffered,
// and consumes them: the caller copies them before the next call.
func (cr *connReader) next(max int) ([]byte, error) {
	if cr.r == cr.w {
		if err := cr.fill(); err != nil {
			return nil, err
		}
	}
	n := min(max, cr.w-cr.r)
	b := cr.buf[cr.r : cr.r+n]
	cr.r += n
	return b, nil
}

// discard skips n bytes.
func (cr *connReader) discard(n int) error {
	for n > 0 {
		b, err := cr.next(n)
		if err != nil {
			return err
		}
		n -= len(b)
	}
	return nil
}

// release gives the pooled buffer back; the reader is done.
func (cr *connReader) release() {
	if cr.big != nil {
		readBufPool.Put(cr.big)
		bigReadBufs.Add(-1)
		cr.big = nil
	}
	cr.buf = nil
	cr.r, cr.w = 0, 0
}

// newReadFramer returns the Framer that parses the peer's frames.
func (c *Conn) newReadFramer() *http2.Framer {
	fr := http2.NewFramer(io.Discard, &c.br)
	fr.SetMaxReadFrameSize(c.maxReadFrame)
	return fr
}

// readLoop reads frames until the connection fails or closes.
func (c *Conn) readLoop() {
	defer close(c.readDone)
	err := c.readFrames()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		switch {
		case c.hb.stream != 0:
			c.cutHead.Store(c.hb.stream)
		case c.frameStream != 0 && errors.Is(err, io.ErrUnexpectedEOF):
			c.cutHead.Store(c.frameStream)
		}
	}
	c.br.release()
	c.readFailed(err)
}

// readFailed ends the connection after the read loop stopped with err.
func (c *Conn) readFailed(err error) {
	var ce *connError
	switch {
	case errors.As(err, &ce):
		c.log.Debug("closing connection: peer broke the protocol", "error", err)
		if errors.Is(err, ErrFlood) {
			c.log.Warn("closing connection: peer flood", "error", err)
		}
		c.fatal(ce.code, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		c.shut(errPeerClosed)
	default:
		c.wmu.Lock()
		werr := c.werr
		c.wmu.Unlock()
		if werr != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			err = werr // the deadline set after the write failed
		}
		c.shut(fmt.Errorf("%w: %w", errPeerClosed, err))
	}
}

// writeFailGrace is how long the read loop may go on after a write
// failed: the peer may have sent a GOAWAY or responses before it closed,
// and they make the better account of what happened.
var writeFailGrace = time.Second

// writeFailed stops the connection after a write failed: the read loop
// reads what the peer sent until the connection ends, within
// writeFailGrace, and then closes it.
func (c *Conn) writeFailed(err error) {
	c.log.Debug("write failed", "error", err)
	c.s.SetReadDeadline(time.Now().Add(writeFailGrace))
}

// errPeerClosed is the cause when the peer closed the connection (or it
// broke) while it was open on this side.
var errPeerClosed = errors.New("h2: connection closed by the peer")

// fatal sends GOAWAY with code, then closes the connection with err as
// the cause. The GOAWAY gets a moment to be written before the close.
func (c *Conn) fatal(code http2.ErrCode, err error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		// No stream of the peer's was ever accepted: last stream 0.
		c.s.SetWriteDeadline(time.Now().Add(time.Second))
		c.send(context.Background(), func() { c.appendGoAwayLocked(0, code, "") })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.drainWrites(ctx)
		cancel()
	}
	c.shut(err)
}

// readFrames is the frame loop.
func (c *Conn) readFrames() error {
	for {
		fh, err := c.fr.ReadFrameHeader()
		if err != nil {
			return c.framerError(err)
		}
		if c.readIdleTimeout > 0 {
			c.lastRead.Store(int64(time.Since(processStart)))
		}
		if !c.seenSettings && (fh.Type != http2.FrameSettings || fh.Flags.Has(http2.FlagSettingsAck)) {
			return protocolError("peer's first frame is %v, not SETTINGS", fh.Type)
		}
		if fh.Type == http2.FrameHeaders || fh.Type == http2.FrameContinuation {
			c.frameStream = fh.StreamID
		}
		switch fh.Type {
		case http2.FrameData:
			err = c.readData(fh)
		case http2.FrameHeaders, http2.FrameContinuation, http2.FrameSettings, http2.FramePing,
			http2.FrameGoAway, http2.FrameRSTStream, http2.FrameWindowUpdate, http2.FramePriority,
			http2.FramePushPromise:
			err = c.readFrame(fh)
		default: // frame types this side does not know are skipped
			if err = c.control(fh.Type); err == nil {
				err = c.br.discard(int(fh.Length))
			}
		}
		if err != nil {
			return err
		}
		c.frameStream = 0
		if fh.Length > maxKeptFrame && fh.Type != http2.FrameData && c.hb.stream == 0 {
			c.fr = c.newReadFramer() // let the large payload buffer go
		}
	}
}

// framerError turns an error of the Framer into the read loop's.
func (c *Conn) framerError(err error) error {
	var ce http2.ConnectionError
	switch {
	case errors.Is(err, http2.ErrFrameTooLarge):
		return &connError{code: http2.ErrCodeFrameSize, detail: fmt.Sprintf("frame larger than %d bytes", c.maxReadFrame)}
	case errors.As(err, &ce):
		detail := ""
		if d := c.fr.ErrorDetail(); d != nil {
			detail = d.Error()
		}
		return &connError{code: http2.ErrCode(ce), detail: detail}
	}
	return err
}

// readFrame reads and handles a frame of a known type other than DATA.
func (c *Conn) readFrame(fh http2.FrameHeader) error {
	switch fh.Type {
	case http2.FrameHeaders, http2.FrameContinuation, http2.FrameData, http2.FrameWindowUpdate:
	case http2.FrameGoAway, http2.FrameRSTStream, http2.FramePing, http2.FrameSettings, http2.FramePriority:
		if err := c.control(fh.Type); err != nil {
			return err
		}
	}
	f, err := c.fr.ReadFrameForHeader(fh)
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) && fh.Type != http2.FrameHeaders && fh.Type != http2.FrameContinuation {
			c.resetStream(se.StreamID, se.Code, streamError(se.StreamID, se.Code, c.fr.ErrorDetail()))
			return nil
		}
		if errors.As(err, &se) { // a header block that cannot be decoded
			return &connError{code: http2.ErrCodeProtocol, detail: se.Error()}
		}
		return c.framerError(err)
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return c.startHeaderBlock(f)
	case *http2.ContinuationFrame:
		return c.continueHeaderBlock(f)
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.PingFrame:
		return c.processPing(f)
	case *http2.GoAwayFrame:
		return c.processGoAway(f)
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PushPromiseFrame:
		return protocolError("PUSH_PROMISE received with push disabled")
	}
	return nil // PRIORITY: advisory, ignored
}

// control counts a control frame against Options.MaxControlFrames.
func (c *Conn) control(t http2.FrameType) error {
	if c.maxControl <= 0 {
		return nil
	}
	c.controlCount++
	if c.controlCount <= c.maxControl {
		return nil
	}
	now := time.Now()
	if now.Sub(c.controlStart) >= time.Second {
		c.controlStart, c.controlCount = now, 1
		return nil
	}
	return floodError("more than %d control frames in one second (last %v)", c.maxControl, t)
}

// readData reads a DATA frame, its payload straight into the stream's
// body buffer.
func (c *Conn) readData(fh http2.FrameHeader) error {
	id, length := fh.StreamID, int(fh.Length)
	if id == 0 {
		return protocolError("DATA frame on stream 0")
	}
	end := fh.Flags.Has(http2.FlagDataEndStream)
	if length == 0 && !end {
		if err := c.control(fh.Type); err != nil {
			return err
		}
	}
	data, pad := length, 0
	if fh.Flags.Has(http2.FlagDataPadded) {
		if length == 0 {
			return protocolError("padded DATA frame without a pad length")
		}
		b, err := c.br.next(1)
		if err != nil {
			return err
		}
		pad = int(b[0]) + 1
		if pad > length {
			return protocolError("DATA frame padding longer than the frame")
		}
		data = length - pad
	}

	c.mu.Lock()
	if int64(length) > c.inflow {
		c.mu.Unlock()
		return &connError{code: http2.ErrCodeFlowControl, detail: "peer sent DATA beyond the connection's window"}
	}
	c.inflow -= int64(length)
	s := c.streams[id]
	if s == nil {
		idle := id >= c.nextID || id%2 == 0
		c.unackedConn += int64(length) // nobody reads it: credit it back
		c.mu.Unlock()
		if idle {
			return protocolError("DATA frame on idle stream %d", id)
		}
		if err := c.br.discard(length - min(pad, 1)); err != nil {
			return err
		}
		c.grantConn()
		return nil
	}
	c.unackedConn += int64(pad) // padding: credited back at once
	c.mu.Unlock()

	var serr error // a stream error found on the way
	s.mu.Lock()
	switch {
	case s.resp == nil && s.err == nil:
		serr = streamError(id, http2.ErrCodeProtocol, errors.New("DATA before the response HEADERS"))
	case s.eof:
		serr = streamError(id, http2.ErrCodeStreamClosed, errors.New("DATA after END_STREAM"))
	case int64(length) > s.inflow:
		s.mu.Unlock()
		return &connError{code: http2.ErrCodeFlowControl, detail: fmt.Sprintf("peer sent DATA beyond stream %d's window", id)}
	}
	s.inflow -= int64(length)
	s.mu.Unlock()

	// The payload goes piece by piece from the read buffer to the body
	// buffer; no lock is held while the network is read.
	dropped := 0
	for rest := data; rest > 0; {
		b, err := c.br.next(rest)
		if err != nil {
			return err
		}
		rest -= len(b)
		s.mu.Lock()
		if serr == nil && s.err == nil && !s.bodyClosed && !s.isHead {
			s.buf.write(b, rest)
		} else {
			dropped += len(b)
		}
		s.mu.Unlock()
		s.signal()
	}
	if err := c.br.discard(max(pad-1, 0)); err != nil {
		return err
	}
	if serr != nil {
		c.mu.Lock()
		c.unackedConn += int64(dropped)
		c.mu.Unlock()
		c.resetStream(id, streamErrCode(serr), serr)
		c.grantConn()
		return nil
	}
	var grant int64
	s.mu.Lock()
	if end {
		s.eof = true
	} else if pad > 0 {
		// Padding is nobody's to read: its stream credit is owed at once.
		s.unacked += int64(pad)
		if s.unacked >= c.streamWindow/2 {
			grant, s.unacked = s.unacked, 0
			s.inflow += grant
		}
	}
	s.mu.Unlock()
	if grant > 0 {
		c.send(context.Background(), func() { c.appendWindowUpdateLocked(id, uint32(grant)) })
	}
	if end {
		s.signal()
		c.peerEnded(s)
	}
	if dropped > 0 {
		c.mu.Lock()
		c.unackedConn += int64(dropped)
		c.mu.Unlock()
	}
	if dropped > 0 || pad > 0 {
		c.grantConn()
	}
	return nil
}

// streamErrCode is the code of the http2.StreamError err.
func streamErrCode(err error) http2.ErrCode {
	var se http2.StreamError
	if errors.As(err, &se) {
		return se.Code
	}
	return http2.ErrCodeInternal
}

// processSettings applies the peer's SETTINGS and acknowledges them.
func (c *Conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		var ce http2.ConnectionError
		errors.As(err, &ce)
		return &connError{code: http2.ErrCode(ce), detail: "invalid SETTINGS value: " + err.Error()}
	}
	tableSize, setTable := uint32(0), false
	c.mu.Lock()
	first := !c.seenSettings
	sawMax := false
	var ferr error
	f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.peerMaxStreams, sawMax = s.Val, true
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(c.peerInitialWindow)
			c.peerInitialWindow = s.Val
			for _, st := range c.streams {
				st.outflow += delta
				if st.outflow > maxWindow {
					ferr = &connError{code: http2.ErrCodeFlowControl, detail: "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream's window"}
				}
				if delta > 0 {
					st.signalSend()
				}
			}
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		case http2.SettingMaxHeaderListSize:
			c.peerMaxHeaderList = s.Val
		case http2.SettingHeaderTableSize:
			tableSize, setTable = s.Val, true
		}
		return nil
	})
	if first && !sawMax {
		c.peerMaxStreams = defaultMaxStreamsUnlimited
	}
	if first || sawMax {
		c.maxConcurrent = int(min(c.peerMaxStreams, 1<<31-1))
		c.wakeSlotsLocked()
	}
	c.mu.Unlock()
	if ferr != nil {
		return ferr
	}
	c.send(context.Background(), func() {
		if setTable {
			c.henc.SetMaxDynamicTableSizeLimit(tableSize)
		}
		c.appendSettingsAckLocked()
	})
	if first {
		c.seenSettings = true
		c.settled()
	}
	return nil
}

// processPing answers a PING, or completes a Ping waiting for this ACK.
func (c *Conn) processPing(f *http2.PingFrame) error {
	if f.IsAck() {
		c.mu.Lock()
		if ch, ok := c.pings[f.Data]; ok {
			close(ch)
			delete(c.pings, f.Data)
		}
		c.mu.Unlock()
		return nil
	}
	c.send(context.Background(), func() { c.appendPingLocked(true, f.Data) })
	return nil
}

// processGoAway records the peer's GOAWAY: the Conn takes no new
// requests, streams above its last stream fail as not processed, and the
// connection closes once no stream is left.
func (c *Conn) processGoAway(f *http2.GoAwayFrame) error {
	ga := &GoAwayError{LastStreamID: f.LastStreamID, ErrCode: f.ErrCode, DebugData: string(f.DebugData())}
	c.log.Debug("peer sent GOAWAY", "last_stream", ga.LastStreamID, "code", ga.ErrCode, "debug", ga.DebugData)
	var refused []*stream
	c.mu.Lock()
	if c.goAway != nil && c.goAway.LastStreamID < ga.LastStreamID {
		ga.LastStreamID = c.goAway.LastStreamID // it may only go down
	}
	c.goAway = ga
	c.goingAway = true
	c.wakeSlotsLocked() // requests waiting for a stream go elsewhere
	for id, s := range c.streams {
		if id > ga.LastStreamID {
			refused = append(refused, s)
			c.removeLocked(s)
		}
	}
	c.mu.Unlock()
	for _, s := range refused {
		s.fail(notSent(ga), false)
	}
	c.idleAfterGoAway() // closes the connection if no stream is left
	return nil
}

// processReset fails the stream the peer reset.
func (c *Conn) processReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	s := c.streams[f.StreamID]
	if s == nil {
		// A stream already closed here, or never opened: ignored, as
		// net/http does (the flood limit counted it).
		c.mu.Unlock()
		return nil
	}
	c.removeLocked(s)
	if f.ErrCode == http2.ErrCodeProtocol {
		c.goingAway = true // the peer thinks this side broke the protocol
	}
	c.mu.Unlock()
	if f.ErrCode == http2.ErrCodeProtocol {
		c.log.Debug("peer reset a stream with PROTOCOL_ERROR: taking no new requests", "stream", f.StreamID)
	}
	var err error = http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode, Cause: errResetByPeer}
	s.mu.Lock()
	if f.ErrCode == http2.ErrCodeRefusedStream && s.resp == nil {
		err = notSent(err)
	}
	s.mu.Unlock()
	s.fail(err, false)
	c.idleAfterGoAway()
	return nil
}

// processWindowUpdate adds to a send window.
func (c *Conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	if f.StreamID == 0 {
		useful := c.bodies > 0
		c.outflow += int64(f.Increment)
		if c.outflow > maxWindow {
			c.mu.Unlock()
			return &connError{code: http2.ErrCodeFlowControl, detail: "WINDOW_UPDATE overflows the connection's window"}
		}
		if c.windowc != nil {
			close(c.windowc)
			c.windowc = nil
		}
		c.mu.Unlock()
		if !useful {
			return c.control(http2.FrameWindowUpdate)
		}
		return nil
	}
	s := c.streams[f.StreamID]
	if s == nil { // closed here, or never opened: ignored, as net/http does
		c.mu.Unlock()
		return c.control(http2.FrameWindowUpdate)
	}
	useful := s.sendingBody
	s.outflow += int64(f.Increment)
	overflow := s.outflow > maxWindow
	c.mu.Unlock()
	if overflow {
		err := streamError(f.StreamID, http2.ErrCodeFlowControl, errors.New("WINDOW_UPDATE overflows the stream's window"))
		c.resetStream(f.StreamID, http2.ErrCodeFlowControl, err)
		return nil
	}
	s.signalSend()
	if !useful {
		return c.control(http2.FrameWindowUpdate)
	}
	return nil
}

// maxWindow is the largest flow-control window (RFC 9113 section 6.9.1).
const maxWindow = 1<<31 - 1
