package h1

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// Body framings.
const (
	modeLength     = iota + 1 // Content-Length bytes
	modeChunked               // chunked transfer coding
	modeUntilClose            // until the server closes
)

// States of the chunked decoder.
const (
	chunkLine    = iota // expecting a chunk-size line
	chunkData           // inside a chunk's data
	chunkDataEnd        // expecting the CRLF after a chunk's data
	chunkTrailer        // expecting the trailer section
)

// maxChunkLine bounds a chunk-size line, CRLF included, as net/http does.
const maxChunkLine = 4096

// maxTrailer bounds the trailer section, as net/http does.
const maxTrailer = 4096

// body is a response body read straight from the connection's buffer. Its
// exchange ends, and the connection goes back to its owner, on the Read
// that reaches EOF.
type body struct {
	mu     sync.Mutex // held by Read and Close
	c      *Conn
	resp   *http.Response
	gen    uint64 // the exchange this body belongs to
	mode   uint8
	cstate uint8
	remain int64  // modeLength: bytes still to read
	left   uint64 // modeChunked: bytes left in the current chunk
	excess int64  // modeChunked: framing bytes beyond what the data justifies
	done   bool   // the exchange has ended
	closed bool
	err    error // the failure, repeated by later Reads
}

var _ io.ReadCloser = (*body)(nil)

// Read reads body bytes. It returns io.EOF with the last bytes, and
// failures as *Error values.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, b.c.wrapped(&Error{Op: "body", Err: ErrBodyClosed})
	}
	return b.read(p)
}

func (b *body) read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if ctx := b.c.ctx; ctx != nil && ctx.Err() != nil {
		// The context ended; its AfterFunc may not have run yet, and
		// bytes already waiting on the stream would still be read.
		b.c.onCancel()
	}
	switch b.mode {
	case modeLength:
		return b.readLength(p)
	case modeChunked:
		return b.readChunked(p)
	}
	return b.readUntilClose(p)
}

