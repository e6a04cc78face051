//lint:file-ignore SA1019 x/net/http2 is the HTTP/2 engine we chose (see doc.go); its deprecation points at net/http APIs that cannot run over a Stream we dialed.

package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// TestRefusedStream checks that a stream the server refuses is
// retryable, keeps the engine's StreamError, and leaves the connection
// usable.
func TestRefusedStream(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		if h := p.readHeaders(); h != nil {
			p.write(func() error { return p.fr.WriteRSTStream(h.StreamID, http2.ErrCodeRefusedStream) })
		}
		if h := p.readHeaders(); h != nil {
			p.respond(h.StreamID, "second")
		}
		p.drain()
	})
	err := mustGetError(t, c)
	var se http2.StreamError
	if !IsRetryable(err) || !errors.As(err, &se) || se.Code != http2.ErrCodeRefusedStream {
		t.Fatalf("error %v: want a retryable REFUSED_STREAM StreamError", err)
	}
	if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "second" {
		t.Fatalf("next request: %q, %v", body, err)
	}
}

// TestResetProtocolError checks that a stream reset with PROTOCOL_ERROR
// fails without retry and stops the Conn taking new requests, as the
// engine does.
func TestResetProtocolError(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		if h := p.readHeaders(); h != nil {
			p.write(func() error { return p.fr.WriteRSTStream(h.StreamID, http2.ErrCodeProtocol) })
		}
		p.drain()
	})
	err := mustGetError(t, c)
	var se http2.StreamError
	if IsRetryable(err) || !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol {
		t.Fatalf("error %v: want a PROTOCOL_ERROR StreamError, not retryable", err)
	}
	if !c.State().GoingAway || c.Reserve() {
		t.Fatalf("State = %+v, want going away", c.State())
	}
}

// TestGoAway sends GOAWAY naming the first of two streams: the second is
// retryable, the first completes, and the Conn takes no new requests.
// Then the server closes: a stream it had accepted fails with the
// engine's GoAwayError, which is not retryable.
func TestGoAway(t *testing.T) {
	first := make(chan struct{})
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h1 := p.readHeaders()
		if h1 == nil {
			return
		}
		close(first)
		h3 := p.readHeaders()
		if h3 == nil {
			return
		}
		p.write(func() error { return p.fr.WriteGoAway(h1.StreamID, http2.ErrCodeNo, []byte("bye")) })
		// The client is told about stream 3 before stream 1 completes.
		p.respond(h1.StreamID, "one")
		p.drain()
	})
	got1 := make(chan error, 1)
	go func() {
		body, _, err := get(testContext(t), c, "http://raw.test/1")
		if err == nil && body != "one" {
			err = fmt.Errorf("got %q", body)
		}
		got1 <- err
	}()
	<-first
	_, _, err := get(testContext(t), c, "http://raw.test/3")
	if !IsRetryable(err) || !errors.Is(err, errEngineGotGoAway) {
		t.Fatalf("stream above GOAWAY's last: %v, want retryable", err)
	}
	if err := <-got1; err != nil {
		t.Fatalf("stream GOAWAY accepted: %v", err)
	}
	st := c.State()
	if !st.GoingAway || c.Reserve() {
		t.Fatalf("State after GOAWAY = %+v", st)
	}
	if _, _, err := get(testContext(t), c, "http://raw.test/"); !IsRetryable(err) || !errors.Is(err, errGoingAway) && !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("request after GOAWAY: %v, want retryable", err)
	}
	// The engine closes a connection that went away once it is idle.
	waitFor(t, func() bool { return c.State().Closed })
}

// TestGoAwayThenClose: the server accepts the stream in its GOAWAY and
// then closes without answering.
func TestGoAwayThenClose(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		if h := p.readHeaders(); h != nil {
			p.write(func() error { return p.fr.WriteGoAway(h.StreamID, http2.ErrCodeInternal, nil) })
		}
	})
	err := mustGetError(t, c)
	var ge http2.GoAwayError
	if IsRetryable(err) || !errors.As(err, &ge) || ge.ErrCode != http2.ErrCodeInternal || ge.LastStreamID != 1 {
		t.Fatalf("error %v: want GoAwayError for stream 1, not retryable", err)
	}
}

