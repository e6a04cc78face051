package reliability

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/backends/mock"
	"github.com/transportkit/transportkit/backends/stdnet"
	"github.com/transportkit/transportkit/plugins"
	"github.com/transportkit/transportkit/protocols"
	"github.com/transportkit/transportkit/protocols/internal/prototest"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// Every request of the matrix has this deadline (its context's), and must
// end within it plus margin when the fault is a timeout, and before it
// otherwise.
const (
	deadline = time.Second
	margin   = 500 * time.Millisecond
)

// The phases a request fails in.
const (
	phaseDial = "dial" // connecting: a *transport.OpError with Op "dial"
	phaseTLS  = "tls"  // the TLS handshake: a *transport.OpError with Op "tls"
	phaseHead = "head" // RoundTrip, after the connection was made
	phaseBody = "body" // reading the body of a response RoundTrip returned
)

// want is what a cell's request must fail with.
type want struct {
	phase string
	// timeout: the error is a timeout (os.ErrDeadlineExceeded,
	// context.DeadlineExceeded and net.Error.Timeout, as the transport
	// package's contract says), after the deadline; otherwise it is none
	// and comes before the deadline.
	timeout bool
	// is: the error matches one of these (errors.Is).
	is []error
	// as, when set, must hold too; asName describes it.
	as     func(error) bool
	asName string
}

func (w want) String() string {
	var s []string
	if w.timeout {
		s = append(s, "timeout")
	}
	for _, e := range w.is {
		s = append(s, errName(e))
	}
	if w.asName != "" {
		s = append(s, w.asName)
	}
	return w.phase + ": " + strings.Join(s, " or ")
}

// fault is a row of the matrix.
type fault struct {
	id   faultID
	name string
	// tls: the HTTP/1.1 cell goes over TLS too (the fault is in TLS).
	tls  bool
	want want
	// wantTLS, if set, is the expectation of the cells over TLS.
	wantTLS *want
}

func isHostnameError(err error) bool {
	var he x509.HostnameError
	return errors.As(err, &he)
}