// Close ends the exchange. A body not read to its end is drained when
// what is left is small and already arriving; otherwise the connection is
// closed. A Close during a Read on another goroutine interrupts that Read.
func (b *body) Close() error {
	if !b.mu.TryLock() {
		b.c.abortGen(b.gen, ErrBodyClosed)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.done || b.err != nil {
		return nil
	}
	b.drain()
	if !b.done && b.err == nil {
		b.done = true
		b.c.finish(false)
	}
	return nil
}

// drain reads what is left of the body, within the connection's drain
// budget, while bytes are at hand, and for drainWait at most.
func (b *body) drain() {
	c := b.c
	budget := c.drain
	if budget < 0 || b.mode == modeUntilClose ||
		b.mode == modeLength && b.remain-int64(c.w-c.r) > int64(budget) {
		return
	}
	c.setReadDeadline(time.Now().Add(drainWait))
	scratch := bufPool.Get().(*[bufSize]byte)
	defer bufPool.Put(scratch)
	for !b.done && b.err == nil && budget > 0 {
		if c.r == c.w && !c.s.IsReadable() {
			return
		}
		n, _ := b.read(scratch[:min(budget, bufSize)])
		budget -= n
	}
}

// end ends the exchange after the body's last byte.
func (b *body) end() {
	b.done = true
	b.c.end(!b.c.closed)
}

// failWith ends the exchange unusable and records the error.
func (b *body) failWith(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.done = true
	b.err = b.c.fail("body", err)
	return b.err
}

// next fills p from the buffer, or reads the stream straight into p when
// the buffer is empty and p is at least as large.
func (b *body) next(p []byte) (int, error) {
	c := b.c
	if c.r == c.w {
		if len(p) >= bufSize {
			n, err := c.s.Read(p)
			c.nread += int64(n)
			if n > 0 {
				return n, nil
			}
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.rbuf[c.r:c.w])
	c.r += n
	return n, nil
}

func (b *body) readLength(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.next(p)
	if err != nil {
		return n, b.failWith(err)
	}
	b.remain -= int64(n)
	if b.remain == 0 {
		b.end()
		return n, io.EOF
	}
	return n, nil
}

func (b *body) readUntilClose(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := b.next(p)
	if err == io.EOF {
		b.done = true
		b.c.finish(false)
		return n, io.EOF
	}
	if err != nil {
		return n, b.failWith(err)
	}
	return n, nil
}

// readChunked decodes the chunked coding. Once it has bytes for the
// caller it goes on only while the input it needs is buffered, so it never
// blocks holding data, and it reaches EOF in the same call when the last
// chunk and trailer are already there.
func (b *body) readChunked(p []byte) (n int, err error) {
	c := b.c
	for {
		switch b.cstate {
		case chunkLine:
			if n > 0 && indexLF(c.rbuf[c.r:c.w]) < 0 {
				return n, nil
			}
			if err := b.chunkSize(); err != nil {
				return n, b.failWith(err)
			}
		case chunkData:
			if len(p) == 0 || n > 0 && c.r == c.w {
				return n, nil
			}
			q := p
			if uint64(len(q)) > b.left {
				q = q[:b.left]
			}
			k, err := b.next(q)
			if err != nil {
				return n, b.failWith(err)
			}
			n += k
			p = p[k:]
			b.left -= uint64(k)
			if b.left == 0 {
				b.cstate = chunkDataEnd
			}
		case chunkDataEnd:
			if n > 0 && c.w-c.r < 2 {
				return n, nil
			}
			if err := b.need(2); err != nil {
				return n, b.failWith(err)
			}
			if c.rbuf[c.r] != '\r' || c.rbuf[c.r+1] != '\n' {
				return n, b.failWith(protoErr(ErrBadChunk, c.rbuf[c.r:c.r+2]))
			}
			c.r += 2
			b.cstate = chunkLine
		default: // chunkTrailer
			done, err := b.trailer(n > 0)
			if err != nil {
				return n, b.failWith(err)
			}
			if !done {
				return n, nil
			}
			b.end()
			return n, io.EOF
		}
	}
}

// need makes sure k bytes are buffered.
func (b *body) need(k int) error {
	c := b.c
	for c.w-c.r < k {
		if err := c.fill(); err != nil {
			return err
		}
	}
	return nil
}

// chunkSize reads a chunk-size line, with net/http's rules: CRLF and no
// other CR, at most maxChunkLine bytes, extensions ignored, at most 16 hex
// digits, and framing overhead bounded against data.
func (b *body) chunkSize() error {
	c := b.c
	var line []byte
	for {
		if i := indexLF(c.rbuf[c.r:c.w]); i >= 0 {
			if i+1 > maxChunkLine {
				return protoErr(ErrChunkLineTooLong, c.rbuf[c.r:c.r+64])
			}
			line = c.rbuf[c.r : c.r+i+1]
			c.r += i + 1
			break
		}
		if c.w-c.r >= maxChunkLine {
			return protoErr(ErrChunkLineTooLong, c.rbuf[c.r:c.r+64])
		}
		if err := c.fill(); err != nil {
			return err
		}
	}
	for i, ch := range line {
		if ch == '\r' && i != len(line)-2 {
			return protoErr(ErrBadChunk, line)
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return protoErr(ErrBadChunk, line) // bare LF
	}
	raw := line
	line = line[:len(line)-2]
	b.excess += int64(len(line)) + 2
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	for i, ch := range line {
		if ch == ';' {
			line = line[:i]
			break
		}
	}
	if len(line) == 0 || len(line) > 16 {
		return protoErr(ErrBadChunk, raw)
	}
	var size uint64
	for _, ch := range line {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch -= 'a' - 10
		case 'A' <= ch && ch <= 'F':
			ch -= 'A' - 10
		default:
			return protoErr(ErrBadChunk, raw)
		}
		size = size<<4 | uint64(ch)
	}
	// Up to 16 bytes of framing per chunk plus twice the data are fine;
	// beyond that, 16 KiB of excess is a sender wasting our time.
	if size < 1<<61 {
		b.excess -= 16 + 2*int64(size)
	} else {
		b.excess = 0
	}
	b.excess = max(b.excess, 0)
	if b.excess > 16<<10 {
		return protoErr(ErrBadChunk, raw)
	}
	if size == 0 {
		b.cstate = chunkTrailer
	} else {
		b.left = size
		b.cstate = chunkData
	}
	return nil
}

// trailer reads the trailer section after the last chunk into the
// response's Trailer. With noWait it gives up (done false) rather than
// wait for bytes. The section must end in CRLF CRLF within maxTrailer
// bytes, as net/http requires.
func (b *body) trailer(noWait bool) (done bool, err error) {
	c := b.c
	scan := 0
	for {
		avail := c.rbuf[c.r:c.w]
		if end := headEnd(avail, scan, &scan); end >= 0 {
			if end == 2 && avail[0] == '\r' {
				c.r += 2
				return true, nil
			}
			if end > maxTrailer || end < 4 || string(avail[end-4:end]) != "\r\n\r\n" {
				return false, protoErr(ErrBadTrailer, avail[:min(end, 64)])
			}
			t := make(http.Header)
			block := string(avail[:end])
			if _, err := parseFields(block, countFields(block), t, ErrBadTrailer, nil); err != nil {
				return false, err
			}
			c.r += end
			if b.resp.Trailer == nil {
				b.resp.Trailer = t
			} else {
				for k, v := range t {
					b.resp.Trailer[k] = v
				}
			}
			return true, nil
		}
		if len(avail) >= maxTrailer {
			return false, protoErr(ErrBadTrailer, avail[:64])
		}
		if noWait {
			return false, nil
		}
		if err := c.fill(); err != nil {
			return false, err
		}
	}
}

// switchBody is the body of a 101 Switching Protocols response: the
// connection itself, readable and writable, starting with the bytes that
// arrived after the head.
type switchBody struct {
	s   transport.Stream
	buf []byte
}

var _ io.ReadWriteCloser = (*switchBody)(nil)

func (sb *switchBody) Read(p []byte) (int, error) {
	if len(sb.buf) > 0 {
		n := copy(p, sb.buf)
		sb.buf = sb.buf[n:]
		return n, nil
	}
	return sb.s.Read(p)
}

func (sb *switchBody) Write(p []byte) (int, error) { return sb.s.Write(p) }

func (sb *switchBody) Close() error { return sb.s.Close() }