// TestUnusableRace starts a request while another one that closes the
// connection is in flight: the engine refuses it before sending it, and
// the error is retryable.
func TestUnusableRace(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	c := mockH2C(t, h, 0, Options{})
	got := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h2c.test/", nil)
		req.Close = true
		resp, err := c.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	<-started
	_, _, err := get(testContext(t), c, "http://h2c.test/")
	if !IsRetryable(err) || !errors.Is(err, errEngineUnusable) {
		t.Fatalf("request on a closing connection: %v, want retryable", err)
	}
	if !c.State().GoingAway {
		t.Fatal("Conn not going away")
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestEngineSentinels pins the engine's unexported errors that errors.go
// reads, on the engine alone.
func TestEngineSentinels(t *testing.T) {
	for _, err := range []error{errEngineGotGoAway, errEngineUnusable, errEngineNotEstablished} {
		if err == nil || !notProcessed(err) {
			t.Fatalf("engine sentinel %v not linked", err)
		}
	}
	// A connection closed before its first request.
	client, server := net.Pipe()
	go io.Copy(io.Discard, server)
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(client)
	if err != nil {
		t.Fatal(err)
	}
	server.Close()
	deadline := time.Now().Add(testTimeout)
	for !cc.State().Closed && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://pipe/", nil)
	if _, err := cc.RoundTrip(req); err != errEngineNotEstablished {
		t.Fatalf("RoundTrip on a connection closed before use: %v", err)
	}
	cc.Close()
	if IsRetryable(errEngineNotEstablished) || !notProcessed(errEngineNotEstablished) {
		t.Fatal("classification of the engine's error")
	}
}

// TestRoundTripAfterEngineClose: the peer closes an unused connection; the
// Conn learns it and refuses requests as retryable.
func TestRoundTripAfterEngineClose(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) { p.handshake() })
	waitFor(t, func() bool { return c.State().Closed })
	err := mustGetError(t, c)
	if !IsRetryable(err) || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("GET after the peer closed: %v", err)
	}
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "roundtrip" {
		t.Fatalf("error %v is not an OpError", err)
	}
	if c.Reserve() {
		t.Fatal("Reserve on a closed Conn")
	}
	if err := c.Ping(context.Background()); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Ping: %v", err)
	}
}

// TestPeerSettingsHonoured checks that the peer's SETTINGS_INITIAL_WINDOW_SIZE
// bounds what the client sends before a WINDOW_UPDATE, and that a request
// whose header list is over the peer's SETTINGS_MAX_HEADER_LIST_SIZE is
// refused before it is sent.
func TestPeerSettingsHonoured(t *testing.T) {
	const window = 100
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 1000}) {
			return
		}
		// A first request, so that the client has our SETTINGS (before
		// them it may assume the default window of 65535).
		h := p.readHeaders()
		if h == nil || p.respond(h.StreamID, "") != nil {
			return
		}
		if h = p.readHeaders(); h == nil {
			return
		}
		received, granted := 0, window
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				return
			}
			d, ok := f.(*http2.DataFrame)
			if !ok {
				continue
			}
			received += len(d.Data())
			if received > granted {
				p.t.Errorf("peer: client sent %d bytes with a window of %d", received, granted)
				return
			}
			if d.StreamEnded() {
				break
			}
			if received == granted {
				granted += window
				p.write(func() error {
					if err := p.fr.WriteWindowUpdate(0, window); err != nil {
						return err
					}
					return p.fr.WriteWindowUpdate(h.StreamID, window)
				})
			}
		}
		p.respond(h.StreamID, fmt.Sprint(received))
		p.drain()
	})
	if _, _, err := get(testContext(t), c, "http://raw.test/"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", io.LimitReader(zeros{}, 1000))
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "1000" {
		t.Fatalf("peer received %q (%v), want 1000 bytes", body, err)
	}

	req, _ = http.NewRequestWithContext(testContext(t), "GET", "http://raw.test/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2000))
	if _, err := c.RoundTrip(req); err == nil || IsRetryable(err) {
		t.Fatalf("request over the peer's header list limit: %v, want a non-retryable error", err)
	} else {
		t.Logf("over the limit: %v", err)
	}
}
