package plugins

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/transportkit/transportkit/registry"
	"github.com/transportkit/transportkit/transport"
)

// Restart backoff: after a plugin dies (or fails to start) the next
// launch waits backoffBase, doubling with each failure in a row up to
// backoffMax. A plugin that ran for backoffReset counts as healthy again.
const (
	backoffBase  = 100 * time.Millisecond
	backoffMax   = 10 * time.Second
	backoffReset = 30 * time.Second
)

// Backend is a transport.Backend whose dialing happens in a plugin
// process. It launches the plugin on the first Dial, not before, and
// launches it again (with backoff) on the Dial after it died.
//
// Streams come back one of two ways, chosen per stream by the plugin (see
// ServeConfig.Open). A kernel socket is handed to the host and runs on the
// host's default in-process backend (the first of registry.DefaultChain
// linked in: stdnet, on Linux else epoll; or a plain net.Conn-based stream
// when neither is linked in): it costs nothing
// per byte and outlives the plugin. Any other stream is a byte stream: a
// raw unix connection to the plugin, which copies bytes between it and its
// own stream. Byte streams carry half-close, and their errors come from
// the plugin's stream; deadlines are the host's own. When the plugin dies,
// their calls fail with an *ExitError (matching transport.ErrBackendExited)
// as soon as the host notices, which is at once since the connection
// closes with the process.
//
// Info of every stream answers InfoDataPath. Closing the Backend ends the
// plugin process: handoff streams keep working, byte streams fail with an
// error matching transport.ErrBackendExited.
type Backend struct {
	name   string // "plugin:NAME"
	opts   transport.Options
	log    hclog.Logger
	launch func(ctx context.Context) (*instance, error) // ctx ends with Close

	mu        sync.Mutex
	closed    bool
	inst      *instance
	starting  *startOp
	failures  int
	notBefore time.Time
	closeCtx  context.Context // canceled by Close: aborts a launch
	closeFn   context.CancelFunc
	bg        sync.WaitGroup // launches and retirements

	inprocOnce sync.Once
	inproc     transport.Backend // nil: handed-off sockets use fileStream
}

var (
	_ transport.Backend   = (*Backend)(nil)
	_ transport.TLSDialer = (*Backend)(nil)
)

// InfoDataPath is the Info key that says how a plugin stream's bytes
// travel: DataPathHandoff or DataPathBytes (string).
const InfoDataPath transport.InfoKey = "plugin_data_path"

// Values of InfoDataPath.
const (
	// DataPathHandoff: the plugin handed the socket to the host.
	DataPathHandoff = "handoff"
	// DataPathBytes: bytes are copied through the plugin.
	DataPathBytes = "bytes"
)

// startOp is a launch in progress; err is set before done closes.
type startOp struct {
	done chan struct{}
	err  error
}

// Open returns the backend of plugin p, opened with opts. Nothing is
// launched until the first Dial; a binary that may not be started
// (see Plugin.Check) is refused now, and again at every launch. Options
// that cannot reach another process (Control, Resolver) are refused with
// an error matching transport.ErrUnsupported; opts.Config goes to the
// plugin, which checks it when it is launched. Plugin logs and stderr go
// to opts.Logger under the backend's name, plugin:NAME.
func Open(p Plugin, opts transport.Options) (*Backend, error) {
	name := registry.PluginPrefix + p.Name
	if errPlatform != nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: errPlatform}
	}
	if err := checkOptions(opts); err != nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: err}
	}
	if err := p.Check(); err != nil {
		return nil, &transport.OpError{Op: "open", Backend: name, Err: err}
	}
	b := newBackend(name, opts)
	b.launch = func(ctx context.Context) (*instance, error) {
		inst, err := launchProcess(ctx, p, name, b.log)
		if err != nil {
			return nil, err
		}
		return inst, b.openInstance(ctx, inst)
	}
	return b, nil
}

// checkOptions refuses the options that cannot cross to a plugin.
func checkOptions(opts transport.Options) error {
	switch {
	case opts.Control != nil:
		return fmt.Errorf("Options.Control cannot run in a plugin process: %w", transport.ErrUnsupported)
	case opts.Resolver != nil:
		return fmt.Errorf("Options.Resolver cannot run in a plugin process: %w", transport.ErrUnsupported)
	}
	return nil
}

func newBackend(name string, opts transport.Options) *Backend {
	b := &Backend{name: name, opts: opts, log: opts.Log()}
	b.closeCtx, b.closeFn = context.WithCancel(context.Background())
	live.add(b)
	return b
}

// Name returns "plugin:NAME".
func (b *Backend) Name() string { return b.name }

// Describe returns what the plugin says about itself, launching it if it
// does not run.
func (b *Backend) Describe(ctx context.Context) (Description, error) {
	inst, err := b.instance(ctx)
	if err != nil {
		return Description{}, &transport.OpError{Op: "describe", Backend: b.name, Err: err}
	}
	return inst.desc, nil
}

