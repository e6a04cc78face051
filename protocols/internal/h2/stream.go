package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"github.com/transportkit/transportkit/protocols/internal/gzipbody"
	"github.com/transportkit/transportkit/protocols/internal/httperr"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// maxInlineBody is the largest request body sent with its head by the
// caller's goroutine, when it is in memory (GetBody is set) and fits the
// peer's windows and frame size. Other bodies are sent by a goroutine of
// their own while RoundTrip waits for the response.
const maxInlineBody = 16 << 10

// maxStreamID is the last stream ID a client can open.
const maxStreamID = 1<<31 - 1

var inlinePool = sync.Pool{New: func() any { return new([maxInlineBody + 1]byte) }}

// stream is one request on the connection, and its response body.
type stream struct {
	c      *Conn
	id     uint32
	req    *http.Request
	ctx    context.Context
	trace  *httptrace.ClientTrace
	isHead bool
	expect bool // waits for 100-continue before sending the body

	wroteTraced bool // WroteRequest was called; the body writer's

	// Owned by the read loop.
	firstByte bool
	size1xx   uint64 // 1xx header bytes since a hook last saw one

	wake     chan struct{} // RoundTrip's and the body reader's wait
	sendWake chan struct{} // the body writer's wait; nil without one

	// Guarded by c.mu.
	outflow     int64 // send window
	sendingBody bool  // the body is being sent, counted in c.bodies
	writer      bool  // the body writer goroutine runs
	sentEnd     bool  // END_STREAM was sent
	bodyStopped bool  // the rest of the body will not be sent
	sendErr     error // why the body writer must stop
	lingers     bool  // open after its request ended, counted in c.lingering

	closeBodyOnce sync.Once

	mu          sync.Mutex
	resp        *http.Response // the final response head
	gotHead     bool           // a response head (1xx included) arrived
	got100      bool
	bodyWritten bool // the request is written in full
	eof         bool // the peer ended the stream
	err         error
	errNow      bool // err goes before buffered data
	buf         dataBuffer
	trailer     http.Header
	inflow      int64 // receive window
	unacked     int64 // bytes read not yet granted back
	remain      int64 // Content-Length left; -1: none
	bodyClosed  bool
	finished    bool // Conn.finish was called for it
}

// signal wakes RoundTrip or the body's reader.
func (s *stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// signalSend wakes the body writer.
func (s *stream) signalSend() {
	select {
	case s.sendWake <- struct{}{}:
	default:
	}
}

// RoundTrip sends req on a new stream of the connection and returns the
// response once its head arrives. It uses a slot claimed by Reserve if
// there is one; without one, it waits for a free stream when the peer's
// concurrency limit is reached. Cancelling req's context resets only its
// stream. The response body must be read to its end or closed, which
// frees the stream. RoundTrip always closes the request body.
//
// Errors are *transport.OpError values with Op "roundtrip". Their cause
// matches ErrRetryable when the server did not process the request,
// protocols.ErrServerClosed (and io.EOF) when the connection closed
// after the request was written and before any response came, and
// otherwise says what happened: an http2.StreamError, an
// http2.ConnectionError or a *GoAwayError (use errors.As), ErrFlood,
// ErrInvalidRequest, ErrHeaderListSize, ErrBodyLength, ErrNoStreams,
// ErrResponseHeaderTimeout, a context's error (a deadline as
// transport.ErrTimeout, which still matches context.DeadlineExceeded),
// or the request body's or the stream's error.
func (c *Conn) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := c.begin(); err != nil {
		closeBody(req)
		return nil, c.opError("roundtrip", err)
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		c.finish(nil)
		return nil, c.opError("roundtrip", err)
	}
	return resp, nil
}

