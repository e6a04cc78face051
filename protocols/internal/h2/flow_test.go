package h2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestPeerInitialWindowChange: the peer raises SETTINGS_INITIAL_WINDOW_SIZE
// while a body waits for window: the open stream's window grows by the
// difference, with no WINDOW_UPDATE for the stream.
func TestPeerInitialWindowChange(t *testing.T) {
	const first, second = 100, 1100
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: first}) {
			return
		}
		p.write(func() error { return p.fr.WriteWindowUpdate(0, 1<<20) })
		var stream uint32
		received, raised := 0, false
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				stream = f.StreamID
			case *http2.DataFrame:
				received += len(f.Data())
				limit := first
				if raised {
					limit = second
				}
				if received > limit {
					p.t.Errorf("peer: client sent %d bytes with a window of %d", received, limit)
					return
				}
				if received == first && !raised {
					raised = true
					p.write(func() error {
						return p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: second})
					})
				}
				if f.StreamEnded() {
					p.respond(stream, fmt.Sprint(received))
					p.drain()
					return
				}
			}
		}
	})
	<-c.Ready()
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", bytes.NewReader(make([]byte, 1000)))
	if body, _, err := doRequest(c, req); err != nil || body != "1000" {
		t.Fatalf("peer received %q (%v)", body, err)
	}
}

// TestPeerFrameSize: DATA frames and header blocks are cut at the peer's
// SETTINGS_MAX_FRAME_SIZE (CONTINUATION frames for a large head).
func TestPeerFrameSize(t *testing.T) {
	const maxFrame = 16 << 10
	big := strings.Repeat("v", 40<<10)
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}) {
			return
		}
		p.write(func() error { return p.fr.WriteWindowUpdate(0, 1<<30) })
		p.fr.ReadMetaHeaders = nil // see the frames themselves
		var stream uint32
		var block []byte
		received := 0
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				return
			}
			if f.Header().Length > maxFrame {
				p.t.Errorf("peer: %v frame of %d bytes", f.Header().Type, f.Header().Length)
			}
			switch f := f.(type) {
			case *http2.HeadersFrame:
				stream = f.StreamID
				block = append(block, f.HeaderBlockFragment()...)
			case *http2.ContinuationFrame:
				block = append(block, f.HeaderBlockFragment()...)
			case *http2.DataFrame:
				received += len(f.Data())
				if f.StreamEnded() {
					fields, err := hpack.NewDecoder(4096, nil).DecodeFull(block)
					ok := err == nil && len(fields) > 4
					for _, hf := range fields {
						if hf.Name == "x-big" && hf.Value != big {
							ok = false
						}
					}
					if !ok {
						p.t.Errorf("peer: header block did not decode: %v", err)
					}
					p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
					p.henc = hpack.NewEncoder(&p.hbuf)
					p.respond(stream, fmt.Sprint(received))
					p.drain()
					return
				}
			}
		}
	})
	<-c.Ready()
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", bytes.NewReader(make([]byte, 100<<10)))
	req.Header.Set("X-Big", big)
	if body, _, err := doRequest(c, req); err != nil || body != fmt.Sprint(100<<10) {
		t.Fatalf("peer received %q (%v)", body, err)
	}
}

// TestPeerHeaderTableSize: the peer's SETTINGS_HEADER_TABLE_SIZE 0 stops
// the client's HPACK encoder from indexing: a decoder without a dynamic
// table reads every head.
func TestPeerHeaderTableSize(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		p.fr.ReadMetaHeaders = hpack.NewDecoder(0, nil)
		if !p.handshake(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0}) {
			return
		}
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				p.t.Logf("peer: %v", err)
				return
			}
			if h, ok := f.(*http2.MetaHeadersFrame); ok {
				p.respond(h.StreamID, h.PseudoValue("path")+" "+strings.Join(field(h, "x-repeat"), ","))
			}
		}
	})
	<-c.Ready()
	for i := range 3 {
		req, _ := http.NewRequestWithContext(testContext(t), "GET", fmt.Sprintf("http://raw.test/%d", i), nil)
		req.Header.Set("X-Repeat", "same value every time")
		if body, _, err := doRequest(c, req); err != nil || body != fmt.Sprintf("/%d same value every time", i) {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
}

// TestPaddedData: padded DATA frames give their body bytes, and their
// padding is credited back to both windows at once: a peer that honours
// the windows sends more padding than they hold without stalling.
func TestPaddedData(t *testing.T) {
	const frames = 400 // 400 x 256 bytes: more than the 64 KiB windows
	c := rawH2C(t, Options{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 64 << 10}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil {
			return
		}
		// The client's windows, as the peer learns them.
		var connWin, streamWin atomic.Int64
		connWin.Store(65535)
		streamWin.Store(64 << 10)
		grew := make(chan struct{}, 1)
		go func() {
			for {
				f, err := p.fr.ReadFrame()
				if err != nil {
					return
				}
				if wu, ok := f.(*http2.WindowUpdateFrame); ok {
					if wu.StreamID == 0 {
						connWin.Add(int64(wu.Increment))
					} else {
						streamWin.Add(int64(wu.Increment))
					}
					select {
					case grew <- struct{}{}:
					default:
					}
				}
			}
		}()
		p.write(func() error {
			return p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: p.encode(":status", "200"), EndHeaders: true})
		})
		pad := make([]byte, 254)
		for i := range frames {
			for connWin.Load() < 256 || streamWin.Load() < 256 {
				select {
				case <-grew:
				case <-time.After(testTimeout):
					p.t.Errorf("peer: no window after %d frames (conn %d, stream %d)", i, connWin.Load(), streamWin.Load())
					return
				}
			}
			connWin.Add(-256)
			streamWin.Add(-256)
			if p.write(func() error { return p.fr.WriteDataPadded(h.StreamID, i == frames-1, []byte{'a' + byte(i%26)}, pad) }) != nil {
				return
			}
		}
	})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://raw.test/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read nothing until the peer is done: only padding credit lets it.
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != frames || b[1] != 'b' {
		t.Fatalf("body of %d bytes (%v)", len(b), err)
	}
}

