package h2

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

// uploadPeer returns a Conn whose peer reads a request's head and first
// DATA frame (the client's body writer is then waiting for more of its
// body), then runs respond, then drains the connection.
func uploadPeer(t *testing.T, respond func(p *rawPeer, stream uint32)) *Conn {
	return rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil || !p.skipToData() {
			return
		}
		respond(p, h.StreamID)
		p.drain()
	})
}

// postStreaming starts a POST on c whose body is a pipe the caller still
// holds after a first piece: the body writer waits on it.
func postStreaming(t *testing.T, c *Conn) (*http.Response, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go pw.Write([]byte("first part"))
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", pr)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	return resp, pw
}

// TestResponseKeptWhenUploadStops: a complete response that stops the
// request body being sent (an error status, or RST_STREAM(NO_ERROR)
// after the response, RFC 9113 section 8.1) keeps its body. The
// transport closes the request body itself, and the body writer's read
// failing then is no failure of the request; net/http too returns the
// whole response.
//
// It runs in a synctest bubble, so that the body writer has seen its
// body closed before the response body is read.
func TestResponseKeptWhenUploadStops(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		respond func(p *rawPeer, stream uint32)
	}{
		{"ErrorStatus", 413, func(p *rawPeer, s uint32) {
			p.respondFields(s, "too large", ":status", "413")
		}},
		{"ResetNoError", 200, func(p *rawPeer, s uint32) {
			p.respondFields(s, "ok", ":status", "200")
			p.write(func() error { return p.fr.WriteRSTStream(s, http2.ErrCodeNo) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := uploadPeer(t, tc.respond)
				resp, _ := postStreaming(t, c)
				synctest.Wait() // the response is in; the body writer has ended
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := map[int]string{413: "too large", 200: "ok"}[tc.status]
				if resp.StatusCode != tc.status || err != nil || string(b) != want {
					t.Fatalf("%d %q %v; want %d %q", resp.StatusCode, b, err, tc.status, want)
				}
			})
		})
	}
}

// TestStrayDataAfterResponseKeepsIt: DATA after a response's END_STREAM,
// while the request body is still being sent (the stream is still open
// on this side), resets the stream, but the response, complete, keeps its
// body, as with net/http.
func TestStrayDataAfterResponseKeepsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := uploadPeer(t, func(p *rawPeer, s uint32) {
			p.respondFields(s, "ok", ":status", "200")
			p.write(func() error { return p.fr.WriteData(s, false, []byte("xx")) })
		})
		resp, _ := postStreaming(t, c)
		synctest.Wait() // the stray DATA is in, the stream reset
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("%q %v; want \"ok\"", b, err)
		}
		if n := c.openStreams(); n != 0 {
			t.Fatalf("%d streams open, want the reset one closed", n)
		}
	})
}

// TestBodyCloseStopsUpload: closing the body of a response that came in
// full while the request body was still being sent stops the request
// body (it is closed when Close returns) and resets the stream with
// CANCEL, as net/http does: the stream's slot is free at once for the next request, here on
// a peer that allows one stream.
//
// It runs in a synctest bubble, so that "at once" is before anything
// else happens.
func TestBodyCloseStopsUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := make(chan http2.ErrCode, 1)
		c := rawH2C(t, Options{}, func(p *rawPeer) {
			if !p.handshake(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}) {
				return
			}
			h := p.readHeaders()
			if h == nil {
				return
			}
			for {
				f, err := p.fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.DataFrame:
					if f.StreamID == h.StreamID && len(f.Data()) > 0 {
						p.respondFields(h.StreamID, "ok", ":status", "200")
					}
				case *http2.RSTStreamFrame:
					reset <- f.ErrCode
				case *http2.MetaHeadersFrame:
					p.respond(f.StreamID, "next")
				}
			}
		})
		resp, pw := postStreaming(t, c)
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != "ok" {
			t.Fatalf("POST body %q %v", b, err)
		}
		resp.Body.Close()
		// Closed by the time Close returns, as with net/http.
		if _, err := pw.Write([]byte("more")); err != io.ErrClosedPipe {
			t.Errorf("write to the request body after the response's Close: %v, want io.ErrClosedPipe", err)
		}
		synctest.Wait()
		select {
		case code := <-reset:
			if code != http2.ErrCodeCancel {
				t.Errorf("RST_STREAM %v, want CANCEL", code)
			}
		default:
			t.Error("no RST_STREAM for the stream")
		}
		if n := c.openStreams(); n != 0 {
			t.Fatalf("%d streams open after the response's Close, want 0", n)
		}
		if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "next" {
			t.Fatalf("next GET: %q %v", body, err)
		}
	})
}

// TestUploadAfterResponseHoldsSlot: a request whose response ended
// without a body while its request body is still being sent is over for
// the caller, but its stream, still open on the wire, holds its slot:
// Reserve refuses it on a peer that allows one stream, State counts it
// active and the connection is not idle (as net/http counts its open
// streams), until the body ends; then OnIdle says the connection is
// free, or, after GOAWAY, that it closed.
//
// It runs in a synctest bubble, so that each step has happened before
// the next.
func TestUploadAfterResponseHoldsSlot(t *testing.T) {
	for _, goAway := range []bool{false, true} {
		t.Run(fmt.Sprintf("goAway=%v", goAway), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var idle atomic.Int32
				c := rawH2C(t, Options{OnIdle: func() { idle.Add(1) }}, func(p *rawPeer) {
					if !p.handshake(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}) {
						return
					}
					h := p.readHeaders()
					if h == nil || !p.skipToData() {
						return
					}
					p.respondFields(h.StreamID, "", ":status", "200")
					if goAway {
						p.write(func() error { return p.fr.WriteGoAway(h.StreamID, http2.ErrCodeNo, nil) })
					}
					p.drain()
				})
				<-c.Ready()
				if !c.Reserve() {
					t.Fatal("Reserve refused on an unused connection")
				}
				resp, pw := postStreaming(t, c)
				if resp.Body != http.NoBody {
					t.Fatalf("body %T, want http.NoBody", resp.Body)
				}
				synctest.Wait()
				before := idle.Load()
				st := c.State()
				if c.Reserve() || st.Active != 1 || !st.LastIdle.IsZero() || st.Closed {
					t.Fatalf("while the request body is sent: State %+v, want the stream's slot held", st)
				}
				pw.Close()
				synctest.Wait()
				if n := idle.Load() - before; n != 1 {
					t.Errorf("OnIdle called %d times once the body ended, want 1", n)
				}
				st = c.State()
				if goAway {
					if !st.Closed {
						t.Fatalf("after the request body ended: State %+v, want closed after GOAWAY", st)
					}
					return
				}
				if st.Active != 0 || st.LastIdle.IsZero() || !c.Reserve() {
					t.Fatalf("after the request body ended: State %+v, want the slot free", st)
				}
				c.Release()
			})
		})
	}
}

// skipToData reads frames up to the first DATA frame; false if the
// connection ended first.
func (p *rawPeer) skipToData() bool {
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return false
		}
		if _, ok := f.(*http2.DataFrame); ok {
			return true
		}
	}
}