// isAlert reports a TLS alert from the peer: crypto/tls reports one
// received on a connection as a *net.OpError with Op "remote error"
// (tls.AlertError is for QUIC and for alerts this side sent).
func isAlert(err error) bool {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

var faults = []fault{
	{id: fRefused, name: "refused", want: want{phase: phaseDial, is: []error{syscall.ECONNREFUSED}}},
	{id: fNoConnect, name: "connect-never-completes", want: want{phase: phaseDial, timeout: true}},
	{id: fSilentTLS, name: "silent-tls", tls: true, want: want{phase: phaseTLS, timeout: true}},
	{id: fStall, name: "stall-after-request", want: want{phase: phaseHead, timeout: true}},
	{id: fResetHead, name: "reset-in-head", want: want{phase: phaseHead, is: []error{syscall.ECONNRESET}}},
	{id: fResetBody, name: "reset-mid-body", want: want{phase: phaseBody, is: []error{syscall.ECONNRESET}}},
	{id: fTruncated, name: "truncated-body", want: want{phase: phaseBody, is: []error{io.ErrUnexpectedEOF}}},
	{id: fSlowHead, name: "trickled-head", want: want{phase: phaseHead, timeout: true}},
	{id: fSlowBody, name: "trickled-body", want: want{phase: phaseBody, timeout: true}},
	{id: fTLSFailure, name: "tls-handshake-failure", tls: true, want: want{phase: phaseTLS, as: isAlert, asName: "TLS alert"}},
	{id: fWrongHost, name: "wrong-cert-host", tls: true, want: want{phase: phaseTLS, as: isHostnameError, asName: "x509.HostnameError"}},
	// HTTP/1.1 in clear text: the kernel completes the connection and
	// takes the request, and no one reads it. Over TLS (HTTP/2) the
	// handshake waits.
	{id: fNoFDs, name: "peer-out-of-fds", want: want{phase: phaseHead, timeout: true},
		wantTLS: &want{phase: phaseTLS, timeout: true}},
}

// column is a backend of the matrix.
type column struct {
	name string
	// open returns the backend the column's cells share; the mock
	// column has none (each cell makes its own).
	open func(t *testing.T, m *matrix) transport.Backend
	// na names the faults that do not apply, and why.
	na map[faultID]string
	// want replaces the expectation of some cells, by fault and wire.
	want func(id faultID, w wire, def want) want
}

// matrix holds what the cells share: the peers that stay up for the
// whole test.
type matrix struct {
	pki       *pki
	refused   string
	blackhole string
	fds       fdServer
	socks     string // a SOCKS5 proxy (microsocks), "" if not installed
	socksSkip string // why there is none
}

var columns = []column{
	{name: "stdnet", open: func(t *testing.T, _ *matrix) transport.Backend {
		b, err := stdnet.Open(transport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{name: "epoll", open: func(t *testing.T, _ *matrix) transport.Backend {
		if err := epoll.Available(); err != nil {
			t.Skipf("epoll unavailable: %v", err)
		}
		b, err := epoll.Open(transport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{name: "mock", na: map[faultID]string{
		fNoFDs: "in memory: no descriptors to run out of",
	}},
	{name: "plugin-handoff", open: openSocks5, want: socksWant},
	{name: "plugin-bytes", open: func(t *testing.T, m *matrix) transport.Backend {
		return openPlugin(t, "relbytes", &bytesPlugin, nil)
	}},
}

// openSocks5 opens the SOCKS5 example plugin, through the matrix's
// proxy.
func openSocks5(t *testing.T, m *matrix) transport.Backend {
	if m.socks == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no SOCKS5 proxy (CI must run every column): %s", m.socksSkip)
		}
		t.Skip(m.socksSkip)
	}
	cfg, err := json.Marshal(map[string]string{"proxy": m.socks})
	if err != nil {
		t.Fatal(err)
	}
	return openPlugin(t, "socks5", &socks5Plugin, cfg)
}

// socksWant: a SOCKS5 proxy relays the end of the server's connection as
// the end of its own, with a FIN: the client cannot see the server's
// reset.
func socksWant(id faultID, w wire, def want) want {
	switch id {
	case fResetHead, fResetBody:
		def.is = append(def.is, io.ErrUnexpectedEOF)
	}
	return def
}

// openPlugin opens the plugin binary at *path, once built, pinned to its
// checksum.
func openPlugin(t *testing.T, name string, path *string, cfg json.RawMessage) transport.Backend {
	t.Helper()
	needPlugins(t)
	sum, err := plugins.FileSHA256(*path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := plugins.Open(plugins.Plugin{Name: name, Path: *path, Checksum: sum}, transport.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	// Launch the plugin now, with a dial of its own, so that no cell's
	// deadline pays for the launch.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := b.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		b.Close()
		t.Fatalf("launching %s: %v", b.Name(), err)
	}
	s.Close()
	return b
}

// TestFaultMatrix sends one HTTP/1.1 and one HTTP/2 request per fault and
// backend through protocols.Transport, and checks the error's type and
// phase, the time it took, and that nothing was left behind: no
// connection in the transport, none held open at the server, and per
// backend no goroutine and no descriptor.
func TestFaultMatrix(t *testing.T) {
	p, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	m := &matrix{pki: p, refused: reservedPort(t), blackhole: blackhole(t), fds: startFDServer(t, p)}
	m.socks, m.socksSkip = startSocks(t)
	for _, col := range columns {
		t.Run(col.name, func(t *testing.T) {
			transporttest.VerifyNoLeaks(t)
			var b transport.Backend
			if col.open != nil {
				b = col.open(t, m)
				t.Cleanup(func() { b.Close() })
			}
			// The cells run side by side, each in a subtest started from
			// a goroutine of its own rather than with t.Parallel: they
			// spend their time waiting for deadlines, and -parallel
			// (GOMAXPROCS) would run them two at a time.
			var wg sync.WaitGroup
			for _, f := range faults {
				for _, h2 := range []bool{false, true} {
					w := cellWire(col, f, h2)
					wg.Go(func() {
						t.Run(f.name+"/"+w.String(), func(t *testing.T) {
							if why, ok := col.na[f.id]; ok {
								t.Skipf("N/A: %s", why)
							}
							want := f.want
							if f.wantTLS != nil && w.tls {
								want = *f.wantTLS
							}
							if col.want != nil {
								want = col.want(f.id, w, want)
							}
							m.cell(t, col, b, f, w, want)
						})
					})
				}
			}
			wg.Wait()
		})
	}
}

// cellWire is how the request of a cell travels: HTTP/1.1 in clear text
// (over TLS for the TLS faults), HTTP/2 over TLS. On the mock, HTTP/2
// resets go over h2c: its ResetAfter counts the bytes the server sent,
// which TLS records make unpredictable.
func cellWire(col column, f fault, h2 bool) wire {
	w := wire{h2: h2, tls: h2 || f.tls}
	if col.open == nil && h2 && resetOffset(f.id, w) >= 0 {
		w.tls = false
	}
	return w
}

// cell runs one request of the matrix and checks how it failed.
func (m *matrix) cell(t *testing.T, col column, b transport.Backend, f fault, w wire, want want) {
	fs := &faultServer{id: f.id, w: w, pki: m.pki, reset: rst}
	var addr string
	var serverDone func() error // reports a connection the client left open
	if b == nil {
		mb := mock.New()
		t.Cleanup(func() { mb.Close() })
		addr = "localhost:8443"
		var mf []mock.Fault
		switch f.id {
		case fRefused:
			mf = append(mf, mock.Refuse())
		case fNoConnect:
			mf = append(mf, mock.Delay(time.Hour))
		case fResetHead, fResetBody:
			mf = append(mf, mock.ResetAfter(resetOffset(f.id, w)))
			fs.reset = func(c net.Conn) { c.Close() } // the mock has reset it
		}
		mb.Handle(addr, mock.FuncPeer(fs.serve), mf...)
		b = mb
		serverDone = func() error {
			for _, c := range mb.Conns() {
				select {
				case <-c.Done():
				case <-time.After(5 * time.Second):
					return errors.New("the server's end of a connection is still open")
				}
			}
			return nil
		}
	} else {
		switch f.id {
		case fRefused:
			addr = m.refused
		case fNoConnect:
			addr = m.blackhole
		case fNoFDs:
			addr = m.fds.plain
			if w.tls {
				addr = m.fds.secure
			}
		default:
			srv := prototest.StartTCP(t, fs.serve)
			addr = srv.Addr()
			serverDone = func() error {
				if !eventually(5*time.Second, func() bool { return srv.Open() == 0 }) {
					return fmt.Errorf("%d of the server's %d connections still open", srv.Open(), srv.Served())
				}
				return nil
			}
		}
	}

	tr := &protocols.Transport{Backend: b, TLSClientConfig: m.pki.ClientConfig()}
	scheme := "http"
	switch {
	case w.tls && w.h2:
		scheme, tr.NextProtos = "https", []string{protocols.ProtoH2}
	case w.tls:
		scheme, tr.NextProtos = "https", []string{protocols.ProtoHTTP11}
	case w.h2:
		tr.H2C = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	phase := ""
	resp, err := tr.RoundTrip(req)
	if err == nil {
		if got := resp.ProtoMajor == 2; got != w.h2 {
			t.Errorf("response over %s, want %s", resp.Proto, w)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		phase = phaseBody
		if err == nil {
			t.Fatalf("status %d and the whole body, want an error (%s)", resp.StatusCode, want)
		}
	}
	elapsed := time.Since(start)
	if phase == "" {
		phase = phaseOf(err)
	}
	t.Logf("%v after %v: %v", phase, elapsed.Round(time.Millisecond), err)

	if phase != want.phase {
		t.Errorf("failed in phase %s, want %s\nerror: %v\nchain: %s", phase, want.phase, err, chain(err))
	}
	if want.timeout {
		if !isTimeout(err) {
			t.Errorf("error is not a timeout (os.ErrDeadlineExceeded, context.DeadlineExceeded, net.Error.Timeout): %v\nchain: %s", err, chain(err))
		}
		if elapsed > deadline+margin {
			t.Errorf("returned after %v, want within the %v deadline (+%v)", elapsed, deadline, margin)
		}
	} else {
		if isAnyTimeout(err) {
			t.Errorf("error is a timeout, want %s: %v\nchain: %s", want, err, chain(err))
		}
		if elapsed >= deadline {
			t.Errorf("returned after %v, want before the %v deadline", elapsed, deadline)
		}
	}
	if len(want.is) > 0 && !isAny(err, want.is) {
		t.Errorf("error matches none of %s: %v\nchain: %s", want, err, chain(err))
	}
	if want.as != nil && !want.as(err) {
		t.Errorf("error is no %s: %v\nchain: %s", want.asName, err, chain(err))
	}

	tr.Close()
	if !eventually(2*time.Second, func() bool { return tr.Stats().Open == 0 }) {
		t.Errorf("transport still holds connections after Close: %+v", tr.Stats())
	}
	if serverDone != nil {
		if err := serverDone(); err != nil {
			t.Errorf("the client left its connection open: %v", err)
		}
	}
}

// phaseOf tells the phase of a RoundTrip error by its outermost
// *transport.OpError: "dial" and "tls" are the connection's; any other
// failure comes after the connection was made.
func phaseOf(err error) string {
	var oe *transport.OpError
	if errors.As(err, &oe) {
		switch oe.Op {
		case "dial":
			return phaseDial
		case "tls":
			return phaseTLS
		}
	}
	return phaseHead
}

// isTimeout reports a timeout as package transport promises them: a
// net.Error with Timeout() true that matches os.ErrDeadlineExceeded and
// context.DeadlineExceeded.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() &&
		errors.Is(err, os.ErrDeadlineExceeded) && errors.Is(err, context.DeadlineExceeded)
}

// isAnyTimeout reports an error that looks like a timeout by any sign.
func isAnyTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func isAny(err error, targets []error) bool {
	for _, e := range targets {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// chain describes the types along err's chain, for failure messages.
func chain(err error) string {
	var parts []string
	var walk func(error, int)
	walk = func(e error, depth int) {
		if e == nil || depth > 12 {
			return
		}
		parts = append(parts, fmt.Sprintf("%T", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c, depth+1)
			}
		}
	}
	walk(err, 0)
	return strings.Join(parts, " > ")
}

func errName(e error) string {
	switch e {
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case io.ErrUnexpectedEOF:
		return "io.ErrUnexpectedEOF"
	}
	return e.Error()
}

// eventually polls cond until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