// closeBody closes the request body, if any.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func (c *Conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	h, err := c.checkRequest(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	s := &stream{
		c:      c,
		req:    req,
		ctx:    ctx,
		trace:  httptrace.ContextClientTrace(ctx),
		isHead: h.method == http.MethodHead,
		wake:   make(chan struct{}, 1),
		remain: -1,
	}
	if h.contentLength != 0 {
		// Made before the read loop can see the stream.
		s.sendWake = make(chan struct{}, 1)
		s.expect = c.continueTimeout > 0 && httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue")
	}

	// A small body in memory goes with the head.
	var inline []byte
	if h.contentLength > 0 && h.contentLength <= maxInlineBody && req.GetBody != nil && h.trailers == "" && !s.expect {
		buf := inlinePool.Get().(*[maxInlineBody + 1]byte)
		defer inlinePool.Put(buf)
		n, err := io.ReadFull(req.Body, buf[:h.contentLength+1])
		closeBody(req)
		switch {
		case n != int(h.contentLength):
			return nil, fmt.Errorf("%w: %d bytes, ContentLength %d", ErrBodyLength, n, h.contentLength)
		case err != io.ErrUnexpectedEOF && err != io.EOF && err != nil:
			return nil, err
		}
		inline = buf[:n]
	}
	closeConn := req.Close || hasToken(req.Header["Connection"], "close")
	sentInline, err := c.open(s, req, &h, inline, closeConn)
	if err != nil {
		if inline == nil {
			closeBody(req)
		}
		return nil, err
	}
	switch {
	case h.contentLength == 0 || sentInline:
		s.bodyWritten = true
	case inline != nil: // did not fit the windows: sent as a stream
		go s.writeBody(strings.NewReader(string(inline)), h.contentLength, nil)
	default:
		go s.writeBody(req.Body, h.contentLength, req.Trailer)
	}
	resp, err := s.awaitResponse()
	if err == nil && h.gzip {
		gzipbody.Unwrap(resp)
	}
	return resp, err
}

// open waits for a stream slot, then assigns the stream its ID and
// writes its head (and an inline body that fits the windows), in the
// order of IDs. It reports whether the inline body was sent.
func (c *Conn) open(s *stream, req *http.Request, h *reqHead, inline []byte, closeConn bool) (bool, error) {
	for {
		c.wmu.Lock()
		c.mu.Lock()
		var err error
		switch {
		case c.closed:
			err = notSent(c.closedError())
		case c.werr != nil:
			err = notSent(c.werr)
		case c.goingAway:
			err = notSent(c.goingAwayError())
		case h.size > uint64(c.peerMaxHeaderList):
			err = fmt.Errorf("%w: %d bytes, limit %d", ErrHeaderListSize, h.size, c.peerMaxHeaderList)
		case c.nextID > maxStreamID:
			c.goingAway = true
			err = notSent(errGoingAway)
		}
		if err != nil {
			c.mu.Unlock()
			c.wmu.Unlock()
			return false, err
		}
		if len(c.streams) >= int(c.peerMaxStreams) {
			if c.slotc == nil {
				c.slotc = make(chan struct{})
			}
			ch, none := c.slotc, c.peerMaxStreams == 0
			c.mu.Unlock()
			c.wmu.Unlock()
			select {
			case <-ch:
				continue
			case <-s.ctx.Done():
				if none {
					return false, fmt.Errorf("%w: %w", ErrNoStreams, s.ctx.Err())
				}
				return false, s.ctx.Err()
			}
		}
		s.id = c.nextID
		c.nextID += 2
		c.streams[s.id] = s
		c.peakStreams = max(c.peakStreams, len(c.streams))
		s.outflow = int64(c.peerInitialWindow)
		s.inflow = c.streamWindow
		maxFrame := int(c.peerMaxFrame)
		n := int64(len(inline))
		sendInline := inline != nil && n <= min(c.outflow, s.outflow) && len(inline) <= maxFrame
		switch {
		case sendInline:
			c.outflow -= n
			s.outflow -= n
			s.sentEnd = true
		case h.contentLength == 0:
			s.sentEnd = true
		default:
			s.sendingBody, s.writer = true, true
			c.bodies++
		}
		if closeConn {
			// This request asked for the connection to close: no new
			// requests, and it closes once idle.
			c.goingAway, c.closeWhenIdle = true, true
		}
		c.mu.Unlock()
		c.encodeHeadersLocked(req, h, s.trace)
		c.appendHeadersLocked(s.id, h.contentLength == 0, maxFrame)
		if sendInline {
			c.appendDataLocked(s.id, true, inline)
		}
		// Before the write, so that no response hook can come first.
		if s.trace != nil && s.trace.WroteHeaders != nil {
			s.trace.WroteHeaders()
		}
		if s.expect && s.trace != nil && s.trace.Wait100Continue != nil {
			s.trace.Wait100Continue()
		}
		if (sendInline || h.contentLength == 0) && s.trace != nil && s.trace.WroteRequest != nil {
			s.trace.WroteRequest(httptrace.WroteRequestInfo{})
		}
		c.flushLocked(s.ctx)
		return sendInline, nil
	}
}