// Launch starts b's plugin process now, before the first Dial needs it,
// and returns how long the launch took (checks, process start,
// go-plugin's handshake, the plugin's Open): the time a first Dial would
// otherwise spend before connecting. It returns 0 and nil when the plugin
// already runs. A launch in progress (started by a Dial) is waited for,
// and the wait is returned. It is bounded by ctx and the plugin's start
// timeout; Options.ConnectTimeout does not apply. Errors are those of a
// launch, as *transport.OpError values with Op "launch".
func (b *Backend) Launch(ctx context.Context) (time.Duration, error) {
	b.mu.Lock()
	running := b.inst != nil && b.inst.alive()
	b.mu.Unlock()
	if running {
		return 0, nil
	}
	start := time.Now()
	if _, err := b.instance(ctx); err != nil {
		return time.Since(start), &transport.OpError{Op: "launch", Backend: b.name, Err: err}
	}
	return time.Since(start), nil
}

// Launch starts b's plugin process if b is a plugin Backend (of this
// package) that is not running yet, and returns how long that took; see
// Backend.Launch. For any other backend, it does nothing and returns 0 and
// nil. A tool that times its first Dial (transportctl probe) calls it
// first, so that the connect time it reports is the connect's own and the
// launch is reported apart.
func Launch(ctx context.Context, b transport.Backend) (time.Duration, error) {
	pb, ok := b.(*Backend)
	if !ok || pb == nil {
		return 0, nil
	}
	return pb.Launch(ctx)
}

// Dial connects to address through the plugin. The connect, the launch
// of the plugin when it is not running included, is bounded by ctx and
// Options.ConnectTimeout; a plugin that just died is relaunched after a
// backoff (100ms, doubling while it keeps dying, at most 10s), which ctx
// bounds too. Errors are *transport.OpError values whose cause is the
// plugin's error as a *RemoteError (matching what it matched, such as
// syscall.ECONNREFUSED), a launch failure (*ChecksumError,
// *PermissionError, ErrStartTimeout, *ExitError), a *HandoffError when
// the plugin handed off a socket that the host could not receive (out of
// file descriptors: it matches syscall.EMFILE), or the context's error.
func (b *Backend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	return b.dial(ctx, network, address, nil)
}

// DialTLS connects to address and completes a TLS handshake configured by
// cfg. When the plugin's backend does its own TLS (transport.TLSDialer),
// the handshake happens in the plugin with its own certificates and
// roots, and cfg contributes ServerName, NextProtos,
// InsecureSkipVerify, MinVersion and MaxVersion; a cfg that sets RootCAs,
// client certificates or verification callbacks is refused with an error
// matching transport.ErrUnsupported rather than silently ignored. The
// stream answers InfoTLS (without verified chains) and InfoALPN.
// Otherwise the plugin dials and the host runs transport.StartTLS.
func (b *Backend) DialTLS(ctx context.Context, network, address string, cfg *tls.Config) (transport.Stream, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	ctx, cancel := b.opts.ConnectContext(ctx)
	defer cancel()
	inst, err := b.instance(ctx)
	if err != nil {
		return nil, b.opError("dial", network, address, err)
	}
	if !inst.tls {
		s, err := b.dialOn(ctx, inst, network, address, nil)
		if err != nil {
			return nil, err
		}
		return transport.StartTLS(ctx, s, cfg)
	}
	w, err := toWireTLS(cfg)
	if err != nil {
		return nil, b.opError("tls", network, address, err)
	}
	return b.dialOn(ctx, inst, network, address, w)
}

func (b *Backend) dial(ctx context.Context, network, address string, w *wireTLSConfig) (transport.Stream, error) {
	ctx, cancel := b.opts.ConnectContext(ctx)
	defer cancel()
	inst, err := b.instance(ctx)
	if err != nil {
		return nil, b.opError("dial", network, address, err)
	}
	return b.dialOn(ctx, inst, network, address, w)
}

// dialOn asks inst to dial and takes the stream by the path the plugin
// chose. It reports the connect (and the plugin's TLS handshake, with w)
// to the caller's httptrace.ClientTrace, for the network and address
// asked for; the host's own socket and calls to the plugin run under a
// context without the caller's values, so they are not reported.
func (b *Backend) dialOn(ctx context.Context, inst *instance, network, address string, w *wireTLSConfig) (transport.Stream, error) {
	tr := traceDial(ctx, network, address, w != nil)
	s, resp, err := b.dialRemote(detached{ctx}, inst, network, address, w)
	tr.done(resp, err)
	if err != nil {
		return nil, b.opError("dial", network, address, err)
	}
	return s, nil
}

