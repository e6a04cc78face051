package h2

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/transportkit/transportkit/protocols/internal/gzipbody"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Request heads.
//
// A request's head is checked in full before anything is encoded (the
// HPACK encoder's state cannot be rolled back), then encoded under wmu
// together with the stream ID's assignment, as net/http does: pseudo
// headers, names in lower case, connection-specific fields dropped.

// reqHead is what checkRequest found out about a request.
type reqHead struct {
	host, method, path, scheme string
	connect                    bool   // CONNECT: no :path, no :scheme
	contentLength              int64  // -1: unknown
	trailers                   string // the Trailer field to announce
	userAgent                  string // "" sends none
	gzip                       bool   // ask for gzip and decompress the answer
	size                       uint64 // header list size, RFC 9113 section 6.5.2
}

// actualContentLength is the body length: 0 for no body, -1 unknown.
func actualContentLength(req *http.Request) int64 {
	if req.Body == nil || req.Body == http.NoBody {
		return 0
	}
	if req.ContentLength != 0 {
		return req.ContentLength
	}
	return -1
}

func invalidRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// checkRequest validates req and works out its head, without encoding
// anything.
func (c *Conn) checkRequest(req *http.Request) (reqHead, error) {
	var h reqHead
	if req.URL == nil {
		return h, invalidRequest("nil Request.URL")
	}
	if err := checkConnHeaders(req.Header); err != nil {
		return h, err
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	host, err := httpguts.PunycodeHostPort(host)
	if err != nil {
		return h, invalidRequest("host %q: %v", host, err)
	}
	if host == "" || !httpguts.ValidHostHeader(host) {
		return h, invalidRequest("invalid or missing host %q", host)
	}
	h.host = host
	h.method = req.Method
	if h.method == "" {
		h.method = http.MethodGet
	}
	if !httpguts.ValidHeaderFieldName(h.method) { // a token
		return h, invalidRequest("invalid method %q", h.method)
	}
	h.connect = h.method == http.MethodConnect
	if !h.connect {
		h.path = req.URL.RequestURI()
		if !validPseudoPath(h.path) {
			orig := h.path
			h.path = strings.TrimPrefix(h.path, req.URL.Scheme+"://"+host)
			if !validPseudoPath(h.path) {
				return h, invalidRequest("invalid :path %q", orig)
			}
		}
		h.scheme = req.URL.Scheme
		if h.scheme == "" {
			h.scheme = "http"
			if c.tlsState != nil {
				h.scheme = "https"
			}
		}
	}
	if err := checkFields(req.Header, "header"); err != nil {
		return h, err
	}
	h.contentLength = actualContentLength(req)
	if h.contentLength != 0 && len(req.Trailer) > 0 {
		if err := checkFields(req.Trailer, "trailer"); err != nil {
			return h, err
		}
		if h.trailers, err = trailerKeys(req.Trailer); err != nil {
			return h, err
		}
	}
	h.userAgent = c.userAgent
	if vv, ok := req.Header["User-Agent"]; ok {
		h.userAgent = ""
		if len(vv) > 0 {
			h.userAgent = vv[0]
		}
	}
	h.gzip = c.compress && gzipbody.Wanted(req)
	h.size = c.headerListSize(req, &h)
	return h, nil
}

// checkConnHeaders refuses connection-specific fields whose values
// HTTP/2 cannot honour; the others are dropped when encoding.
func checkConnHeaders(hdr http.Header) error {
	if vv := hdr["Upgrade"]; len(vv) > 0 && vv[0] != "" && vv[0] != "chunked" {
		return invalidRequest("Upgrade %q", vv)
	}
	if vv := hdr["Transfer-Encoding"]; len(vv) > 0 && (len(vv) > 1 || vv[0] != "" && vv[0] != "chunked") {
		return invalidRequest("Transfer-Encoding %q", vv)
	}
	if vv := hdr["Connection"]; len(vv) > 0 && (len(vv) > 1 || vv[0] != "" && !strings.EqualFold(vv[0], "close") && !strings.EqualFold(vv[0], "keep-alive")) {
		return invalidRequest("Connection %q", vv)
	}
	return nil
}

// checkFields validates the names and values of a header or trailer.
func checkFields(hdr http.Header, what string) error {
	for k, vv := range hdr {
		if !httpguts.ValidHeaderFieldName(k) {
			return invalidRequest("%s field name %q", what, k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				// The value is not quoted: it may be a secret.
				return invalidRequest("%s field %q has an invalid value", what, k)
			}
		}
	}
	return nil
}

// trailerKeys returns the sorted, comma-separated trailer keys to
// announce.
func trailerKeys(trailer http.Header) (string, error) {
	keys := make([]string, 0, len(trailer))
	for k := range trailer {
		k = http.CanonicalHeaderKey(k)
		switch k {
		case "Transfer-Encoding", "Trailer", "Content-Length":
			return "", invalidRequest("trailer key %q", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ","), nil
}

// validPseudoPath reports whether v can be a :path: it starts with '/',
// or is '*' (OPTIONS).
func validPseudoPath(v string) bool {
	return (len(v) > 0 && v[0] == '/') || v == "*"
}

// shouldSendContentLength reports whether a content-length field goes
// with a body of length n (-1: unknown), as net/http decides.
func shouldSendContentLength(method string, n int64) bool {
	if n != 0 {
		return n > 0
	}
	switch method {
	case "POST", "PUT", "PATCH":
		return true
	}
	return false
}

// fieldSize is the size of a field in the header list (RFC 9113 6.5.2).
func fieldSize(name, value string) uint64 { return uint64(len(name) + len(value) + 32) }

// headerListSize adds up the fields enumerate would send.
func (c *Conn) headerListSize(req *http.Request, h *reqHead) uint64 {
	var n uint64
	c.enumerate(req, h, func(name, value string) { n += fieldSize(name, value) })
	return n
}

// enumerate calls f with every field of the request head, pseudo headers
// first, names in lower case.
func (c *Conn) enumerate(req *http.Request, h *reqHead, f func(name, value string)) {
	f(":authority", h.host)
	f(":method", h.method)
	if !h.connect {
		f(":path", h.path)
		f(":scheme", h.scheme)
	}
	if h.trailers != "" {
		f("trailer", h.trailers)
	}
	for k, vv := range req.Header {
		switch {
		case strings.EqualFold(k, "host"), strings.EqualFold(k, "content-length"),
			strings.EqualFold(k, "connection"), strings.EqualFold(k, "proxy-connection"),
			strings.EqualFold(k, "transfer-encoding"), strings.EqualFold(k, "upgrade"),
			strings.EqualFold(k, "keep-alive"), strings.EqualFold(k, "user-agent"):
			continue // connection-specific, or sent below
		case strings.EqualFold(k, "cookie"):
			// One field per cookie, which compresses better (RFC 9113
			// section 8.2.3).
			for _, v := range vv {
				for v != "" {
					var one string
					one, v, _ = strings.Cut(v, ";")
					if one = strings.TrimSpace(one); one != "" {
						f("cookie", one)
					}
				}
			}
			continue
		case strings.EqualFold(k, "te"):
			for _, v := range vv {
				if strings.EqualFold(strings.TrimSpace(v), "trailers") {
					f("te", "trailers")
					break
				}
			}
			continue
		}
		name := lowerName(k)
		for _, v := range vv {
			f(name, v)
		}
	}
	if shouldSendContentLength(h.method, h.contentLength) {
		f("content-length", strconv.FormatInt(h.contentLength, 10))
	}
	if h.gzip {
		f("accept-encoding", gzipbody.HeaderValue)
	}
	if h.userAgent != "" {
		f("user-agent", h.userAgent)
	}
}

// encodeHeadersLocked HPACK-encodes the request head into c.hbuf,
// reporting each field to trace; wmu is held.
func (c *Conn) encodeHeadersLocked(req *http.Request, h *reqHead, trace *httptrace.ClientTrace) {
	c.hbuf = c.hbuf[:0]
	if trace != nil && trace.WroteHeaderField != nil {
		c.enumerate(req, h, func(name, value string) {
			c.henc.WriteField(hpack.HeaderField{Name: name, Value: value})
			trace.WroteHeaderField(name, []string{value})
		})
		return
	}
	c.enumerate(req, h, c.encodeField)
}

// encodeField encodes one field; wmu is held.
func (c *Conn) encodeField(name, value string) {
	c.henc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// encodeTrailersLocked HPACK-encodes trailer fields into c.hbuf.
func (c *Conn) encodeTrailersLocked(trailer http.Header) {
	c.hbuf = c.hbuf[:0]
	for k, vv := range trailer {
		name := lowerName(k)
		for _, v := range vv {
			c.henc.WriteField(hpack.HeaderField{Name: name, Value: v})
		}
	}
}

// commonLower maps the canonical form of common field names to their
// lower case, to spare an allocation per field.
var commonLower = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Authorization", "Cache-Control", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Location", "Content-Range", "Content-Type", "Cookie",
		"Date", "Etag", "Expect", "Forwarded", "From", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Max-Forwards", "Origin",
		"Pragma", "Priority", "Range", "Referer", "Traceparent", "Tracestate", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
	} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// lowerName returns name in lower case.
func lowerName(name string) string {
	if v, ok := commonLower[name]; ok {
		return v
	}
	for i := 0; i < len(name); i++ {
		if 'A' <= name[i] && name[i] <= 'Z' {
			return strings.ToLower(name)
		}
	}
	return name
}

// Response heads.
//
// The peer's header blocks are decoded here with hpack, outside the
// Framer, so that every CONTINUATION frame is counted and limited.

// headerBlock is the header block being decoded; the read loop owns it.
type headerBlock struct {
	stream     uint32 // 0: no block in progress
	endStream  bool
	fields     []hpack.HeaderField
	size       uint32 // of the fields kept
	over       bool   // the list went over Options.MaxHeaderListSize
	invalid    error  // a field HTTP/2 forbids
	sawRegular bool
	conts      int // CONTINUATION frames so far
}

var errHeaderListTooLarge = errors.New("h2: response header list larger than Options.MaxHeaderListSize")

// startHeaderBlock begins a header block with its HEADERS frame.
func (c *Conn) startHeaderBlock(f *http2.HeadersFrame) error {
	c.hb = headerBlock{stream: f.StreamID, endStream: f.StreamEnded(), fields: c.hb.fields[:0]}
	c.hdec.SetEmitEnabled(true)
	if err := c.decodeFragment(f.HeaderBlockFragment(), false); err != nil {
		return err
	}
	if f.HeadersEnded() {
		return c.endHeaderBlock()
	}
	return nil
}

// continueHeaderBlock adds a CONTINUATION frame to the block. The Framer
// has checked that it follows the block's frames on the same stream.
func (c *Conn) continueHeaderBlock(f *http2.ContinuationFrame) error {
	c.hb.conts++
	if c.hb.conts > c.maxConts {
		return floodError("header block in more than %d CONTINUATION frames", c.maxConts)
	}
	frag := f.HeaderBlockFragment()
	if len(frag) == 0 {
		if err := c.control(http2.FrameContinuation); err != nil {
			return err
		}
	}
	if err := c.decodeFragment(frag, true); err != nil {
		return err
	}
	if f.HeadersEnded() {
		return c.endHeaderBlock()
	}
	return nil
}

// decodeFragment decodes a fragment of the block. A fragment much larger
// than what the list may still hold, or any after the list went over its
// limit or held a forbidden field, closes the connection instead of
// being decoded, as net/http does.
func (c *Conn) decodeFragment(frag []byte, cont bool) error {
	hb := &c.hb
	left := uint64(0)
	if !hb.over {
		left = uint64(c.maxHeaderList - hb.size)
	}
	if uint64(len(frag)) > 4*left {
		return protocolError("header block far larger than %d bytes", c.maxHeaderList)
	}
	if cont && hb.invalid != nil {
		return protocolError("header block goes on after an invalid field: %v", hb.invalid)
	}
	if _, err := c.hdec.Write(frag); err != nil {
		return &connError{code: http2.ErrCodeCompression, detail: err.Error()}
	}
	return nil
}

// emit receives each decoded field.
func (c *Conn) emit(f hpack.HeaderField) {
	hb := &c.hb
	switch {
	case !httpguts.ValidHeaderFieldValue(f.Value):
		hb.invalid = fmt.Errorf("invalid value of field %q", f.Name)
	case strings.HasPrefix(f.Name, ":"):
		if hb.sawRegular {
			hb.invalid = fmt.Errorf("pseudo-header %q after regular fields", f.Name)
		}
	default:
		hb.sawRegular = true
		if !validWireName(f.Name) {
			hb.invalid = fmt.Errorf("invalid field name %q", f.Name)
		}
	}
	if hb.invalid != nil {
		c.hdec.SetEmitEnabled(false)
		return
	}
	size := f.Size()
	if size > c.maxHeaderList-hb.size {
		hb.over = true
		c.hdec.SetEmitEnabled(false)
		return
	}
	hb.size += size
	hb.fields = append(hb.fields, f)
}

// validWireName reports whether name is a token in lower case.
func validWireName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if 'A' <= b && b <= 'Z' || !httpguts.IsTokenRune(rune(b)) {
			return false
		}
	}
	return true
}

// endHeaderBlock hands the complete block to its stream.
func (c *Conn) endHeaderBlock() error {
	hb := &c.hb
	id := hb.stream
	hb.stream = 0
	defer func() {
		clear(hb.fields) // drop the strings
		if cap(hb.fields) > 64 {
			hb.fields = nil
		}
	}()
	if err := c.hdec.Close(); err != nil {
		return &connError{code: http2.ErrCodeCompression, detail: err.Error()}
	}
	c.mu.Lock()
	s := c.streams[id]
	c.mu.Unlock()
	if s == nil {
		// A stream this side already closed, or one never opened (the
		// block was decoded all the same, to keep HPACK in step):
		// ignored, as net/http does.
		return nil
	}
	switch {
	case hb.invalid != nil:
		c.resetStream(id, http2.ErrCodeProtocol, streamError(id, http2.ErrCodeProtocol, hb.invalid))
		return nil
	case hb.over:
		c.resetStream(id, http2.ErrCodeProtocol, streamError(id, http2.ErrCodeProtocol, errHeaderListTooLarge))
		return nil
	}
	return c.processHeaders(s, hb.fields, hb.endStream)
}

// processHeaders handles a stream's response head, 1xx head or trailers.
func (c *Conn) processHeaders(s *stream, fields []hpack.HeaderField, endStream bool) error {
	if !s.firstByte {
		s.firstByte = true
		if s.trace != nil && s.trace.GotFirstResponseByte != nil {
			s.trace.GotFirstResponseByte()
		}
	}
	s.mu.Lock()
	s.gotHead = true
	trailers := s.resp != nil
	s.mu.Unlock()
	if trailers {
		return c.processTrailers(s, fields, endStream)
	}
	status, err := responseStatus(fields)
	if err != nil {
		c.resetStream(s.id, http2.ErrCodeProtocol, streamError(s.id, http2.ErrCodeProtocol, err))
		return nil
	}
	if status < 200 {
		return c.process1xx(s, status, fields, endStream)
	}
	resp := c.newResponse(s, status, fields, endStream)
	s.mu.Lock()
	s.resp = resp
	if endStream {
		s.eof = true
	}
	s.mu.Unlock()
	if status > 299 {
		// The server answered without waiting for the request body: the
		// rest of it is not wanted, as net/http assumes.
		c.mu.Lock()
		stop := s.sendingBody
		s.bodyStopped = s.bodyStopped || stop
		c.mu.Unlock()
		if stop {
			go s.closeReqBody()
		}
	}
	s.signal()
	s.signalSend() // a body waiting for 100-continue, or to stop
	if endStream {
		c.peerEnded(s)
	}
	return nil
}

// responseStatus returns the status of a response head, which must have
// exactly one :status and no other pseudo-header.
func responseStatus(fields []hpack.HeaderField) (int, error) {
	status := ""
	for _, f := range fields {
		if !f.IsPseudo() {
			break
		}
		if f.Name != ":status" || status != "" {
			return 0, fmt.Errorf("malformed response: pseudo-header %q", f.Name)
		}
		status = f.Value
	}
	if len(status) != 3 || status[0] < '1' || status[0] > '9' {
		return 0, fmt.Errorf("malformed response: :status %q", status)
	}
	n, err := strconv.Atoi(status)
	if err != nil {
		return 0, fmt.Errorf("malformed response: :status %q", status)
	}
	return n, nil
}

// process1xx handles an informational response.
func (c *Conn) process1xx(s *stream, status int, fields []hpack.HeaderField, endStream bool) error {
	fail := func(err error) error {
		c.resetStream(s.id, http2.ErrCodeProtocol, streamError(s.id, http2.ErrCodeProtocol, err))
		return nil
	}
	if endStream {
		return fail(errors.New("1xx response with END_STREAM"))
	}
	if status == http.StatusSwitchingProtocols {
		return fail(errors.New("101 Switching Protocols is not allowed in HTTP/2"))
	}
	// Without a Got1xxResponse hook, the 1xx heads of a stream are
	// bounded by their sizes together, as net/http does (not by their
	// number); a hook sees each and bounds them itself, so the size
	// starts again, as with HTTP/1.1.
	for _, f := range fields {
		s.size1xx += uint64(f.Size())
	}
	if s.trace != nil && s.trace.Got1xxResponse != nil {
		s.size1xx = 0
		hdr := make(textproto.MIMEHeader, len(fields))
		for _, f := range fields {
			if !f.IsPseudo() {
				k := textproto.CanonicalMIMEHeaderKey(f.Name)
				hdr[k] = append(hdr[k], f.Value)
			}
		}
		if err := s.trace.Got1xxResponse(status, hdr); err != nil {
			c.resetStream(s.id, http2.ErrCodeCancel, err)
			return nil
		}
	} else if s.size1xx > uint64(c.maxHeaderList) {
		return fail(errors.New("1xx responses too large"))
	}
	if status == http.StatusContinue {
		if s.trace != nil && s.trace.Got100Continue != nil {
			s.trace.Got100Continue()
		}
		s.mu.Lock()
		s.got100 = true
		s.mu.Unlock()
		s.signal()
		s.signalSend()
	}
	return nil
}

// newResponse builds the final response of s.
func (c *Conn) newResponse(s *stream, status int, fields []hpack.HeaderField, endStream bool) *http.Response {
	n := 0
	for _, f := range fields {
		if !f.IsPseudo() {
			n++
		}
	}
	hdr := make(http.Header, n)
	strs := make([]string, n) // one backing array for single values
	var trailer http.Header
	for _, f := range fields {
		if f.IsPseudo() {
			continue
		}
		key := textproto.CanonicalMIMEHeaderKey(f.Name)
		if key == "Trailer" {
			if trailer == nil {
				trailer = make(http.Header)
			}
			for v := range strings.SplitSeq(f.Value, ",") {
				if v = textproto.TrimString(v); v != "" {
					trailer[textproto.CanonicalMIMEHeaderKey(v)] = nil
				}
			}
			continue
		}
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, f.Value)
			continue
		}
		vv := strs[:1:1]
		strs = strs[1:]
		vv[0] = f.Value
		hdr[key] = vv
	}
	resp := &http.Response{
		Status:        statusText(status),
		StatusCode:    status,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        hdr,
		Trailer:       trailer,
		ContentLength: -1,
		Request:       s.req,
		TLS:           c.tlsState,
	}
	if clens, ok := hdr["Content-Length"]; ok {
		// Repeated values are one only if they are the same (RFC 9110
		// section 8.6); an invalid one is dropped, as net/http does.
		cl, err := strconv.ParseUint(clens[0], 10, 63)
		if err != nil || slices.ContainsFunc(clens[1:], func(v string) bool { return v != clens[0] }) {
			delete(hdr, "Content-Length")
		} else {
			hdr["Content-Length"] = clens[:1]
			resp.ContentLength = int64(cl)
		}
	}
	switch {
	case s.isHead:
		resp.Body = http.NoBody
	case endStream:
		if resp.ContentLength > 0 {
			resp.Body = missingBody{}
		} else {
			resp.ContentLength = 0
			resp.Body = http.NoBody
		}
	default:
		s.remain = resp.ContentLength
		resp.Body = s
	}
	return resp
}