// hasToken reports whether a comma-separated header has token in it.
func hasToken(values []string, token string) bool {
	return httpguts.HeaderValuesContainsToken(values, token)
}

// awaitResponse waits for the final response head.
func (s *stream) awaitResponse() (*http.Response, error) {
	c := s.c
	var timer *time.Timer
	var timeout <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		resp, err, written := s.resp, s.err, s.bodyWritten
		if resp != nil && resp.Body != s {
			s.finished = true // no body to read: the request is over
		}
		s.mu.Unlock()
		switch {
		case resp != nil:
			if resp.Body != s {
				c.finish(s)
			}
			return resp, nil
		case err != nil:
			s.mu.Lock()
			s.finished = true
			s.mu.Unlock()
			return nil, err
		case written && timer == nil && c.respHeaderTimeout > 0:
			timer = time.NewTimer(c.respHeaderTimeout)
			timeout = timer.C
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			err := s.ctx.Err()
			s.cancel(http2.ErrCodeCancel, err)
			s.mu.Lock()
			s.finished = true
			s.mu.Unlock()
			return nil, err
		case <-timeout:
			s.cancel(http2.ErrCodeCancel, ErrResponseHeaderTimeout)
			s.mu.Lock()
			s.finished = true
			s.mu.Unlock()
			return nil, ErrResponseHeaderTimeout
		}
	}
}

// cancel resets the stream on this side's initiative: RST_STREAM with
// code if it is still open, and the request fails with err at once.
func (s *stream) cancel(code http2.ErrCode, err error) {
	c := s.c
	c.mu.Lock()
	open := c.streams[s.id] == s
	if open {
		c.removeLocked(s)
	}
	closed := c.closed
	c.mu.Unlock()
	if open && !closed {
		c.send(context.Background(), func() { c.appendRSTLocked(s.id, code) })
	}
	s.fail(err, true)
	c.idleAfterGoAway()
}

// fail ends the stream with err: now says err goes before any buffered
// body bytes (a cancellation), else after them (a failure of the peer
// or the connection). A response whose body already arrived in full
// keeps it; only its request body stops. The stream is no longer open.
func (s *stream) fail(err error, now bool) {
	c := s.c
	s.mu.Lock()
	dropped := 0
	if s.err == nil && (now || !s.eof) {
		s.err, s.errNow = err, now
		if now {
			dropped = s.buf.size
			s.buf.reset()
		}
	}
	s.mu.Unlock()
	c.mu.Lock()
	if s.sendErr == nil {
		s.sendErr = err
	}
	writing := s.writer
	c.unackedConn += int64(dropped)
	c.mu.Unlock()
	s.signal()
	s.signalSend()
	if writing {
		// The body writer may be blocked reading the request body.
		go s.closeReqBody()
	}
	if dropped > 0 {
		c.grantConn()
	}
}

// closeReqBody closes the request body once.
func (s *stream) closeReqBody() {
	s.closeBodyOnce.Do(func() { closeBody(s.req) })
}

// connError is the error of s when the connection closed with cause.
func (s *stream) connError(cause error) error {
	var ce *connError
	switch {
	case cause == errConnClosed || cause == errShutdown:
		return errConnClosed
	case errors.As(cause, &ce) || cause == errPingTimeout:
		return cause
	}
	// The peer closed the connection, or it broke.
	s.mu.Lock()
	gotHead := s.gotHead
	s.mu.Unlock()
	s.c.mu.Lock()
	ga := s.c.goAway
	s.c.mu.Unlock()
	first := httperr.ErrServerClosed
	if gotHead || s.c.cutHead.Load() == s.id {
		first = io.ErrUnexpectedEOF
	}
	if ga != nil {
		return fmt.Errorf("%w: %w", first, ga)
	}
	return fmt.Errorf("%w: %w", first, cause)
}

