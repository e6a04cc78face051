package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/protocols/internal/httperr"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// TestRefusedStream checks that a stream the server refuses is
// retryable, keeps the peer's StreamError, and leaves the connection
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
// fails with the peer's StreamError, which does not match ErrRetryable
// (the server may have processed the request) but is told apart by
// IsResetByPeerProtocolError (net/http sends such a request again on
// another connection), and stops the Conn taking new requests, as
// net/http does.
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
	if IsRetryable(err) || !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol || !IsResetByPeerProtocolError(err) {
		t.Fatalf("error %v: want a PROTOCOL_ERROR StreamError from the peer, not retryable", err)
	}
	if !c.State().GoingAway || c.Reserve() {
		t.Fatalf("State = %+v, want going away", c.State())
	}
}

// TestGoAway sends GOAWAY naming the first of two streams: the second is
// retryable and names the GOAWAY, the first completes, the Conn takes no
// new requests, and it closes once idle.
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
	var ge *GoAwayError
	if !IsRetryable(err) || !errors.As(err, &ge) || ge.LastStreamID != 1 || ge.DebugData != "bye" {
		t.Fatalf("stream above GOAWAY's last: %v, want retryable with the GOAWAY", err)
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
	// A connection that went away closes once it is idle.
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
}

// TestGoAwayThenClose: the server accepts the stream in its GOAWAY and
// then closes without answering: the request fails with the GOAWAY and
// as closed by the server (which matches io.EOF), not as retryable.
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
	var ge *GoAwayError
	if IsRetryable(err) || !errors.As(err, &ge) || ge.ErrCode != http2.ErrCodeInternal || ge.LastStreamID != 1 {
		t.Fatalf("error %v: want GoAwayError for stream 1, not retryable", err)
	}
	if !errors.Is(err, httperr.ErrServerClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("error %v: want ErrServerClosed", err)
	}
}

// TestUnusableRace starts a request while another one that closes the
// connection is in flight: the Conn refuses it before sending it, and
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
	if !IsRetryable(err) || !errors.Is(err, errGoingAway) {
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

// TestClosedBeforeResponse: the peer reads a request and closes the
// connection without a byte of response. The request was written, so it
// is not retryable; its error matches ErrServerClosed and io.EOF, as
// net/http's does.
func TestClosedBeforeResponse(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if p.handshake() {
			p.readHeaders()
		}
	})
	err := mustGetError(t, c)
	if IsRetryable(err) || !errors.Is(err, httperr.ErrServerClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("error %v: want ErrServerClosed, not retryable", err)
	}
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "roundtrip" {
		t.Fatalf("error %v is not an OpError", err)
	}
}

// TestClosedBeforeFirstRequest: the peer closes the connection after its
// SETTINGS, before any request: a request then is never written, so it
// is retryable, and says the connection is closed.
func TestClosedBeforeFirstRequest(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) { p.handshake() })
	<-c.Ready()
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
	err := mustGetError(t, c)
	if !IsRetryable(err) || !errors.Is(err, transport.ErrClosed) || errors.Is(err, httperr.ErrServerClosed) {
		t.Fatalf("error %v: want retryable ErrClosed", err)
	}
}

// TestRoundTripAfterPeerClose: the peer closes an unused connection; the
// Conn learns it and refuses requests as retryable.
func TestRoundTripAfterPeerClose(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) { p.handshake() })
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
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
	if _, err := c.RoundTrip(req); !errors.Is(err, ErrHeaderListSize) || IsRetryable(err) {
		t.Fatalf("request over the peer's header list limit: %v, want ErrHeaderListSize, not retryable", err)
	}
}

// TestHeadCutShort: the peer starts a response's HEADERS frame and closes
// the connection before the frame ends. A response had begun, so the
// request's error is io.ErrUnexpectedEOF (as a cut HTTP/1.1 head is), not
// "closed before responding"; and the same for a header block whose
// CONTINUATION never comes.
func TestHeadCutShort(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(p *rawPeer, stream uint32)
	}{
		{"mid-frame", func(p *rawPeer, stream uint32) {
			block := p.encode(":status", "200", "content-type", "text/plain")
			// A frame header announcing the whole block, then half of it.
			hdr := []byte{0, 0, byte(len(block)), byte(http2.FrameHeaders), byte(http2.FlagHeadersEndHeaders),
				byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
			p.c.Write(append(hdr, block[:len(block)/2]...))
		}},
		{"no continuation", func(p *rawPeer, stream uint32) {
			block := p.encode(":status", "200")
			p.write(func() error {
				return p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block})
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawH2C(t, Options{}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				if h := p.readHeaders(); h != nil {
					tc.cut(p, h.StreamID)
				}
			})
			err := mustGetError(t, c)
			if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, httperr.ErrServerClosed) || IsRetryable(err) {
				t.Fatalf("error %v: want io.ErrUnexpectedEOF, not closed-before-responding", err)
			}
		})
	}
}

// TestGoAwayWakesStreamWaiters: a request waiting for a stream slot (the
// peer allows one, which another request holds) fails as not processed
// as soon as GOAWAY comes, instead of waiting on a connection that takes
// no new streams; the pool then sends it on another one.
//
// It runs in a synctest bubble, so that the request is known to wait,
// and "as soon as" is before anything else happens.
func TestGoAwayWakesStreamWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		goAway := make(chan struct{})
		c := rawH2C(t, Options{}, func(p *rawPeer) {
			if !p.handshake(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}) {
				return
			}
			h := p.readHeaders()
			if h == nil {
				return
			}
			<-goAway
			p.write(func() error { return p.fr.WriteGoAway(h.StreamID, http2.ErrCodeNo, nil) })
			<-goAway
			p.respond(h.StreamID, "one")
			p.drain()
		})
		got1 := make(chan error, 1)
		go func() {
			_, _, err := get(testContext(t), c, "http://raw.test/1")
			got1 <- err
		}()
		synctest.Wait() // the first request holds the one stream
		got2 := make(chan error, 1)
		go func() {
			_, _, err := get(testContext(t), c, "http://raw.test/2")
			got2 <- err
		}()
		synctest.Wait() // the second waits for a slot
		goAway <- struct{}{}
		synctest.Wait()
		select {
		case err := <-got2:
			if !IsRetryable(err) {
				t.Errorf("waiting request: %v, want retryable", err)
			}
		default:
			t.Error("the waiting request still waits after GOAWAY")
			defer func() { <-got2 }() // the first request's end frees it
		}
		goAway <- struct{}{}
		if err := <-got1; err != nil {
			t.Fatalf("first request: %v", err)
		}
	})
}