// TestProtocolViolations: frames that break HTTP/2 close the connection
// with the right code, or fail their stream only.
func TestProtocolViolations(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		frames func(p *rawPeer, stream uint32) error
		conn   http2.ErrCode // connection error code; 0: stream error
		stream http2.ErrCode
	}{
		{"DataOnIdleStream", Options{}, func(p *rawPeer, s uint32) error { return p.fr.WriteData(s+100, true, []byte("x")) }, http2.ErrCodeProtocol, 0},
		{"DataBeforeHeaders", Options{}, func(p *rawPeer, s uint32) error { return p.fr.WriteData(s, true, []byte("x")) }, 0, http2.ErrCodeProtocol},
		{"DataOnStream0", Options{}, func(p *rawPeer, s uint32) error {
			return p.fr.WriteRawFrame(http2.FrameData, 0, 0, []byte("x"))
		}, http2.ErrCodeProtocol, 0},
		{"BadPadding", Options{}, func(p *rawPeer, s uint32) error {
			return p.fr.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, s, []byte{9, 'x'})
		}, http2.ErrCodeProtocol, 0},
		{"PushPromise", Options{}, func(p *rawPeer, s uint32) error {
			return p.fr.WritePushPromise(http2.PushPromiseParam{StreamID: s, PromiseID: 2, BlockFragment: p.encode(":method", "GET"), EndHeaders: true})
		}, http2.ErrCodeProtocol, 0},
		{"FrameTooLarge", Options{MaxReadFrameSize: 16 << 10}, func(p *rawPeer, s uint32) error {
			if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: p.encode(":status", "200"), EndHeaders: true}); err != nil {
				return err
			}
			return p.fr.WriteData(s, true, make([]byte, 20<<10))
		}, http2.ErrCodeFrameSize, 0},
		{"StreamWindowOverflow", Options{}, func(p *rawPeer, s uint32) error { return p.fr.WriteWindowUpdate(s, 1<<31-1) }, 0, http2.ErrCodeFlowControl},
		{"ConnWindowOverflow", Options{}, func(p *rawPeer, s uint32) error { return p.fr.WriteWindowUpdate(0, 1<<31-1) }, http2.ErrCodeFlowControl, 0},
		{"InitialWindowOverflow", Options{}, func(p *rawPeer, s uint32) error {
			if err := p.fr.WriteWindowUpdate(s, 1000); err != nil {
				return err
			}
			return p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
		}, http2.ErrCodeFlowControl, 0},
		{"ZeroWindowUpdate", Options{}, func(p *rawPeer, s uint32) error {
			return p.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, s, []byte{0, 0, 0, 0})
		}, 0, http2.ErrCodeProtocol},
		{"BadHPACK", Options{}, func(p *rawPeer, s uint32) error {
			return p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff}, EndHeaders: true})
		}, http2.ErrCodeCompression, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goaway := make(chan http2.ErrCode, 1)
			c := rawH2C(t, tc.opts, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				h := p.readHeaders()
				if h == nil {
					return
				}
				p.write(func() error { return tc.frames(p, h.StreamID) })
				for {
					f, err := p.fr.ReadFrame()
					if err != nil {
						return
					}
					switch f := f.(type) {
					case *http2.GoAwayFrame:
						goaway <- f.ErrCode
					case *http2.MetaHeadersFrame:
						p.respond(f.StreamID, "next")
					}
				}
			})
			req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", io.NopCloser(strings.NewReader("x")))
			_, _, err := doRequest(c, req)
			if IsRetryable(err) {
				t.Fatalf("error %v is retryable", err)
			}
			if tc.conn != 0 {
				if code := asConnError(t, err); code != tc.conn {
					t.Fatalf("error %v: code %v, want %v", err, code, tc.conn)
				}
				if code := <-goaway; code != tc.conn {
					t.Fatalf("GOAWAY code %v, want %v", code, tc.conn)
				}
				return
			}
			var se http2.StreamError
			if !errors.As(err, &se) || se.Code != tc.stream {
				t.Fatalf("error %v: want a %v StreamError", err, tc.stream)
			}
			if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "next" {
				t.Fatalf("next request: %q, %v", body, err)
			}
		})
	}
}

// TestWindowUpdatesForABodyAreNotAFlood: a peer that grants window in
// small steps sends many WINDOW_UPDATE frames; while a body uses them they
// do not count as a flood, whereas the same frames for a stream sending
// nothing do (TestFlood).
func TestWindowUpdatesForABodyAreNotAFlood(t *testing.T) {
	const window, size = 64, 64 << 10 // 1024 steps of 2 frames
	c := rawH2C(t, Options{MaxControlFrames: 100}, func(p *rawPeer) {
		if !p.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}) {
			return
		}
		h, body := p.readRequest(true)
		if h != nil {
			p.respond(h.StreamID, fmt.Sprint(len(body)))
		}
		p.drain()
	})
	<-c.Ready()
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://raw.test/", bytes.NewReader(make([]byte, size)))
	if body, _, err := doRequest(c, req); err != nil || body != fmt.Sprint(size) {
		t.Fatalf("peer received %q (%v)", body, err)
	}
}
