package h2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// The write side. Any goroutine that has frames to send (a RoundTrip, a
// request body, a response body returning flow-control credit, the
// reader answering PING and SETTINGS) appends them to the connection's
// buffer under wmu and then flushes. One goroutine at a time writes to
// the stream, without holding wmu; frames appended meanwhile are written
// by that goroutine before it stops, so concurrent requests share write
// calls (and TLS records) instead of each paying for its own. When other
// streams are open, the writer first yields once, so that the goroutines
// ready to add frames do so before the write. The buffer goes back to a
// pool when everything is written, so an idle connection holds none.

// maxPendingWrite is how many buffered bytes a request body may find
// waiting for a write in progress before it waits for that write: it
// bounds the buffer when the peer reads slowly.
const maxPendingWrite = 64 << 10

// maxPooledWriteBuf is the largest write buffer kept in the pool.
const maxPooledWriteBuf = 256 << 10

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// interruptGrace is how long a write may still take after the context
// of the goroutine writing ended before it is interrupted (which closes
// the connection): long enough that a healthy write is never cut, short
// enough that a RoundTrip stuck writing to a peer that stopped reading
// returns soon after its context ends.
var interruptGrace = time.Second

// appendFrameHeader appends a frame header to b.
func appendFrameHeader(b []byte, length int, t http2.FrameType, f http2.Flags, stream uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(f),
		byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
}

// The append* methods add one frame to the write buffer; wmu is held.

// bufLocked returns the write buffer, taking one from the pool if the
// connection holds none.
func (c *Conn) bufLocked() []byte {
	if c.wbuf == nil {
		c.wbuf = writeBufPool.Get().(*[]byte)
		*c.wbuf = (*c.wbuf)[:0]
	}
	return *c.wbuf
}

// pending is the number of bytes waiting to be written; wmu is held.
func (c *Conn) pending() int {
	if c.wbuf == nil {
		return 0
	}
	return len(*c.wbuf)
}

func (c *Conn) appendSettingsLocked(settings ...http2.Setting) {
	b := appendFrameHeader(c.bufLocked(), 6*len(settings), http2.FrameSettings, 0, 0)
	for _, s := range settings {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	*c.wbuf = b
}

func (c *Conn) appendSettingsAckLocked() {
	b := appendFrameHeader(c.bufLocked(), 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
	*c.wbuf = b
}

func (c *Conn) appendPingLocked(ack bool, data [8]byte) {
	var f http2.Flags
	if ack {
		f = http2.FlagPingAck
	}
	b := appendFrameHeader(c.bufLocked(), 8, http2.FramePing, f, 0)
	*c.wbuf = append(b, data[:]...)
}

func (c *Conn) appendWindowUpdateLocked(stream uint32, incr uint32) {
	b := appendFrameHeader(c.bufLocked(), 4, http2.FrameWindowUpdate, 0, stream)
	*c.wbuf = binary.BigEndian.AppendUint32(b, incr&(1<<31-1))
}

func (c *Conn) appendRSTLocked(stream uint32, code http2.ErrCode) {
	b := appendFrameHeader(c.bufLocked(), 4, http2.FrameRSTStream, 0, stream)
	*c.wbuf = binary.BigEndian.AppendUint32(b, uint32(code))
}

func (c *Conn) appendGoAwayLocked(last uint32, code http2.ErrCode, debug string) {
	b := appendFrameHeader(c.bufLocked(), 8+len(debug), http2.FrameGoAway, 0, 0)
	b = binary.BigEndian.AppendUint32(b, last)
	b = binary.BigEndian.AppendUint32(b, uint32(code))
	*c.wbuf = append(b, debug...)
}

// appendDataLocked appends one DATA frame; len(data) is within the peer's
// frame size.
func (c *Conn) appendDataLocked(stream uint32, end bool, data []byte) {
	var f http2.Flags
	if end {
		f = http2.FlagDataEndStream
	}
	b := appendFrameHeader(c.bufLocked(), len(data), http2.FrameData, f, stream)
	*c.wbuf = append(b, data...)
}

// appendHeadersLocked appends the header block in c.hbuf as a HEADERS
// frame and as many CONTINUATION frames as the peer's frame size needs.
func (c *Conn) appendHeadersLocked(stream uint32, endStream bool, maxFrame int) {
	block := c.hbuf
	b := c.bufLocked()
	first := true
	for first || len(block) > 0 {
		n := min(len(block), maxFrame)
		frag := block[:n]
		block = block[n:]
		var f http2.Flags
		if len(block) == 0 {
			f |= http2.FlagHeadersEndHeaders
		}
		t := http2.FrameContinuation
		if first {
			t = http2.FrameHeaders
			if endStream {
				f |= http2.FlagHeadersEndStream
			}
			first = false
		}
		b = append(appendFrameHeader(b, len(frag), t, f, stream), frag...)
	}
	*c.wbuf = b
	if cap(c.hbuf) > 16<<10 {
		c.hbuf = nil // do not keep a large block's buffer
	} else {
		c.hbuf = c.hbuf[:0]
	}
}

// Write appends p to the header block being encoded: it is the HPACK
// encoder's io.Writer, used under wmu.
func (w *hpackSink) Write(p []byte) (int, error) {
	w.c.hbuf = append(w.c.hbuf, p...)
	return len(p), nil
}

// hpackSink is the HPACK encoder's writer.
type hpackSink struct{ c *Conn }

// flushLocked writes the buffer unless another goroutine is writing,
// which then writes these bytes too. It is called with wmu held and
// releases it. A write that fails ends the connection (writeFailed). If ctx can end,
// a write this goroutine is blocked in when it ends is interrupted
// interruptGrace later (closing the connection, which is left with part
// of a frame written).
func (c *Conn) flushLocked(ctx context.Context) {
	if c.flushing || c.werr != nil || c.pending() == 0 {
		c.wmu.Unlock()
		return
	}
	c.flushing = true
	if c.yieldBeforeWrite() {
		// Other requests are in flight: let the goroutines that are
		// ready to run add their frames first, so that one write carries
		// them all.
		c.wmu.Unlock()
		runtime.Gosched()
		c.wmu.Lock()
	}
	var err error
	for c.pending() > 0 {
		buf := c.wbuf
		c.wbuf, c.wspare = c.wspare, nil
		c.wmu.Unlock()
		err = c.write(ctx, *buf)
		c.wmu.Lock()
		*buf = (*buf)[:0]
		if c.wspare == nil && cap(*buf) <= maxPooledWriteBuf {
			c.wspare = buf
		}
		if err != nil {
			c.werr = err
			break
		}
	}
	c.flushing = false
	// Nothing left to write: the buffers go back to the pool, so that an
	// idle connection holds none.
	if c.wbuf != nil && len(*c.wbuf) == 0 {
		c.wbuf, c.wspare = c.wspare, c.wbuf
	}
	if c.wspare != nil {
		writeBufPool.Put(c.wspare)
		c.wspare = nil
	}
	if c.wbuf != nil && len(*c.wbuf) == 0 {
		writeBufPool.Put(c.wbuf)
		c.wbuf = nil
	}
	if c.flushed != nil {
		close(c.flushed)
		c.flushed = nil
	}
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
	}
}

// write writes b to the stream, keeping a deadline of WriteByteTimeout
// after each write that made progress, and interruptible by ctx.
func (c *Conn) write(ctx context.Context, b []byte) error {
	if ctx.Done() != nil {
		w := &interrupt{c: c}
		stop := context.AfterFunc(ctx, w.fire)
		err := c.writeTimed(b)
		if !stop() {
			// fire ran or is running: wait for it, then undo its
			// deadline if the write got through anyway.
			w.mu.Lock()
			fired := w.fired
			w.done = true
			w.mu.Unlock()
			if fired && err == nil {
				c.s.SetWriteDeadline(time.Time{})
			}
			if fired && err != nil {
				return fmt.Errorf("h2: write interrupted %v after the request's context ended: %w", interruptGrace, err)
			}
		}
		return err
	}
	return c.writeTimed(b)
}

// interrupt ends a blocked write when a context ends.
type interrupt struct {
	c     *Conn
	mu    sync.Mutex
	fired bool
	done  bool
}

func (w *interrupt) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.fired = true
		w.c.s.SetWriteDeadline(time.Now().Add(interruptGrace))
	}
}

