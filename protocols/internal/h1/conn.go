package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/transportkit/transportkit/protocols/internal/gzipbody"
	"github.com/transportkit/transportkit/transport"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxHeaderBytes bounds a response head when
	// Options.MaxHeaderBytes is zero: 10 MiB, net/http's Transport's
	// default (the buffer grows with the head, so only a head that large
	// costs that much).
	DefaultMaxHeaderBytes = 10 << 20

	// DefaultDrainBytes is how much of an unread response body Close reads
	// to keep the connection, when Options.DrainBytes is zero.
	DefaultDrainBytes = 16 << 10

	// DefaultUserAgent is sent when a request has no User-Agent field.
	DefaultUserAgent = "transportkit"
)

// drainWait bounds the time Close spends reading the rest of a body.
const drainWait = 50 * time.Millisecond

// bufSize is the size of the pooled read and write buffers.
const bufSize = 4 << 10

// Options configure a Conn. The zero value is ready to use.
type Options struct {
	// MaxHeaderBytes limits the size of a response head: the status line
	// and header fields of the final response and of every 1xx response
	// before it, together. If zero, DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// ResponseHeaderTimeout is how long to wait for the response head
	// once the request has been written in full. If zero, only the
	// request's context bounds the wait.
	ResponseHeaderTimeout time.Duration

	// ExpectContinueTimeout is how long to wait for a "100 Continue" after
	// writing the head of a request that carries "Expect: 100-continue"
	// and a body; the body is sent when it arrives or the time is up. If
	// zero, the body is sent at once without waiting.
	ExpectContinueTimeout time.Duration

	// DrainBytes is how much of an unread response body Body.Close may
	// read (and only what is already arriving; it never waits long) so
	// that the connection can be reused. If zero, DefaultDrainBytes; if
	// negative, Close never drains and an unfinished body always closes
	// the connection.
	DrainBytes int

	// UserAgent is sent when a request has no User-Agent field. If empty,
	// DefaultUserAgent. A request whose User-Agent field is present but
	// empty is sent without one.
	UserAgent string

	// DisableCompression, if true, stops the Conn from asking for gzip.
	// If false (compression on, as with net/http), a request with no
	// Accept-Encoding and no Range field, other than HEAD, is sent with
	// "Accept-Encoding: gzip" (req.Header is not changed), and a gzip
	// response to it is decompressed as it is read: its Content-Encoding
	// and Content-Length fields are removed, ContentLength is -1 and
	// Uncompressed is true. A corrupt gzip stream is a Read error.
	DisableCompression bool

	// DisableKeepAlives sends "Connection: close" with every request and
	// closes the connection after one exchange. If false, connections are
	// kept for reuse.
	DisableKeepAlives bool

	// OnDone, if not nil, is called once for every exchange (every
	// RoundTrip that found the connection idle) when it ends: when the
	// response body reached EOF or was closed, when the response had no
	// body, or when the exchange failed. reusable is true when the
	// connection is idle again and may carry another request; when false
	// the connection is closed (or, after a 101 that switches protocols,
	// handed to the response body). It is called on the goroutine that
	// ended the exchange and must not block.
	OnDone func(reusable bool)

	// WrapError, if not nil, is given every *Error the Conn would return,
	// from RoundTrip and from a response body's Read, and what it returns
	// is returned instead (io.EOF at a body's end is not an error and is
	// not passed). It must not return nil. A pool uses it to give its
	// callers one error shape over several protocols, with the *Error kept
	// as the cause for errors.As. If nil, the *Error is returned.
	WrapError func(*Error) error
}

// Connection states.
const (
	stateIdle int32 = iota
	stateBusy
	stateClosed
)