// dialRemote is dialOn's work: the Dial call, then the handoff or the
// byte stream's connection. resp is the plugin's answer, nil if there was
// none.
func (b *Backend) dialRemote(ctx context.Context, inst *instance, network, address string, w *wireTLSConfig) (transport.Stream, *dialResponse, error) {
	var resp *dialResponse
	fail := func(err error) (transport.Stream, *dialResponse, error) {
		return nil, resp, err
	}
	req := &dialRequest{Network: network, Address: address, TLS: w}
	var sockets <-chan handoff
	if inst.handoff != nil {
		req.HandoffID = inst.handoffID.Add(1)
		sockets = inst.handoff.expect(req.HandoffID)
		defer inst.handoff.forget(req.HandoffID)
	}
	resp = new(dialResponse)
	if err := inst.call(ctx, methodDial, req, resp); err != nil {
		resp = nil
		return fail(inst.callError(ctx, err))
	}
	if resp.Err != nil {
		return fail(resp.Err.decode())
	}
	if resp.Handoff {
		if sockets == nil {
			return fail(errors.New("plugins: plugin handed off a socket without a handoff channel"))
		}
		select {
		case h := <-sockets:
			if h.err != nil {
				return fail(h.err)
			}
			s, err := b.adopt(h.f, resp)
			if err != nil {
				return fail(err)
			}
			return s, resp, nil
		case <-ctx.Done():
			return fail(transport.ContextError(ctx.Err()))
		case <-inst.ctx.Done():
			return fail(inst.exitError())
		}
	}
	raw, err := inst.connect(ctx, resp.StreamID, resp.Token)
	if err != nil {
		inst.release(resp.StreamID, true)
		if ctx.Err() != nil {
			err = transport.ContextError(ctx.Err())
		}
		return fail(err)
	}
	s, err := newByteStream(b.name, inst, raw, resp)
	if err != nil {
		raw.Close()
		inst.release(resp.StreamID, false)
		return fail(err)
	}
	return s, resp, nil
}

func (b *Backend) opError(op, network, address string, err error) error {
	var oe *transport.OpError
	if errors.As(err, &oe) && oe.Backend == b.name {
		return err
	}
	return &transport.OpError{Op: op, Backend: b.name, Network: network, Address: address, Err: err}
}

// instance returns the running plugin, launching it when there is none.
func (b *Backend) instance(ctx context.Context) (*instance, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, transport.ContextError(err)
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, net.ErrClosed
		}
		if inst := b.inst; inst != nil {
			if inst.alive() {
				b.mu.Unlock()
				return inst, nil
			}
			b.retireLocked(inst)
		}
		op := b.starting
		if op == nil {
			op = b.startLocked()
		}
		b.mu.Unlock()
		select {
		case <-op.done:
		case <-ctx.Done():
			return nil, transport.ContextError(ctx.Err())
		}
		if op.err != nil {
			return nil, op.err
		}
	}
}

// retireLocked drops a dead instance, counts the failure and stops what is
// left of it in the background.
func (b *Backend) retireLocked(inst *instance) {
	b.inst = nil
	if time.Since(inst.started) >= backoffReset {
		b.failures = 0
	}
	b.failures++
	b.notBefore = time.Now().Add(backoff(b.failures))
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		b.log.Warn("plugin exited; it will be restarted on the next dial", "plugin", b.name, "error", inst.exitError())
		inst.stop()
	}()
}

// backoff is the wait before launch attempt n+1 after n failures.
func backoff(n int) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// startLocked launches the plugin in the background, after the backoff.
func (b *Backend) startLocked() *startOp {
	op := &startOp{done: make(chan struct{})}
	b.starting = op
	wait := time.Until(b.notBefore)
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		var (
			inst *instance
			err  error
		)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-b.closeCtx.Done():
			}
			t.Stop()
		}
		b.mu.Lock()
		closed := b.closed
		b.mu.Unlock()
		if closed {
			err = net.ErrClosed
		} else {
			inst, err = b.launch(b.closeCtx)
		}
		b.mu.Lock()
		b.starting = nil
		switch {
		case b.closed:
			err = net.ErrClosed
		case err == nil:
			b.inst = inst
			inst = nil
		default:
			b.failures++
			b.notBefore = time.Now().Add(backoff(b.failures))
			// The error is the Dial's or the Launch's: at Debug, so as
			// not to say it twice.
			b.log.Debug("plugin failed to start", "plugin", b.name, "error", err)
		}
		op.err = err
		b.mu.Unlock()
		if inst != nil {
			inst.stop()
		}
		close(op.done)
	}()
	return op
}