// errStopBody ends a body writer that was told to stop: not a failure.
var errStopBody = errors.New("h2: request body no longer wanted")

// errStreamGone ends a body writer whose stream closed: whatever closed
// it has given the request its error.
var errStreamGone = errors.New("h2: stream closed")

// writeBody sends the request body (and trailers) as flow control
// allows; it runs on a goroutine of its own.
func (s *stream) writeBody(body io.Reader, length int64, trailer http.Header) {
	c := s.c
	err := s.sendBody(body, length, trailer)
	if err != nil && err != errStopBody {
		// A read error may come from this side closing the body: the
		// stream failed, or the rest of the body is not wanted.
		c.mu.Lock()
		switch {
		case s.sendErr != nil:
			err = s.sendErr
		case s.bodyStopped:
			err = errStopBody
		}
		c.mu.Unlock()
	}
	s.closeReqBody()
	if err != nil && err != errStopBody {
		s.wroteRequest(err)
	}
	s.mu.Lock()
	s.bodyWritten = true
	s.mu.Unlock()
	s.signal()

	c.mu.Lock()
	if s.sendingBody {
		s.sendingBody = false
		c.bodies--
	}
	s.writer = false
	sendErr := s.sendErr
	c.mu.Unlock()
	switch {
	case err == nil:
		c.localEnded(s)
	case err == errStopBody:
		c.mu.Lock()
		s.bodyStopped = true
		c.mu.Unlock()
		s.mu.Lock()
		eof := s.eof
		s.mu.Unlock()
		if eof {
			c.peerEnded(s) // resets this side, the response being complete
		}
	case err == sendErr || err == errStreamGone:
		// The stream failed or closed already: nothing to add.
	default:
		// The body could not be read, or was not what it said.
		s.cancel(http2.ErrCodeCancel, err)
	}
}

