package h2

import "sync"

// dataBuffer holds a response body's bytes between the read loop and the
// body's reader: a list of chunks from pools of three sizes, filled to
// the end before another is taken (so that many tiny DATA frames cost no
// more memory than their bytes), and given back as soon as they are read.
// Its methods are called with the stream's lock held.
type dataBuffer struct {
	chunks []*chunk
	one    [1]*chunk // chunks' first backing array: most bodies fit one
	r      int       // read offset in chunks[0]
	w      int       // write offset in the last chunk
	size   int       // unread bytes
}

// chunk is a pooled piece of a dataBuffer.
type chunk struct {
	b    []byte
	pool *sync.Pool
}

var chunkSizes = [...]int{1 << 10, 4 << 10, 16 << 10}

var chunkPools [len(chunkSizes)]sync.Pool

func init() {
	for i, n := range chunkSizes {
		pool := &chunkPools[i]
		pool.New = func() any { return &chunk{b: make([]byte, n), pool: pool} }
	}
}

// newChunk returns a chunk for want more bytes.
func newChunk(want int) *chunk {
	for i, n := range chunkSizes {
		if want <= n || i == len(chunkSizes)-1 {
			return chunkPools[i].Get().(*chunk)
		}
	}
	panic("unreachable")
}

// write appends p; more says how many bytes are still coming in the
// same frame, to size a new chunk.
func (d *dataBuffer) write(p []byte, more int) {
	for len(p) > 0 {
		if len(d.chunks) == 0 || d.w == len(d.chunks[len(d.chunks)-1].b) {
			if d.chunks == nil {
				d.chunks = d.one[:0]
			}
			d.chunks = append(d.chunks, newChunk(len(p)+more))
			d.w = 0
		}
		last := d.chunks[len(d.chunks)-1]
		n := copy(last.b[d.w:], p)
		d.w += n
		d.size += n
		p = p[n:]
	}
}

// read copies buffered bytes into p.
func (d *dataBuffer) read(p []byte) int {
	n := 0
	for len(p) > 0 && d.size > 0 {
		first := d.chunks[0]
		end := len(first.b)
		if len(d.chunks) == 1 {
			end = d.w
		}
		m := copy(p, first.b[d.r:end])
		d.r += m
		d.size -= m
		n += m
		p = p[m:]
		if d.r == end {
			if len(d.chunks) == 1 {
				break // keep d.w consistent; freed below when empty
			}
			first.pool.Put(first)
			d.chunks[0] = nil
			d.chunks = d.chunks[1:]
			d.r = 0
		}
	}
	if d.size == 0 {
		d.reset()
	}
	return n
}

// reset drops every byte and gives the chunks back.
func (d *dataBuffer) reset() {
	for i, ch := range d.chunks {
		ch.pool.Put(ch)
		d.chunks[i] = nil
	}
	d.chunks = d.chunks[:0]
	d.r, d.w, d.size = 0, 0, 0
}
