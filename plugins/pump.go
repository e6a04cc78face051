package plugins

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/transportkit/transportkit/transport"
)

// Sizes of the byte pump.
const (
	// pumpMinBuf and pumpMaxBuf bound the buffer of each direction of a
	// byte stream: it starts small, so that idle and interactive streams
	// cost little, and doubles whenever a read fills it, so that bulk
	// transfers move in big chunks.
	pumpMinBuf = 32 << 10
	pumpMaxBuf = 1 << 20
	// rawSocketBuf is the socket buffer size asked for on both ends of a
	// raw connection (the kernel caps it at net.core.wmem_max and
	// rmem_max): more bytes in flight, fewer wakeups of either process.
	rawSocketBuf = 4 << 20
)

// pstream is a byte stream on the plugin side: the backend's stream st,
// pumped to and from the host's raw connection.
type pstream struct {
	srv    *server
	id     uint64
	token  [tokenLen]byte
	st     transport.Stream
	expire *time.Timer

	mu        sync.Mutex
	raw       net.Conn
	closed    bool
	released  bool // the host closed its side
	linger    *time.Timer
	readDone  bool
	readErr   error
	writeDone bool
	writeErr  error
}

// setRaw attaches c, once.
func (ps *pstream) setRaw(c net.Conn) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.raw != nil || ps.closed {
		return false
	}
	ps.raw = c
	return true
}

// expired drops a stream the host never connected to.
func (ps *pstream) expired() {
	ps.mu.Lock()
	attached := ps.raw != nil
	ps.mu.Unlock()
	if !attached {
		ps.close()
	}
}

// release handles the host's Close: the stream is closed once what the
// host wrote before has reached it (at most lingerTimeout later), as a
// socket's close still delivers its send buffer. The host's connection
// may still be on its way (the host connects, writes and closes before
// the plugin attaches it): then the down pump closes the stream after
// draining it, or attachTimeout does if it never comes. With abort (the
// host never connected) the stream is closed at once.
func (ps *pstream) release(abort bool) {
	ps.mu.Lock()
	ps.released = true
	now := abort || ps.writeDone
	if !now && !ps.closed && ps.raw != nil {
		ps.linger = time.AfterFunc(lingerTimeout, ps.close)
	}
	ps.mu.Unlock()
	if now {
		ps.close()
	}
}

// close closes the stream and its raw connection, and drops it from the
// server. It is idempotent.
func (ps *pstream) close() {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return
	}
	ps.closed = true
	raw := ps.raw
	if ps.linger != nil {
		ps.linger.Stop()
	}
	ps.mu.Unlock()
	s := ps.srv
	s.mu.Lock()
	if s.streams[ps.id] == ps {
		delete(s.streams, ps.id)
	}
	s.mu.Unlock()
	ps.expire.Stop()
	ps.st.Close()
	if raw != nil {
		raw.Close()
	}
}

func (ps *pstream) status() *statusResponse {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return &statusResponse{
		Known:     true,
		ReadDone:  ps.readDone,
		ReadErr:   encodeError(ps.readErr),
		WriteDone: ps.writeDone,
		WriteErr:  encodeError(ps.writeErr),
	}
}

// up copies from the backend's stream to the host until the stream ends,
// then records how it ended and half-closes the raw connection, so the
// host reads EOF and asks for the status. If the host's side is gone the
// stream is closed.
func (ps *pstream) up(raw net.Conn) {
	var buf pumpBuf
	for {
		n, err := buf.read(ps.st)
		if n > 0 {
			if _, werr := raw.Write(buf.b[:n]); werr != nil {
				ps.close()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			ps.mu.Lock()
			ps.readDone, ps.readErr = true, err
			ps.mu.Unlock()
			closeWrite(raw)
			return
		}
	}
}

// down copies from the host to the backend's stream until the host
// half-closes or closes (the stream is half-closed too, or closed when
// the host released it) or a write to the stream fails (recorded; the raw
// connection's reading side is shut, so the host's writes fail and it
// asks for the status).
func (ps *pstream) down(raw net.Conn) {
	var buf pumpBuf
	for {
		n, err := buf.read(raw)
		if n > 0 {
			if _, werr := ps.st.Write(buf.b[:n]); werr != nil {
				ps.downEnd(werr)
				closeRead(raw)
				return
			}
		}
		switch {
		case err == io.EOF:
			ps.st.CloseWrite()
			ps.downEnd(nil)
			return
		case err != nil:
			ps.close()
			return
		}
	}
}

// downEnd records the end of the host-to-stream direction, and closes
// the stream if the host already released it.
func (ps *pstream) downEnd(err error) {
	ps.mu.Lock()
	ps.writeDone, ps.writeErr = true, err
	released := ps.released
	ps.mu.Unlock()
	if released {
		ps.close()
	}
}

// pumpBuf is a pump's buffer, grown from pumpMinBuf to pumpMaxBuf by
// reads that fill it.
type pumpBuf struct {
	b    []byte
	full bool // the last read filled b
}

// read reads from r into b, which it first grows if the last read filled
// it. The bytes read are b[:n] until the next read.
func (p *pumpBuf) read(r io.Reader) (int, error) {
	switch {
	case p.b == nil:
		p.b = make([]byte, pumpMinBuf)
	case p.full && len(p.b) < pumpMaxBuf:
		p.b = make([]byte, 2*len(p.b))
	}
	n, err := r.Read(p.b)
	p.full = n == len(p.b)
	return n, err
}

// setSocketBuffers asks for rawSocketBuf-sized buffers on c, if it is a
// unix connection; it is best effort.
func setSocketBuffers(c net.Conn) {
	if uc, ok := c.(*net.UnixConn); ok {
		uc.SetReadBuffer(rawSocketBuf)
		uc.SetWriteBuffer(rawSocketBuf)
	}
}

// closeWrite and closeRead half-close c where it can be.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func closeRead(c net.Conn) {
	if cr, ok := c.(interface{ CloseRead() error }); ok {
		cr.CloseRead()
	}
}
