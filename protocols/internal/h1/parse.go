package h1

import (
	"net/http"
	"strings"
)

// This file is the response codec: it turns a complete response head into
// the fields of an http.Response and decides the body's framing, with the
// same answers as http.ReadResponse (checked by FuzzFramingDifferential)
// and a few stricter rules, each noted where it is applied.
//
// It allocates little: the head is converted to one string and every
// header key and value is a substring of it, common keys come from an
// intern table, and all values share one backing slice.

// Byte classes of RFC 9110, as bit flags in one table.
const (
	classToken = 1 << iota // tchar: may appear in a field name or method
	classValue             // field-vchar, SP or HTAB: may appear in a field value
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == '\t' || c == ' ':
			t[c] = classValue
		case c >= 0x80:
			t[c] = classValue // obs-text
		case c > 0x20 && c < 0x7f:
			t[c] = classValue
			if strings.IndexByte(`"(),/:;<=>?@[\]{}`, byte(c)) < 0 {
				t[c] |= classToken
			}
		}
	}
	return t
}()

// validToken reports whether s is a non-empty token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&classToken == 0 {
			return false
		}
	}
	return true
}

// validValue reports whether s holds only bytes allowed in a field value:
// no control bytes other than HTAB.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&classValue == 0 {
			return false
		}
	}
	return true
}

// Header fields are identified while parsing by a small number: 0 for
// an uncommon field, or the position of a common one in the switch of
// knownField, whose canonical name is interned. The first five are the
// fields framing acts on, so that it needs no map lookup for absent ones.
const (
	fieldOther = iota
	fieldContentLength
	fieldTransferEncoding
	fieldConnection
	fieldTrailer
	fieldPragma
)

// knownField returns the interned canonical name and id of the common
// field whose canonical name is k, or id fieldOther. A switch on strings
// compiles to a search on length and bytes, with no hashing.
func knownField(k string) (string, uint8) {
	switch k {
	case "Content-Length":
		return "Content-Length", 1
	case "Transfer-Encoding":
		return "Transfer-Encoding", 2
	case "Connection":
		return "Connection", 3
	case "Trailer":
		return "Trailer", 4
	case "Pragma":
		return "Pragma", 5
	case "Accept-Ranges":
		return "Accept-Ranges", 6
	case "Access-Control-Allow-Origin":
		return "Access-Control-Allow-Origin", 7
	case "Age":
		return "Age", 8
	case "Alt-Svc":
		return "Alt-Svc", 9
	case "Cache-Control":
		return "Cache-Control", 10
	case "Content-Disposition":
		return "Content-Disposition", 11
	case "Content-Encoding":
		return "Content-Encoding", 12
	case "Content-Language":
		return "Content-Language", 13
	case "Content-Location":
		return "Content-Location", 14
	case "Content-Range":
		return "Content-Range", 15
	case "Content-Security-Policy":
		return "Content-Security-Policy", 16
	case "Content-Type":
		return "Content-Type", 17
	case "Date":
		return "Date", 18
	case "Etag":
		return "Etag", 19
	case "Expires":
		return "Expires", 20
	case "Keep-Alive":
		return "Keep-Alive", 21
	case "Last-Modified":
		return "Last-Modified", 22
	case "Link":
		return "Link", 23
	case "Location":
		return "Location", 24
	case "Referrer-Policy":
		return "Referrer-Policy", 25
	case "Retry-After":
		return "Retry-After", 26
	case "Server":
		return "Server", 27
	case "Set-Cookie":
		return "Set-Cookie", 28
	case "Strict-Transport-Security":
		return "Strict-Transport-Security", 29
	case "Upgrade":
		return "Upgrade", 30
	case "Vary":
		return "Vary", 31
	case "Via":
		return "Via", 32
	case "Www-Authenticate":
		return "Www-Authenticate", 33
	case "X-Content-Type-Options":
		return "X-Content-Type-Options", 34
	case "X-Frame-Options":
		return "X-Frame-Options", 35
	case "X-Request-Id":
		return "X-Request-Id", 36
	case "X-Xss-Protection":
		return "X-Xss-Protection", 37
	}
	return "", fieldOther
}

