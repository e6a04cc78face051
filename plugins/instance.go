package plugins

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/transportkit/transportkit/transport"
)

// Bounds on the host's control calls.
const (
	// controlTimeout bounds the calls a stream makes at its end (Status,
	// Release): long enough for a busy plugin, short enough that a hung
	// one cannot hang the caller for long.
	controlTimeout = time.Second
	// exitGrace is how long an ExitError waits for the process's exit
	// status and last output once the process is known to be gone.
	exitGrace = 500 * time.Millisecond
)

// instance is one running plugin: a process (or, in tests, an in-process
// server) with its control connection, its handoff channel and the
// listener its byte streams connect to.
type instance struct {
	name     string // backend name, "plugin:NAME"
	conn     *grpc.ClientConn
	broker   *plugin.GRPCBroker
	handoff  *receiver // nil when the plugin has no handoff channel
	desc     Description
	started  time.Time
	pid      int    // 0 for an in-process plugin
	path     string // the binary; empty for an in-process plugin
	realPath string // its real location
	sum      string // its hex SHA-256, as launched
	protocol int    // the protocol version negotiated

	// Set by the Open call.
	tls        bool
	streamAddr wireAddr

	// ctx is canceled when the plugin is gone (process exited or
	// stopped); exitStatus and stderr then tell why.
	ctx        context.Context
	cancel     context.CancelFunc
	exitStatus func() string // nil: unknown
	stderr     *tailWriter

	stopOnce sync.Once
	stopFn   func()

	handoffID atomic.Uint64
}

func newInstance(name string) *instance {
	ctx, cancel := context.WithCancel(context.Background())
	return &instance{name: name, ctx: ctx, cancel: cancel, started: time.Now(), stderr: &tailWriter{}, protocol: ProtocolVersion}
}

// alive reports whether the plugin still runs.
func (i *instance) alive() bool { return i.ctx.Err() == nil }

// stop ends the plugin and releases everything the instance holds. It is
// idempotent and waits until the process is gone.
func (i *instance) stop() {
	i.stopOnce.Do(func() {
		if i.stopFn != nil {
			i.stopFn()
		}
		i.cancel()
	})
}

// exitError describes the plugin's end: how the process exited and what
// it last wrote, waiting a little for them once it is gone.
func (i *instance) exitError() *ExitError {
	e := &ExitError{Plugin: i.name}
	select {
	case <-i.ctx.Done():
	case <-time.After(exitGrace):
		// The control connection broke but the process lingers: it is of
		// no use any more, so end it.
		e.Status = "control connection lost; plugin stopped"
		go i.stop()
		e.Output = i.stderr.String()
		return e
	}
	if i.exitStatus != nil {
		e.Status = i.exitStatus()
	}
	e.Output = i.stderr.String()
	return e
}

// call invokes a method of the plugin's service.
func (i *instance) call(ctx context.Context, method string, req, resp any) error {
	return invoke(ctx, i.conn, method, req, resp)
}

// callError turns the failure of a call made under ctx into the error to
// report: the context's own error when it ended, an *ExitError when the
// plugin is gone or unreachable, and err otherwise.
func (i *instance) callError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if i.alive() {
			return transport.ContextError(cerr)
		}
	}
	if !i.alive() {
		return i.exitError()
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return i.exitError()
	}
	return err
}

// controlContext is the context of a stream's end-of-life calls: bounded
// by controlTimeout and ended early when the plugin goes away.
func (i *instance) controlContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(i.ctx, controlTimeout)
}

// streamStatus asks how byte stream id ended in the plugin.
func (i *instance) streamStatus(id uint64) (*statusResponse, error) {
	ctx, cancel := i.controlContext()
	defer cancel()
	resp := new(statusResponse)
	if err := i.call(ctx, methodStatus, &streamRequest{StreamID: id}, resp); err != nil {
		return nil, i.callError(context.Background(), err)
	}
	return resp, nil
}

// release tells the plugin to close byte stream id, at once if abort
// (the host never connected it). It is best effort: nothing is sent to a
// plugin that is gone.
func (i *instance) release(id uint64, abort bool) {
	if !i.alive() {
		return
	}
	ctx, cancel := i.controlContext()
	defer cancel()
	i.call(ctx, methodRelease, &streamRequest{StreamID: id, Abort: abort}, new(emptyResponse))
}

// connect opens the raw connection of byte stream id and proves it is the
// host's with the stream's token.
func (i *instance) connect(ctx context.Context, id uint64, token []byte) (*net.UnixConn, error) {
	if len(token) != tokenLen {
		return nil, fmt.Errorf("plugins: plugin sent a %d-byte stream token", len(token))
	}
	if i.streamAddr.Network != "unix" {
		return nil, fmt.Errorf("plugins: plugin's stream listener is on %q, want unix", i.streamAddr.Network)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", i.streamAddr.Address)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("plugins: dialing unix gave a %T", c)
	}
	setSocketBuffers(uc)
	var hdr [streamHeaderLen]byte
	binary.BigEndian.PutUint64(hdr[:8], id)
	copy(hdr[8:], token)
	if _, err := uc.Write(hdr[:]); err != nil {
		uc.Close()
		return nil, err
	}
	return uc, nil
}