// writeCalls counts the stream writes of all connections, for
// benchmarks.
var writeCalls atomic.Int64

func (c *Conn) writeTimed(b []byte) error {
	writeCalls.Add(1)
	if c.writeByteTimeout <= 0 {
		_, err := c.s.Write(b)
		return err
	}
	for {
		c.s.SetWriteDeadline(time.Now().Add(c.writeByteTimeout))
		n, err := c.s.Write(b)
		b = b[n:]
		if err != nil && n > 0 && len(b) > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // progress: keep going
		}
		if err == nil {
			c.s.SetWriteDeadline(time.Time{})
		}
		return err
	}
}

// send runs f (which appends frames) under wmu and flushes. It reports
// the connection's write error, if any, without running f.
func (c *Conn) send(ctx context.Context, f func()) error {
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	f()
	c.flushLocked(ctx)
	return nil
}

// awaitWriteRoom waits, when a write is in progress and much is already
// buffered behind it, until that write ends, or ctx ends.
func (c *Conn) awaitWriteRoom(ctx context.Context) error {
	for {
		c.wmu.Lock()
		if !c.flushing || c.pending() < maxPendingWrite || c.werr != nil {
			c.wmu.Unlock()
			return nil
		}
		if c.flushed == nil {
			c.flushed = make(chan struct{})
		}
		ch := c.flushed
		c.wmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// drainWrites waits until everything buffered has been written, or ctx
// ends.
func (c *Conn) drainWrites(ctx context.Context) error {
	for {
		c.wmu.Lock()
		if (!c.flushing && c.pending() == 0) || c.werr != nil {
			c.wmu.Unlock()
			return nil
		}
		if !c.flushing {
			c.flushLocked(ctx)
			continue
		}
		if c.flushed == nil {
			c.flushed = make(chan struct{})
		}
		ch := c.flushed
		c.wmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// yieldBeforeWrite reports whether a goroutine about to write should let
// others add frames first: when other streams are open. With 32 callers
// on one connection this makes one write carry about nine requests' heads
// instead of one, for about a fifth less CPU per request
// (docs/ARCHITECTURE.md); a lone request never waits.
func (c *Conn) yieldBeforeWrite() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams) > 1
}