// Conn is an HTTP/1.1 client connection over a transport.Stream. It
// carries one exchange at a time: RoundTrip writes the request and reads
// the response head on the caller's goroutine, and the response body reads
// straight from the connection's buffer. A request body that is not small
// and in memory is written by a goroutine of the exchange, beside the
// response (see inline); otherwise a Conn starts no goroutine. While idle
// it holds no goroutine and no buffer.
//
// RoundTrip may be called again once the previous exchange has ended (see
// Options.OnDone). Close may be called at any time from any goroutine.
type Conn struct {
	s     transport.Stream
	tls   *tls.ConnectionState // kept only for a stream without ConnectionState
	state atomic.Int32

	maxHeader   int
	drain       int
	headerWait  time.Duration
	continueFor time.Duration
	userAgent   string
	oneShot     bool
	compress    bool
	stater      bool // s has ConnectionState: each response gets its own copy
	onDone      func(reusable bool)
	wrap        func(*Error) error
	cancelFn    func()

	// Per exchange; touched only by the goroutine that runs it.
	rbuf     []byte
	rpool    *[bufSize]byte // rbuf's pooled array, if it is one
	r, w     int            // unread bytes are rbuf[r:w]
	scan     int            // headEnd resume point, relative to r
	wbuf     []byte
	wpool    *[bufSize]byte
	nread    int64 // response bytes received in this exchange
	nwritten int64 // request bytes written in this exchange
	wfailed  bool  // a write to the stream failed in this exchange
	ctx      context.Context
	stop     func() bool // stops the context's AfterFunc
	sent     bool        // the request was written in full
	wbody    io.Reader   // the request body to send
	bw       *bodyWriter // the body's writer goroutine, until joined
	wlen     int64       // its length, or -1 when chunked
	wchunked bool
	probe    [1]byte
	closed   bool // the response or the request asked to close
	gzip     bool // this exchange asked for gzip
	gotFirst bool // GotFirstResponseByte was reported
	trace    *httptrace.ClientTrace

	mu        sync.Mutex // guards the fields below, shared with abort
	gen       uint64     // exchange number, bumped when one ends
	abortErr  error      // why the exchange was aborted
	reqBody   io.Closer  // request body while it is being written
	dlSet     bool       // a read deadline is set
	gotHead   bool       // the final response head has been read
	headTimed bool       // the read deadline is ResponseHeaderTimeout's

	// The Conn is padded to 384 bytes: at 352 it shares the size class
	// of a response header's map group, made with each response, and
	// long-lived Conns among those short-lived groups left spans partly
	// used (about 0.2 KB of HeapInuse per idle connection in W3;
	// docs/design/idle-memory.md, TestConnSize).
	_ [24]byte
}

var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