// statusText returns the Status line of a response.
func statusText(code int) string {
	if code == http.StatusOK {
		return "200 OK"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// missingBody is the body of a response that announced a length but
// ended with its head.
type missingBody struct{}

func (missingBody) Read([]byte) (int, error) { return 0, errMissingBody }
func (missingBody) Close() error             { return nil }

var errMissingBody = fmt.Errorf("h2: response ended with its head despite a Content-Length: %w", io.ErrUnexpectedEOF)

// processTrailers handles the header block after a final response.
func (c *Conn) processTrailers(s *stream, fields []hpack.HeaderField, endStream bool) error {
	if !endStream {
		c.resetStream(s.id, http2.ErrCodeProtocol, streamError(s.id, http2.ErrCodeProtocol, errors.New("trailers without END_STREAM")))
		return nil
	}
	t := make(http.Header, len(fields))
	for _, f := range fields {
		if f.IsPseudo() {
			c.resetStream(s.id, http2.ErrCodeProtocol, streamError(s.id, http2.ErrCodeProtocol, fmt.Errorf("pseudo-header %q in trailers", f.Name)))
			return nil
		}
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		t[k] = append(t[k], f.Value)
	}
	s.mu.Lock()
	s.trailer = t
	s.eof = true
	s.mu.Unlock()
	s.signal()
	c.peerEnded(s)
	return nil
}