// openInstance completes a launch: it asks the plugin to describe itself
// and to open its backend with b's options, and takes the broker's
// advertisement of the byte-stream listener. It is bounded by
// DefaultStartTimeout and ctx, and ends early if the plugin dies. On
// failure inst is stopped.
func (b *Backend) openInstance(ctx context.Context, inst *instance) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
	defer cancel()
	defer context.AfterFunc(inst.ctx, cancel)()
	if err := inst.call(ctx, methodDescribe, &describeRequest{}, &inst.desc); err != nil {
		err = inst.callError(ctx, err)
		inst.stop()
		return err
	}
	inst.desc.Protocol, inst.desc.Path, inst.desc.RealPath, inst.desc.SHA256 = inst.protocol, inst.path, inst.realPath, inst.sum
	req := &openRequest{
		ConnectTimeout: b.opts.ConnectTimeout,
		DisableNoDelay: b.opts.DisableNoDelay,
		KeepAlive:      b.opts.KeepAlive,
		Config:         b.opts.Config,
	}
	if b.opts.LocalAddr != nil {
		a := toWireAddr(b.opts.LocalAddr)
		req.LocalAddr = &a
	}
	resp := new(openResponse)
	err := inst.call(ctx, methodOpen, req, resp)
	switch {
	case err != nil:
		err = inst.callError(ctx, err)
	case resp.Err != nil:
		err = &OpenError{Plugin: b.name, Err: resp.Err.decode()}
	default:
		inst.tls, inst.streamAddr = resp.TLS, resp.StreamAddr
		if inst.broker != nil {
			err = drainBroker(inst.broker, resp.BrokerID)
		}
	}
	if err != nil {
		inst.stop()
		return err
	}
	b.log.Debug("plugin started", "plugin", b.name, "version", inst.desc.Version, "handoff", inst.desc.Handoff, "tls", inst.tls)
	return nil
}

// adopt runs a handed-off socket on the in-process backend, or on a
// fileStream when that backend cannot adopt sockets.
func (b *Backend) adopt(f *os.File, resp *dialResponse) (transport.Stream, error) {
	var s transport.Stream
	if in := b.inprocess(); in != nil {
		dup, err := dupFile(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		s, err = transport.Adopt(in, dup)
		switch {
		case errors.Is(err, transport.ErrUnsupported):
			s = nil
		case err != nil:
			f.Close()
			return nil, err
		default:
			f.Close()
		}
	}
	if s == nil {
		var err error
		if s, err = newFileStream(f, b.name); err != nil {
			return nil, err
		}
	}
	return &handoffStream{Stream: s, backend: b.name, raddr: resp.Remote.addr()}, nil
}

// inprocess opens, once, the first backend of the registry's default
// chain that is linked in and available, to run handed-off sockets on.
func (b *Backend) inprocess() transport.Backend {
	b.inprocOnce.Do(func() {
		opts := b.opts
		opts.Config = nil
		for _, name := range registry.DefaultChain() {
			in, err := registry.Open(name, opts)
			if err == nil {
				b.inproc = in
				return
			}
			b.log.Debug("in-process backend not used for handed-off sockets", "backend", name, "error", err)
		}
	})
	return b.inproc
}

// Close ends the plugin process and makes later Dials fail with an error
// matching net.ErrClosed. Handoff streams keep working; byte streams fail
// with an error matching transport.ErrBackendExited. A launch in progress
// is aborted (its process killed) and its Dials fail with net.ErrClosed.
// A running plugin is asked to shut down and killed if it has not exited
// within a few seconds (a stopped or hung plugin included), so Close
// always returns, once the process is gone. It is idempotent and returns
// nil.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.closeFn()
	inst := b.inst
	b.inst = nil
	b.mu.Unlock()
	if inst != nil {
		inst.stop()
	}
	b.bg.Wait()
	b.inprocOnce.Do(func() {}) // no adopting after Close
	if b.inproc != nil {
		b.inproc.Close()
	}
	live.remove(b)
	return nil
}

// live is the set of Backends not yet closed, for Cleanup.
var live liveSet

type liveSet struct {
	mu sync.Mutex
	m  map[*Backend]struct{}
}

func (l *liveSet) add(b *Backend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[*Backend]struct{}{}
	}
	l.m[b] = struct{}{}
}

func (l *liveSet) remove(b *Backend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, b)
}

func (l *liveSet) all() []*Backend {
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := make([]*Backend, 0, len(l.m))
	for b := range l.m {
		bs = append(bs, b)
	}
	return bs
}

// Cleanup closes every plugin Backend not yet closed, which ends their
// processes (and the processes those started), and then has go-plugin
// kill any managed plugin client left. A program that opens plugins calls
// it before exiting, typically deferred in main; a host that dies without
// it leaves nothing behind either, since plugins end themselves when
// their host goes away.
func Cleanup() {
	var wg sync.WaitGroup
	for _, b := range live.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Close()
		}()
	}
	wg.Wait()
	plugin.CleanupClients()
}