// drainBroker takes the broker's advertisement of listener id off the
// host's broker. go-plugin's broker only dials gRPC connections, while the
// host wants raw ones (to the address the Open call returned); consuming
// the advertisement with a dialer that refuses leaves nothing waiting on
// it.
func drainBroker(b *plugin.GRPCBroker, id uint32) error {
	cc, err := b.DialWithOptions(id, grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
		return nil, errRawOnly
	}))
	if err != nil {
		return err
	}
	return cc.Close()
}

var errRawOnly = errors.New("plugins: byte streams use raw connections, not gRPC")

// receiver takes handed-off sockets off the host's end of the handoff
// channel and gives each to the Dial waiting for its id.
type receiver struct {
	conn *net.UnixConn
	log  hclog.Logger
	done chan struct{}

	mu      sync.Mutex
	waiting map[uint64]chan handoff
}

// handoff is what a waiting Dial gets: the socket, or why it was lost.
type handoff struct {
	f   *os.File
	err error
}

func newReceiver(conn *net.UnixConn, log hclog.Logger) *receiver {
	r := &receiver{conn: conn, log: log, done: make(chan struct{}), waiting: map[uint64]chan handoff{}}
	go r.run()
	return r
}

func (r *receiver) run() {
	defer close(r.done)
	for {
		id, f, err := recvFD(r.conn)
		var (
			bad  *badHandoffError
			lost *HandoffError
		)
		switch {
		case errors.As(err, &lost):
			r.log.Warn("a handed-off socket was lost", "handoff", id, "error", err)
			r.deliver(id, handoff{err: err})
			continue
		case errors.As(err, &bad):
			r.log.Warn("plugin sent a malformed handoff message", "error", err)
			continue
		case err != nil:
			return
		}
		r.deliver(id, handoff{f: f})
	}
}

// deliver gives h to the Dial waiting for id, or closes its socket when
// there is none.
func (r *receiver) deliver(id uint64, h handoff) {
	r.mu.Lock()
	ch := r.waiting[id]
	delivered := false
	if ch != nil {
		select {
		case ch <- h:
			delivered = true
		default:
		}
	}
	r.mu.Unlock()
	if !delivered && h.f != nil {
		h.f.Close() // nobody waits for it any more
	}
}

// expect registers a Dial waiting for the socket tagged id.
func (r *receiver) expect(id uint64) <-chan handoff {
	ch := make(chan handoff, 1)
	r.mu.Lock()
	r.waiting[id] = ch
	r.mu.Unlock()
	return ch
}

// forget unregisters id, closing a socket that arrived unclaimed.
func (r *receiver) forget(id uint64) {
	r.mu.Lock()
	ch := r.waiting[id]
	delete(r.waiting, id)
	r.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case h := <-ch:
		if h.f != nil {
			h.f.Close()
		}
	default:
	}
}

// close closes the channel and waits for the receiving goroutine.
func (r *receiver) close() {
	r.conn.Close()
	<-r.done
}

// Limits of tailWriter.
const (
	tailMax  = 4 << 10
	crashMax = 16 << 10
)

// tailWriter keeps what a plugin writes to its stderr for error reports:
// the last tailMax bytes, or, once a line starts with "panic: " or "fatal
// error: ", that line and up to crashMax bytes after it.
type tailWriter struct {
	mu    sync.Mutex
	tail  []byte
	crash []byte
}

// Write never fails.
func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.crash != nil {
		room := crashMax - len(w.crash)
		w.crash = append(w.crash, p[:min(len(p), max(room, 0))]...)
		return len(p), nil
	}
	w.tail = append(w.tail, p...)
	if i := crashStart(w.tail); i >= 0 {
		w.crash = append([]byte(nil), w.tail[i:min(len(w.tail), i+crashMax)]...)
		w.tail = nil
		return len(p), nil
	}
	if len(w.tail) > tailMax {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-tailMax:]...)
	}
	return len(p), nil
}

// String returns the crash text if there was one, else the tail.
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.crash != nil {
		return string(bytes.TrimSpace(w.crash))
	}
	return string(bytes.TrimSpace(w.tail))
}

// crashStart returns where a line starting a Go crash report begins in b,
// or -1.
func crashStart(b []byte) int {
	best := -1
	for _, marker := range [][]byte{[]byte("panic: "), []byte("fatal error: ")} {
		for off := 0; ; {
			j := bytes.Index(b[off:], marker)
			if j < 0 {
				break
			}
			j += off
			if j == 0 || b[j-1] == '\n' {
				if best < 0 || j < best {
					best = j
				}
				break
			}
			off = j + 1
		}
	}
	return best
}