// wroteRequest calls the WroteRequest hook, once; the body writer calls
// it.
func (s *stream) wroteRequest(err error) {
	if s.wroteTraced {
		return
	}
	s.wroteTraced = true
	if s.trace != nil && s.trace.WroteRequest != nil {
		s.trace.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
}

// sendBody is writeBody's work; it returns errStopBody when the rest of
// the body is not wanted.
func (s *stream) sendBody(body io.Reader, length int64, trailer http.Header) error {
	c := s.c
	if s.expect {
		if err := s.await100(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	size := min(int(c.peerMaxFrame), 16<<10)
	c.mu.Unlock()
	if length > 0 && length < int64(size) {
		size = int(length) + 1 // room to see a body longer than declared
	}
	bp := scratchPool.Get().(*[16<<10 + 1]byte)
	defer scratchPool.Put(bp)
	buf := bp[:size]
	sent := int64(0)
	for {
		n, rerr := body.Read(buf)
		sent += int64(n)
		if length >= 0 && sent > length {
			return fmt.Errorf("%w: more than ContentLength %d", ErrBodyLength, length)
		}
		if rerr == nil && length >= 0 && sent == length {
			// All declared bytes are in: make sure the body ends here, so
			// that END_STREAM goes with them.
			var one [1]byte
			var m int
			m, rerr = body.Read(one[:])
			if m > 0 {
				return fmt.Errorf("%w: more than ContentLength %d", ErrBodyLength, length)
			}
		}
		last := rerr == io.EOF
		if rerr != nil && !last {
			return fmt.Errorf("h2: reading the request body: %w", rerr)
		}
		if last && length >= 0 && sent < length {
			return fmt.Errorf("%w: %d bytes, ContentLength %d", ErrBodyLength, sent, length)
		}
		endWithData := last && len(trailer) == 0
		if err := s.sendData(buf[:n], endWithData); err != nil {
			return err
		}
		if last {
			if len(trailer) > 0 {
				return s.sendTrailers(trailer)
			}
			return nil
		}
	}
}

var scratchPool = sync.Pool{New: func() any { return new([16<<10 + 1]byte) }}

// await100 waits for 100 Continue, ExpectContinueTimeout, or a final
// response (errStopBody: the body is not sent).
func (s *stream) await100() error {
	c := s.c
	timer := time.NewTimer(c.continueTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got100, final := s.got100, s.resp != nil
		s.mu.Unlock()
		c.mu.Lock()
		err := s.sendErr
		c.mu.Unlock()
		switch {
		case err != nil:
			return err
		case final:
			return errStopBody
		case got100:
			return nil
		}
		select {
		case <-s.sendWake:
		case <-timer.C:
			return nil
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
}

// sendData sends p as DATA frames as the windows allow; end sets
// END_STREAM on the last one (an empty frame if p is empty).
func (s *stream) sendData(p []byte, end bool) error {
	c := s.c
	for len(p) > 0 || end {
		n := 0
		if len(p) > 0 {
			var err error
			if n, err = s.takeWindow(len(p)); err != nil {
				return err
			}
		} else if err := s.sendError(); err != nil {
			return err
		}
		if err := c.awaitWriteRoom(s.ctx); err != nil {
			return err
		}
		last := end && n == len(p)
		c.wmu.Lock()
		if err := s.writableLocked(last); err != nil {
			c.wmu.Unlock()
			return err
		}
		c.appendDataLocked(s.id, last, p[:n])
		if last {
			s.wroteRequest(nil) // before the write: no response hook can come first
		}
		c.flushLocked(context.Background())
		p = p[n:]
		if last {
			return nil
		}
	}
	return nil
}

// writableLocked reports whether the body writer may append a frame of
// the stream (wmu is held): not once the stream closed, since this side
// may have appended its RST_STREAM already. end marks the frame that ends
// the stream.
func (s *stream) writableLocked(end bool) error {
	c := s.c
	if c.werr != nil {
		return c.werr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case s.sendErr != nil:
		return s.sendErr
	case s.bodyStopped:
		return errStopBody
	case c.streams[s.id] != s:
		return errStreamGone
	}
	if end {
		s.sentEnd = true
	}
	return nil
}

// sendError returns why the body writer must stop, if it must.
func (s *stream) sendError() error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case s.sendErr != nil:
		return s.sendErr
	case s.bodyStopped:
		return errStopBody
	}
	return nil
}

// takeWindow waits until both send windows are open and takes up to
// max bytes of them, within the peer's frame size.
func (s *stream) takeWindow(max int) (int, error) {
	c := s.c
	for {
		c.mu.Lock()
		switch {
		case s.sendErr != nil:
			err := s.sendErr
			c.mu.Unlock()
			return 0, err
		case s.bodyStopped:
			c.mu.Unlock()
			return 0, errStopBody
		}
		n := min(int64(max), c.outflow, s.outflow, int64(c.peerMaxFrame))
		if n > 0 {
			c.outflow -= n
			s.outflow -= n
			c.mu.Unlock()
			return int(n), nil
		}
		var connWindow chan struct{}
		if c.outflow <= 0 {
			if c.windowc == nil {
				c.windowc = make(chan struct{})
			}
			connWindow = c.windowc
		}
		c.mu.Unlock()
		select {
		case <-s.sendWake:
		case <-connWindow:
		case <-s.ctx.Done():
			return 0, s.ctx.Err()
		}
	}
}

// sendTrailers sends the request trailers, ending the stream.
func (s *stream) sendTrailers(trailer http.Header) error {
	c := s.c
	if err := checkFields(trailer, "trailer"); err != nil {
		return err
	}
	if err := s.sendError(); err != nil {
		return err
	}
	c.wmu.Lock()
	if err := s.writableLocked(true); err != nil {
		c.wmu.Unlock()
		return err
	}
	c.mu.Lock()
	maxFrame := int(c.peerMaxFrame)
	c.mu.Unlock()
	c.encodeTrailersLocked(trailer)
	c.appendHeadersLocked(s.id, true, maxFrame)
	s.wroteRequest(nil)
	c.flushLocked(context.Background())
	return nil
}

// localEnded notes that this side ended s (END_STREAM sent); the stream
// closes if the peer ended it too.
func (c *Conn) localEnded(s *stream) {
	c.mu.Lock()
	if c.streams[s.id] != s {
		c.mu.Unlock()
		return
	}
	s.mu.Lock()
	done := s.eof
	s.mu.Unlock()
	if done {
		c.removeLocked(s)
	}
	c.mu.Unlock()
	if done {
		c.idleAfterGoAway()
	}
}

// Read reads the response body. Its end, or its failure, ends the
// request on the connection.
func (s *stream) Read(p []byte) (int, error) {
	c := s.c
	s.mu.Lock()
	var err error
	for {
		if s.bodyClosed {
			s.mu.Unlock()
			return 0, ErrBodyClosed
		}
		if s.err != nil && s.errNow {
			err = s.err
			break
		}
		if s.buf.size > 0 {
			n := s.buf.read(p)
			if s.remain >= 0 {
				if int64(n) > s.remain {
					// The declared bytes go to the caller with the error,
					// as net/http does; the stream is reset.
					kept := int(s.remain)
					s.remain = 0
					s.mu.Unlock()
					c.consumed(s.id, int64(n), 0)
					err := fmt.Errorf("h2: server sent more than the declared Content-Length: %w", errBodyTooLong)
					s.cancel(http2.ErrCodeProtocol, err)
					s.end()
					return kept, c.opError("body", err)
				}
				s.remain -= int64(n)
			}
			s.unacked += int64(n)
			var grant int64
			if !s.eof && s.err == nil && s.unacked >= c.streamWindow/2 {
				grant, s.unacked = s.unacked, 0
				s.inflow += grant
			}
			s.mu.Unlock()
			c.consumed(s.id, int64(n), grant)
			return n, nil
		}
		if s.eof {
			err = io.EOF
			if s.remain > 0 {
				err = fmt.Errorf("h2: response body shorter than its Content-Length: %w", io.ErrUnexpectedEOF)
			}
			if s.trailer != nil {
				if s.resp.Trailer == nil {
					s.resp.Trailer = make(http.Header, len(s.trailer))
				}
				for k, vv := range s.trailer {
					s.resp.Trailer[k] = vv
				}
				s.trailer = nil
			}
			break
		}
		if s.err != nil {
			err = s.err
			break
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			s.cancel(http2.ErrCodeCancel, s.ctx.Err())
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	s.end()
	return 0, c.opError("body", err)
}

var errBodyTooLong = errors.New("response body too long")

// end accounts for the end of the request, once.
func (s *stream) end() {
	s.mu.Lock()
	first := !s.finished
	s.finished = true
	s.mu.Unlock()
	if first {
		s.c.finish(s)
	}
}

// consumed grants the peer credit for n body bytes read: on the stream
// (grant, when due) and on the connection (once half its window is owed).
func (c *Conn) consumed(id uint32, n, grant int64) {
	c.mu.Lock()
	c.unackedConn += n
	connGrant := int64(0)
	if c.unackedConn >= c.connWindow/2 {
		connGrant, c.unackedConn = c.unackedConn, 0
		c.inflow += connGrant
	}
	closed := c.closed
	c.mu.Unlock()
	if closed || (grant == 0 && connGrant == 0) {
		return
	}
	c.send(context.Background(), func() {
		if connGrant > 0 {
			c.appendWindowUpdateLocked(0, uint32(connGrant))
		}
		if grant > 0 {
			c.appendWindowUpdateLocked(id, uint32(grant))
		}
	})
}

// Close closes the response body, resetting the stream if the response
// had not ended or the request body is still being sent (it is closed,
// as net/http does), and ends the request on the connection.
func (s *stream) Close() error {
	c := s.c
	s.mu.Lock()
	if s.bodyClosed {
		s.mu.Unlock()
		return nil
	}
	s.bodyClosed = true
	dropped := s.buf.size
	s.buf.reset()
	open := !s.eof && s.err == nil
	s.mu.Unlock()
	if dropped > 0 {
		c.consumed(s.id, int64(dropped), 0)
	}
	c.mu.Lock()
	writing := s.writer
	if !open {
		// The response ended; the stream is still open if this side has
		// not ended it: the rest of the request body is not wanted.
		open = c.streams[s.id] == s && !s.sentEnd
	}
	c.mu.Unlock()
	if open {
		s.cancel(http2.ErrCodeCancel, ErrBodyClosed)
		if writing {
			// As with net/http, the request body is closed when Close
			// returns: the caller may reuse what fed it.
			s.closeReqBody()
		}
	}
	s.end()
	return nil
}