// NewConn returns a connection that speaks HTTP/1.1 over s, which it owns
// from now on and closes in Close.
func NewConn(s transport.Stream, opts Options) *Conn {
	c := &Conn{
		s:           s,
		maxHeader:   opts.MaxHeaderBytes,
		drain:       opts.DrainBytes,
		headerWait:  opts.ResponseHeaderTimeout,
		continueFor: opts.ExpectContinueTimeout,
		userAgent:   opts.UserAgent,
		oneShot:     opts.DisableKeepAlives,
		compress:    !opts.DisableCompression,
		onDone:      opts.OnDone,
		wrap:        opts.WrapError,
	}
	if c.maxHeader <= 0 {
		c.maxHeader = DefaultMaxHeaderBytes
	}
	if c.drain == 0 {
		c.drain = DefaultDrainBytes
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	// The TLS state is not kept by an idle connection when the stream can
	// give it again (crypto/tls keeps it anyway): each response carries a
	// copy, allocated with the response (see tlsResponse). Other streams'
	// state is copied once here.
	if _, ok := s.(connectionStater); ok {
		c.stater = true
	} else if v, ok := s.Info(transport.InfoTLS); ok {
		if cs, ok := v.(tls.ConnectionState); ok {
			c.tls = &cs
		}
	}
	return c
}

// Stream returns the stream the connection runs over.
func (c *Conn) Stream() transport.Stream { return c.s }

// Usable reports whether RoundTrip can be called now: the connection is
// idle, not closed, and nothing (data or EOF) waits to be read on it,
// which on an idle HTTP/1.1 connection means the server closed it or broke
// the protocol. It never blocks and consumes nothing.
func (c *Conn) Usable() bool {
	return c.state.Load() == stateIdle && !c.s.IsReadable() && !transport.IsClosed(c.s)
}

// Close closes the connection. An exchange in progress fails. Close is
// idempotent.
func (c *Conn) Close() error {
	c.state.Store(stateClosed)
	err := c.s.Close()
	if errors.Is(err, transport.ErrClosed) {
		err = nil
	}
	return err
}

// RoundTrip sends req and returns the response, whose Body streams from
// the connection. Any status is a response, not an error. The exchange
// ends when the body reaches EOF or is closed (at once when there is no
// body); the connection is reused only if the request was written in full,
// the body was read to its end, and neither side asked to close.
//
// RoundTrip does not modify req and always closes req.Body. It honours
// req's context until the exchange ends, body included: cancellation
// closes the connection and fails the pending call with the context's
// error. Errors are *Error values.
func (c *Conn) RoundTrip(req *http.Request) (*http.Response, error) {
	if !c.state.CompareAndSwap(stateIdle, stateBusy) {
		closeBody(req)
		err := ErrConnClosed
		if c.state.Load() == stateBusy {
			err = ErrConnBusy
		}
		return nil, c.wrapped(&Error{Op: "write", Err: err, NoResponse: true, notSent: true})
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		c.finish(true)
		return nil, c.wrapped(&Error{Op: "write", Err: transport.ContextError(err), NoResponse: true})
	}
	c.nread, c.nwritten, c.wfailed, c.sent, c.closed, c.gzip, c.gotFirst = 0, 0, false, false, false, false, false
	c.trace = httptrace.ContextClientTrace(ctx)
	if ctx.Done() != nil {
		c.ctx = ctx
		if c.cancelFn == nil {
			// Made on the first cancellable exchange and kept: a
			// connection that never sees one holds no closure.
			c.cancelFn = c.onCancel
		}
		c.stop = context.AfterFunc(ctx, c.cancelFn)
	}

	deferred, err := c.writeRequest(req)
	if err != nil {
		if c.aborted() == nil && c.s.IsReadable() {
			// The server may have answered and stopped reading; its
			// answer is worth more than our write error.
			notSent := c.notSent()
			resp, rerr := c.readResponse(req, false)
			if rerr == nil {
				return resp, nil
			}
			var e *Error
			errors.As(rerr, &e)
			return nil, c.wrapped(&Error{Op: "write", Err: err, NoResponse: e.NoResponse, notSent: notSent && e.NoResponse})
		}
		return nil, c.fail("write", err)
	}
	return c.readResponse(req, deferred)
}

// onCancel runs when the context of the current exchange is done.
func (c *Conn) onCancel() {
	c.abort(transport.ContextError(c.ctx.Err()))
}

var longAgo = time.Unix(1, 0)

// abort makes every pending and later I/O of the current exchange fail
// with err, by setting a deadline in the past, and interrupts a request
// body being read.
func (c *Conn) abort(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abortErr != nil {
		return
	}
	c.abortErr = err
	c.s.SetDeadline(longAgo)
	if c.reqBody != nil {
		c.reqBody.Close()
	}
}

// abortBeforeHead aborts the exchange with err if its response head has
// not come: a request body that failed while the server waits for it.
// Once the caller has the response, the failure only keeps the connection
// from being reused.
func (c *Conn) abortBeforeHead(err error) {
	c.mu.Lock()
	got := c.gotHead
	c.mu.Unlock()
	if !got {
		c.abort(err)
	}
}

// armHeadTimer starts the wait for the response head, bounded by
// Options.ResponseHeaderTimeout, once the request is written in full,
// unless the head has come already.
func (c *Conn) armHeadTimer() {
	if c.headerWait <= 0 {
		return
	}
	c.mu.Lock()
	if c.abortErr == nil && !c.gotHead {
		c.s.SetReadDeadline(time.Now().Add(c.headerWait))
		c.dlSet, c.headTimed = true, true
	}
	c.mu.Unlock()
}

// headDone records that the final response head has been read, and stops
// the wait that armHeadTimer started.
func (c *Conn) headDone() {
	c.mu.Lock()
	c.gotHead = true
	if c.headTimed && c.abortErr == nil {
		c.s.SetReadDeadline(time.Time{})
		c.dlSet = false
	}
	c.headTimed = false
	c.mu.Unlock()
}

// headTimedOut reports that a read deadline error came from
// ResponseHeaderTimeout.
func (c *Conn) headTimedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headTimed && c.abortErr == nil
}

// joinWriter waits up to wait for the request body's writer goroutine, if
// there is one, to finish. It reports whether no writer is left and, if
// one finished, its error. A writer still running is left to the caller
// (see finish).
func (c *Conn) joinWriter(wait time.Duration) (joined bool, werr error) {
	w := c.bw
	if w == nil {
		return true, nil
	}
	select {
	case <-w.done:
	default:
		if wait <= 0 {
			return false, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-w.done:
			t.Stop()
		case <-t.C:
			return false, nil
		}
	}
	c.bw = nil
	return true, w.err
}