// canonicalKey returns the canonical form of the valid field name k (as
// http.CanonicalHeaderKey would) and the field's id. It allocates only for
// an uncommon name that arrived in a non-canonical form.
func canonicalKey(k string) (string, uint8) {
	if name, id := knownField(k); id != fieldOther {
		return name, id
	}
	if isCanonical(k) {
		return k, fieldOther
	}
	var stack [64]byte
	var b []byte
	if len(k) <= len(stack) {
		b = stack[:len(k)]
	} else {
		b = make([]byte, len(k))
	}
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if name, id := knownField(string(b)); id != fieldOther {
		return name, id
	}
	return string(b), fieldOther
}

func isCanonical(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// cutLine splits s at its first LF and strips the line's CRLF or LF, as
// bufio.Reader.ReadLine does. A missing LF makes the whole of s the line.
func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// trimOWS removes leading and trailing spaces and tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// headEnd returns the length of the head at the start of b, through the
// blank line (CRLF or a bare LF) that ends it, or -1 if b holds no blank
// line yet. from is where the search may resume: a line start at or before
// the first unscanned byte; *next receives the resume point for the next
// call.
func headEnd(b []byte, from int, next *int) int {
	ls := from
	for {
		i := indexLF(b[ls:])
		if i < 0 {
			*next = ls
			return -1
		}
		if i == 0 || i == 1 && b[ls] == '\r' {
			return ls + i + 1
		}
		ls += i + 1
	}
}

func indexLF(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// fields is what parseFields noticed while filling a header map.
type fields struct {
	seen uint64 // bit 1<<id for each known field present
}

func (f fields) has(id uint8) bool { return f.seen&(1<<id) != 0 }

// countFields returns the number of field lines (continuations not
// counted) before the blank line in s.
func countFields(s string) int {
	n := 0
	for {
		var line string
		line, s = cutLine(s)
		if line == "" {
			return n
		}
		if line[0] != ' ' && line[0] != '\t' {
			n++
		}
	}
}

// parseFields parses the field lines of s, up to the blank line, into h,
// as textproto.Reader.ReadMIMEHeader would, folded lines included, and
// rejects a name with whitespace before the colon, which ReadMIMEHeader
// lets through uncanonicalized (a stricter rule: such a field is a known
// request smuggling vector).
func parseFields(s string, n int, h http.Header, rule error) (fields, error) {
	var f fields
	var vals []string
	if n > 0 {
		vals = make([]string, n)
	}
	for {
		var line string
		line, s = cutLine(s)
		if line == "" {
			return f, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// Continuations are consumed with their field, so this one
			// continues nothing.
			return f, protoErr(rule, []byte(line))
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 || !validToken(line[:colon]) || !validValue(line[colon+1:]) {
			return f, protoErr(rule, []byte(line))
		}
		value := trimOWS(line[colon+1:])
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			// obs-fold: joined with one space, as RFC 9112 section 5.2
			// asks of a user agent.
			var cont string
			cont, s = cutLine(s)
			if !validValue(cont) {
				return f, protoErr(rule, []byte(cont))
			}
			value = value + " " + trimOWS(cont)
			for value != "" && (value[0] == ' ' || value[0] == '\t') {
				value = value[1:] // as textproto: an empty first line leaves no space
			}
		}
		key, id := canonicalKey(line[:colon])
		var vv []string
		if id == fieldOther || f.has(id) {
			vv = h[key] // a known field seen for the first time is absent
		}
		f.seen |= 1 << id
		if vv != nil {
			h[key] = append(vv, value)
		} else if len(vals) > 0 {
			vals[0] = value
			h[key] = vals[:1:1]
			vals = vals[1:]
		} else {
			h[key] = []string{value}
		}
	}
}

// head is a parsed response head and the framing of the body after it.
type head struct {
	proto        string
	major, minor int
	status       string
	code         int
	header       http.Header
	trailer      http.Header // keys announced by a Trailer field, values nil
	// contentLength is the Response.ContentLength: the body's length, -1
	// if unknown, or the announced length for a response to HEAD.
	contentLength int64
	// bodyLength is the number of body bytes to read: 0 for none, -1 for
	// chunked or until close.
	bodyLength int64
	chunked    bool
	close      bool
	// upgrade: a 101 response that switches protocols, with an Upgrade
	// field and "Connection: Upgrade", as net/http requires.
	upgrade bool
}

// parse parses the complete head b (status line through the blank line).
// isHead says whether the request was HEAD.
func (h *head) parse(b []byte, isHead bool) error {
	s := string(b)
	line, rest := cutLine(s)
	if err := h.parseStatusLine(line); err != nil {
		return err
	}
	n := countFields(rest)
	h.header = make(http.Header, n)
	f, err := parseFields(rest, n, h.header, ErrInvalidHeader)
	if err != nil {
		return err
	}
	return h.frame(f, isHead)
}

// checkStatusLine checks the start b of a head that has not fully
// arrived, so that a peer that is not speaking HTTP fails the exchange at
// once rather than after a head that may never come: b must begin with
// "HTTP/" (as far as it goes), and once its first line is complete, that
// line must be a valid status line. ok reports that the line is complete
// and valid: nothing more to check.
func checkStatusLine(b []byte) (ok bool, err error) {
	const prefix = "HTTP/"
	if n := min(len(b), len(prefix)); string(b[:n]) != prefix[:n] {
		return false, protoErr(ErrBadStatusLine, b)
	}
	i := indexLF(b)
	if i < 0 {
		return false, nil
	}
	line, _ := cutLine(string(b[:i+1]))
	var h head
	if err := h.parseStatusLine(line); err != nil {
		return false, err
	}
	return true, nil
}

// parseStatusLine parses "HTTP/1.1 200 OK" as http.ReadResponse does,
// except that the status code must be three digits from 100 to 999
// (ReadResponse also takes "+99" and "000").
func (h *head) parseStatusLine(line string) error {
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return protoErr(ErrBadStatusLine, []byte(line))
	}
	for len(status) > 0 && status[0] == ' ' {
		status = status[1:]
	}
	code, _, _ := strings.Cut(status, " ")
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || !isDigit(code[1]) || !isDigit(code[2]) {
		return protoErr(ErrBadStatusLine, []byte(line))
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return protoErr(ErrBadStatusLine, []byte(line))
	}
	h.proto, h.major, h.minor = proto, major, minor
	h.status = status
	h.code = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseVersion accepts what http.ParseHTTPVersion accepts: "HTTP/x.y"
// with one digit each.
func parseVersion(v string) (major, minor int, ok bool) {
	switch v {
	case "HTTP/1.1":
		return 1, 1, true
	case "HTTP/1.0":
		return 1, 0, true
	}
	if len(v) != len("HTTP/x.y") || v[:5] != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

// bodyAllowed reports whether a response with this status may have a
// body (RFC 9112 section 6.3).
func bodyAllowed(code int) bool {
	return code >= 200 && code != 204 && code != 304
}

// frame decides the body's framing from the header fields, following RFC
// 9112 section 6.3 with the choices http.ReadResponse makes, and removes
// the fields that framing consumed, as ReadResponse does.
func (h *head) frame(f fields, isHead bool) error {
	hdr := h.header
	// HTTP/0.0 framing follows HTTP/1.1 rules, as in http.ReadResponse.
	atLeast11 := h.major > 1 || h.major == 1 && h.minor >= 1 || h.major == 0 && h.minor == 0

	// Connection: close, or HTTP/1.0 without keep-alive.
	h.close = false
	if h.major < 1 {
		h.close = true
	} else {
		var conn []string
		if f.has(fieldConnection) {
			conn = hdr["Connection"]
		}
		hasClose := containsToken(conn, "close")
		if h.major == 1 && h.minor == 0 {
			h.close = hasClose || !containsToken(conn, "keep-alive")
		} else {
			h.close = hasClose
			if hasClose {
				delete(hdr, "Connection")
			}
		}
	}
	h.upgrade = h.code == http.StatusSwitchingProtocols &&
		len(hdr["Upgrade"]) > 0 && hdr["Upgrade"][0] != "" && containsToken(hdr["Connection"], "upgrade")

	// Transfer-Encoding: only a single "chunked", and ignored before
	// HTTP/1.1.
	h.chunked = false
	if f.has(fieldTransferEncoding) {
		te := hdr["Transfer-Encoding"]
		delete(hdr, "Transfer-Encoding")
		if atLeast11 {
			if len(te) != 1 || !equalFold(te[0], "chunked") {
				return &ProtocolError{Rule: ErrUnsupportedTransferEncoding, Detail: quote([]byte(strings.Join(te, ", ")))}
			}
			h.chunked = true
		}
	}

	// Content-Length: duplicates must agree, and the value must parse
	// even where it is not used.
	cl := int64(-1)
	if f.has(fieldContentLength) {
		vals := hdr["Content-Length"]
		for _, v := range vals[1:] {
			if v != vals[0] {
				return &ProtocolError{Rule: ErrConflictingLength, Detail: quote([]byte(strings.Join(vals, ", ")))}
			}
		}
		if len(vals) > 1 {
			hdr["Content-Length"] = vals[:1:1]
		}
		n, ok := parseLength(vals[0])
		if !ok {
			return protoErr(ErrBadContentLength, []byte(vals[0]))
		}
		cl = n
	}

	switch {
	case isHead || !bodyAllowed(h.code):
		h.bodyLength = 0
	case h.chunked:
		if cl >= 0 {
			delete(hdr, "Content-Length")
		}
		h.bodyLength = -1
	default:
		h.bodyLength = cl
	}
	h.contentLength = h.bodyLength
	if isHead {
		h.contentLength = cl
	}

	// Trailer: announced keys become Response.Trailer, for chunked bodies.
	h.trailer = nil
	if h.chunked && f.has(fieldTrailer) {
		tv := hdr["Trailer"]
		delete(hdr, "Trailer")
		for _, v := range tv {
			for v != "" {
				var k string
				k, v, _ = strings.Cut(v, ",")
				k = trimOWS(k)
				if k == "" {
					continue
				}
				k = http.CanonicalHeaderKey(k)
				switch k {
				case "Transfer-Encoding", "Trailer", "Content-Length":
					return protoErr(ErrBadTrailer, []byte(k))
				}
				if h.trailer == nil {
					h.trailer = make(http.Header)
				}
				h.trailer[k] = nil
			}
		}
	}

	if h.bodyLength == -1 && !h.chunked {
		h.close = true // the body runs until the server closes
	}

	// Pragma: no-cache without Cache-Control means Cache-Control: no-cache.
	if f.has(fieldPragma) {
		if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
			if _, ok := hdr["Cache-Control"]; !ok {
				hdr["Cache-Control"] = []string{"no-cache"}
			}
		}
	}
	return nil
}

// parseLength parses a Content-Length value: decimal digits only, below
// 2^63.
func parseLength(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		d := int64(s[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false // 2^63 or more
		}
		n = n*10 + d
	}
	return n, true
}

// containsToken reports whether any comma-separated element of vals is
// token, compared without case.
func containsToken(vals []string, token string) bool {
	for _, v := range vals {
		for v != "" {
			var e string
			e, v, _ = strings.Cut(v, ",")
			if equalFold(trimOWS(e), token) {
				return true
			}
		}
	}
	return false
}

// equalFold compares ASCII strings without case.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