// awaitLastWrite lets a body writer whose last write is under way report
// WroteRequest before the response's first byte is reported, the order
// in which the two happened on the wire (a server that answers early is
// answered in its order: the writer is not in its last write then). It
// waits drainWait at most.
func (c *Conn) awaitLastWrite() {
	w := c.bw
	if w == nil || !w.final.Load() {
		return
	}
	t := time.NewTimer(drainWait)
	select {
	case <-w.done:
	case <-t.C:
	}
	t.Stop()
}

// end ends an exchange whose response has been read in full: the
// connection is kept if keep and the request was written in full. A body
// still being written gets drainWait to end, as with net/http; after that
// the connection is closed instead.
func (c *Conn) end(keep bool) {
	joined, _ := c.joinWriter(drainWait)
	c.finish(joined && c.sent && keep)
}

// abortGen aborts exchange number gen if it is still running.
func (c *Conn) abortGen(gen uint64, err error) {
	c.mu.Lock()
	current := c.gen == gen
	c.mu.Unlock()
	if current {
		c.abort(err)
	}
}

func (c *Conn) aborted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abortErr
}

// setReadDeadline sets the read deadline unless the exchange was aborted,
// whose deadline in the past must stay.
func (c *Conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	if c.abortErr == nil {
		c.s.SetReadDeadline(t)
		c.dlSet = !t.IsZero()
	}
	c.mu.Unlock()
}

// fail ends the exchange unusable and returns the typed error for err.
func (c *Conn) fail(op string, err error) error {
	joined, werr := c.joinWriter(drainWait)
	notSent := joined && c.notSent()
	if werr != nil {
		// The body's failure came first and explains the rest.
		op, err = "write", werr
	}
	if aerr := c.aborted(); aerr != nil {
		err = aerr
		notSent = false
	}
	e := &Error{Op: op, Err: err, NoResponse: c.nread == 0, notSent: notSent && c.nread == 0}
	c.finish(false)
	return c.wrapped(e)
}

// notSent reports that the exchange's first write to the stream failed:
// no byte of the request reached the connection.
func (c *Conn) notSent() bool { return c.wfailed && c.nwritten == 0 }

// wrapped is e as the Conn returns it: through Options.WrapError.
func (c *Conn) wrapped(e *Error) error {
	if c.wrap != nil {
		return c.wrap(e)
	}
	return e
}

// finish ends the current exchange: it releases the buffers, and keeps
// the connection for another exchange when reusable and nothing spoils it,
// closing it otherwise. It then reports to OnDone.
func (c *Conn) finish(reusable bool) {
	if c.stop != nil {
		if !c.stop() {
			reusable = false // the cancellation has fired or is firing
		} else {
			c.ctx = nil
		}
		c.stop = nil
	}
	if c.bw != nil {
		// A body writer still running: the connection is closed under
		// it, and it ends on its next read or write.
		reusable = false
		c.abort(ErrConnClosed)
	}
	c.mu.Lock()
	c.gen++
	c.gotHead, c.headTimed = false, false
	if c.abortErr != nil {
		reusable = false
	}
	if reusable && c.dlSet {
		c.s.SetReadDeadline(time.Time{})
		c.dlSet = false
	}
	c.mu.Unlock()
	if c.r != c.w {
		reusable = false // bytes nobody asked for
	}
	c.releaseBuffers()
	if reusable && c.state.CompareAndSwap(stateBusy, stateIdle) {
		if c.onDone != nil {
			c.onDone(true)
		}
		return
	}
	c.Close()
	if c.onDone != nil {
		c.onDone(false)
	}
}

// detach ends the exchange handing the stream to a 101 response body.
func (c *Conn) detach() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
	c.state.Store(stateClosed)
	if c.onDone != nil {
		c.onDone(false)
	}
}

func (c *Conn) releaseBuffers() {
	if c.rpool != nil {
		bufPool.Put(c.rpool)
		c.rpool = nil
	}
	c.rbuf, c.r, c.w, c.scan = nil, 0, 0, 0
	if c.bw == nil {
		c.releaseWbuf() // a writer still running owns it
	}
}

func (c *Conn) releaseWbuf() {
	if c.wpool != nil {
		bufPool.Put(c.wpool)
		c.wpool = nil
	}
	c.wbuf = nil
}

// fill reads more bytes into rbuf[w:], compacting rbuf first when it is
// full. It returns io.ErrShortBuffer when rbuf is full of unread bytes.
func (c *Conn) fill() error {
	if c.rbuf == nil {
		c.rpool = bufPool.Get().(*[bufSize]byte)
		c.rbuf = c.rpool[:]
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.rbuf) {
		if c.r == 0 {
			return io.ErrShortBuffer
		}
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	for {
		n, err := c.s.Read(c.rbuf[c.w:])
		c.w += n
		c.nread += int64(n)
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// grow replaces rbuf with a larger one holding the same unread bytes.
func (c *Conn) grow(size int) {
	nb := make([]byte, size)
	c.w = copy(nb, c.rbuf[c.r:c.w])
	c.r = 0
	if c.rpool != nil {
		bufPool.Put(c.rpool)
		c.rpool = nil
	}
	c.rbuf = nb
}

// readErr maps an error from fill while reading a response head.
func (c *Conn) readErr(err error) error {
	if err == io.EOF {
		if c.nread == 0 {
			return ErrServerClosed
		}
		return io.ErrUnexpectedEOF
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && c.headTimedOut() {
		return ErrResponseHeaderTimeout
	}
	return err
}

// readHead reads and parses the next response head into h, charging
// its size to *budget. It returns the response the head will be given
// to, whose storage holds the head's first field values.
func (c *Conn) readHead(h *head, isHead bool, budget *int) (*response, error) {
	lineOK := false // the status line has been checked while incomplete
	for {
		if c.r < c.w {
			if !c.gotFirst && c.trace != nil && c.trace.GotFirstResponseByte != nil {
				c.gotFirst = true
				c.awaitLastWrite()
				c.trace.GotFirstResponseByte()
			}
			end := headEnd(c.rbuf[c.r:c.w], c.scan, &c.scan)
			if end >= 0 {
				if end > *budget {
					return nil, protoErr(ErrHeaderTooLarge, c.rbuf[c.r:c.r+min(end, 64)])
				}
				*budget -= end
				r := c.newResponse()
				err := h.parse(c.rbuf[c.r:c.r+end], isHead, r.vals[:], r.text[:])
				c.r += end
				c.scan = 0
				return r, err
			}
			if c.w-c.r >= *budget {
				return nil, protoErr(ErrHeaderTooLarge, c.rbuf[c.r:min(c.w, c.r+64)])
			}
			if !lineOK {
				var err error
				if lineOK, err = checkStatusLine(c.rbuf[c.r:c.w]); err != nil {
					return nil, err
				}
			}
		}
		err := c.fill()
		if err == io.ErrShortBuffer {
			c.grow(min(2*len(c.rbuf), *budget+1))
			err = c.fill()
		}
		if err != nil {
			return nil, c.readErr(err)
		}
	}
}

// readResponse reads the final response, skipping 1xx ones. A body held
// back for "100 Continue" is sent when the 100 comes, or when
// ExpectContinueTimeout passes without one (other 1xx responses do not
// end the wait), or after a final response on a connection that stays
// open, as net/http sends it; it is dropped when the connection closes.
func (c *Conn) readResponse(req *http.Request, deferred bool) (*http.Response, error) {
	isHead := req.Method == http.MethodHead
	budget := c.maxHeader
	want100 := deferred // a 100 Continue is awaited, even after the timeout
	var continueAt time.Time
	if deferred {
		continueAt = time.Now().Add(c.continueFor)
	} else if c.bw == nil {
		c.armHeadTimer()
	}
	var r *response
	var hdr head // on the stack: an idle connection holds no head
	for {
		if deferred {
			c.setReadDeadline(continueAt)
		}
		var err error
		r, err = c.readHead(&hdr, isHead, &budget)
		if deferred {
			c.setReadDeadline(time.Time{})
			if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.aborted() == nil {
				// No 100 Continue in time: send the body anyway.
				c.sendDeferred(req)
				deferred = false
				continue
			}
		}
		if err != nil {
			if deferred {
				closeBody(req)
				c.wroteRequest(nil) // as net/http: the body was not due
			}
			return nil, c.fail("read", err)
		}
		code := hdr.code
		if code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
		if code == http.StatusContinue && want100 {
			want100 = false
			if c.trace != nil && c.trace.Got100Continue != nil {
				c.trace.Got100Continue()
			}
		}
		if c.trace != nil && c.trace.Got1xxResponse != nil {
			if err := c.trace.Got1xxResponse(code, textproto.MIMEHeader(hdr.header)); err != nil {
				if deferred {
					closeBody(req)
					c.wroteRequest(nil)
				}
				return nil, c.fail("read", err)
			}
			// The caller sees each 1xx head and can bound them: the
			// limit starts again, as with net/http.
			budget = c.maxHeader
		}
		if code == http.StatusContinue && deferred {
			c.sendDeferred(req)
			deferred = false
		}
	}
	c.headDone()
	if deferred {
		if c.closed || hdr.close || hdr.code == http.StatusSwitchingProtocols {
			// A final answer without 100 Continue on a connection
			// that ends: the body is not due.
			closeBody(req)
			c.wroteRequest(nil)
			c.sent = false
		} else {
			// The connection stays open: as net/http, send the body
			// so that it can carry the next request.
			c.sendDeferred(req)
		}
	}
	return c.response(req, r, &hdr), nil
}

// respVals is how many field values of a response head are stored with the
// response (nginx sends five to eight fields), and respText how many bytes
// of its text (nginx's heads are 200 to 270 bytes); more get an allocation
// of their own. Together they fill the 704-byte size class.
const (
	respVals = 8
	respText = 336
)

// response is an http.Response, its body, its header's first values and
// the text they are cut from, in one allocation.
type response struct {
	resp http.Response
	body body
	vals [respVals]string
	text [respText]byte // written once by head.parse, then only read
}

// connectionStater is a stream over TLS that gives its connection state,
// as *tls.Conn does (and transport's TLS streams, which embed one).
type connectionStater interface {
	ConnectionState() tls.ConnectionState
}

// tlsResponse is a response over TLS and its Response.TLS in one
// allocation.
//
// It is padded to 1,024 bytes: at 888 it fell in the 896-byte size class
// of crypto/tls's long-lived objects (each TLS 1.3 connection keeps three:
// two AES-GCM states and the tls.Conn), and one short-lived response per
// new connection among them left their spans partly used, about 0.5 KB of
// HeapInuse more per idle pooled connection in W3
// (docs/design/idle-memory.md).
type tlsResponse struct {
	response
	state tls.ConnectionState
	_     [tlsResponsePad]byte
}

// tlsResponsePad makes a tlsResponse 1,024 bytes (TestResponseSizeClasses).
const tlsResponsePad = 1024 - unsafe.Sizeof(response{}) - unsafe.Sizeof(tls.ConnectionState{})

// newResponse allocates the response for the next head, with room for
// the TLS state when the stream gives it (see response).
func (c *Conn) newResponse() *response {
	if c.stater {
		tr := &tlsResponse{}
		tr.resp.TLS = &tr.state
		return &tr.response
	}
	r := &response{}
	r.resp.TLS = c.tls
	return r
}

// response fills r, made by newResponse, with the parsed head h and ends the
// exchange at once when there is no body.
func (c *Conn) response(req *http.Request, r *response, h *head) *http.Response {
	if c.stater {
		*r.resp.TLS = c.s.(connectionStater).ConnectionState()
	}
	resp := &r.resp
	resp.Status = h.status
	resp.StatusCode = h.code
	resp.Proto = h.proto
	resp.ProtoMajor, resp.ProtoMinor = h.major, h.minor
	resp.Header = h.header
	resp.ContentLength = h.contentLength
	resp.Close = h.close
	resp.Trailer = h.trailer
	resp.Request = req
	if h.chunked {
		resp.TransferEncoding = []string{"chunked"}
	}
	c.closed = c.closed || h.close

	if h.code == http.StatusSwitchingProtocols {
		if joined, _ := c.joinWriter(drainWait); !h.upgrade || !joined {
			// (A body still being written would go on over the
			// switched stream.)
			// Not a protocol switch, as for net/http: no body, and
			// the connection, whose next bytes nobody can frame, is
			// dropped.
			resp.Body = http.NoBody
			c.finish(false)
			return resp
		}
		sb := &switchBody{s: c.s, buf: c.rbuf[c.r:c.w]}
		c.rbuf, c.rpool, c.r, c.w = nil, nil, 0, 0 // sb keeps the bytes
		c.releaseBuffers()
		c.detach()
		resp.Body = sb
		return resp
	}
	if h.bodyLength == 0 {
		resp.Body = http.NoBody
		c.end(!c.closed)
		return resp
	}
	b := &r.body
	b.c = c
	b.resp = resp
	c.mu.Lock()
	b.gen = c.gen
	c.mu.Unlock()
	switch {
	case h.chunked:
		b.mode = modeChunked
	case h.bodyLength > 0:
		b.mode = modeLength
		b.remain = h.bodyLength
	default:
		b.mode = modeUntilClose
	}
	resp.Body = b
	if c.gzip {
		gzipbody.Unwrap(resp)
	}
	return resp
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
