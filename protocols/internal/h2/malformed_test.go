package h2

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
	"golang.org/x/net/http2"
)

// heapInUse returns the heap in use after a garbage collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// checkHeapGrowth fails the test if the heap grew by more than limit
// bytes since before.
func checkHeapGrowth(t *testing.T, before, limit uint64) {
	t.Helper()
	if after := heapInUse(); after > before+limit {
		t.Errorf("heap grew by %d bytes, want at most %d", after-before, limit)
	}
}

// asConnError returns the code of the http2.ConnectionError in err, or
// fails the test.
func asConnError(t *testing.T, err error) http2.ErrCode {
	t.Helper()
	var ce http2.ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not an http2.ConnectionError", err, err)
	}
	return http2.ErrCode(ce)
}

// TestInvalidSettings sends SETTINGS values HTTP/2 forbids after the
// request is out: the request fails with a ConnectionError and
// the connection is closed.
func TestInvalidSettings(t *testing.T) {
	cases := []struct {
		name    string
		setting http2.Setting
		code    http2.ErrCode
	}{
		{"InitialWindowSizeOver2^31-1", http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}, http2.ErrCodeFlowControl},
		{"EnablePush2", http2.Setting{ID: http2.SettingEnablePush, Val: 2}, http2.ErrCodeProtocol},
		{"MaxFrameSizeTooSmall", http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 10}, http2.ErrCodeProtocol},
		{"MaxFrameSizeTooLarge", http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24}, http2.ErrCodeProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan struct{})
			c := rawH2C(t, Options{}, func(p *rawPeer) {
				if !p.handshake() || p.readHeaders() == nil {
					return
				}
				// The frame writer refuses these values, so write the raw
				// payload.
				payload := []byte{byte(tc.setting.ID >> 8), byte(tc.setting.ID),
					byte(tc.setting.Val >> 24), byte(tc.setting.Val >> 16), byte(tc.setting.Val >> 8), byte(tc.setting.Val)}
				p.write(func() error { return p.fr.WriteRawFrame(http2.FrameSettings, 0, 0, payload) })
				p.drain() // until the client closes
				close(closed)
			})
			err := mustGetError(t, c)
			if code := asConnError(t, err); code != tc.code || IsRetryable(err) {
				t.Fatalf("error %v: code %v, want %v, not retryable", err, code, tc.code)
			}
			testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
			select {
			case <-closed:
			case <-time.After(testTimeout):
				t.Fatal("the peer did not see the connection close")
			}
		})
	}
}

// TestHeaderListOverLimit answers with header lists over the limit: a
// little over fails the stream and the connection lives on; a block far
// over it, or a single field longer than the limit, fails the connection.
func TestHeaderListOverLimit(t *testing.T) {
	const limit = 4 << 10
	text := func(n int) string { // letters that HPACK cannot compress much
		var b strings.Builder
		for i := range n {
			b.WriteByte("qxzjkvwy"[i%8])
		}
		return b.String()
	}
	fields := func(n int) []string { // n distinct 500-byte fields
		f := []string{":status", "200"}
		for i := range n {
			f = append(f, "x-f"+strconv.Itoa(i), text(500))
		}
		return f
	}
	cases := []struct {
		name   string
		fields []string
		frag   int           // fragment size of the header block
		code   http2.ErrCode // 0: a StreamError with PROTOCOL_ERROR
	}{
		{"LittleOver", fields(10), 16 << 10, 0},
		{"FarOver", fields(16 * limit / 500), 12000, http2.ErrCodeProtocol},
		{"LongField", []string{":status", "200", "x-big", text(2 * limit)}, 16 << 10, http2.ErrCodeCompression},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := heapInUse()
			c := rawH2C(t, Options{MaxHeaderListSize: limit}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				h := p.readHeaders()
				if h == nil {
					return
				}
				p.write(func() error {
					block := p.encode(tc.fields...)
					n := min(len(block), tc.frag)
					if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: block[:n], EndHeaders: n == len(block), EndStream: true}); err != nil {
						return err
					}
					for rest := block[n:]; len(rest) > 0; {
						n := min(len(rest), tc.frag)
						if err := p.fr.WriteContinuation(h.StreamID, n == len(rest), rest[:n]); err != nil {
							return err
						}
						rest = rest[n:]
					}
					return nil
				})
				if h = p.readHeaders(); h != nil {
					p.respond(h.StreamID, "fine")
				}
				p.drain()
			})
			err := mustGetError(t, c)
			if IsRetryable(err) {
				t.Fatalf("error %v is retryable", err)
			}
			if tc.code != 0 {
				if code := asConnError(t, err); code != tc.code {
					t.Fatalf("error %v: code %v, want %v", err, code, tc.code)
				}
				checkHeapGrowth(t, before, 4<<20)
				return
			}
			var se http2.StreamError
			if !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol {
				t.Fatalf("error %v: want a PROTOCOL_ERROR StreamError", err)
			}
			if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "fine" {
				t.Fatalf("next request: %q, %v", body, err)
			}
		})
	}
}

// floodFrames is how many frames floodAfterHead sends at most.
const floodFrames = 1 << 20

// floodAfterHead returns a peer script that answers the first request
// with a 200 head, its header block ended if endHeaders, and then sends
// frame(p, stream, i) for i from 0 until a write fails or floodFrames
// went; how many went comes on sent.
func floodAfterHead(endHeaders bool, frame func(p *rawPeer, stream uint32, i int) error, sent chan<- int) func(*rawPeer) {
	return func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil {
			return
		}
		go p.drain()
		n := 0
		p.write(func() error {
			block := p.encode(":status", "200")
			if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: block, EndHeaders: endHeaders}); err != nil {
				return err
			}
			for ; n < floodFrames; n++ {
				if err := frame(p, h.StreamID, n); err != nil {
					return err
				}
			}
			return nil
		})
		sent <- n
	}
}

// TestEndlessContinuation sends a HEADERS frame followed by CONTINUATION
// frames that never end the block, empty or carrying a header each time.
// The Conn stops the connection after a bounded number of frames.
func TestEndlessContinuation(t *testing.T) {
	for _, frag := range []struct {
		name string
		b    []byte
	}{
		{"Empty", nil},
		{"IndexedField", []byte{0x82}}, // ":method: GET" from the static table
	} {
		t.Run(frag.name, func(t *testing.T) {
			before := heapInUse()
			sent := make(chan int, 1)
			c := rawH2C(t, Options{MaxHeaderListSize: 16 << 10}, floodAfterHead(false, func(p *rawPeer, stream uint32, _ int) error {
				return p.fr.WriteContinuation(stream, false, frag.b)
			}, sent))
			err := mustGetError(t, c)
			if !errors.Is(err, ErrFlood) || asConnError(t, err) != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("error %v: want ErrFlood with ENHANCE_YOUR_CALM", err)
			}
			c.Close()
			if n := <-sent; n >= floodFrames {
				t.Fatalf("the client took all %d CONTINUATION frames", n)
			}
			checkHeapGrowth(t, before, 4<<20)
		})
	}
}

// TestFlood sends control frames without end while a request waits: the
// Conn closes the connection with ENHANCE_YOUR_CALM and ErrFlood.
func TestFlood(t *testing.T) {
	cases := []struct {
		name  string
		frame func(p *rawPeer, stream uint32, i int) error
	}{
		{"PING", func(p *rawPeer, _ uint32, i int) error {
			return p.fr.WritePing(false, [8]byte{byte(i >> 8), byte(i)})
		}},
		{"RST_STREAM", func(p *rawPeer, _ uint32, i int) error {
			return p.fr.WriteRSTStream(uint32(2*i+101), http2.ErrCodeCancel) // streams never opened
		}},
		{"SETTINGS", func(p *rawPeer, _ uint32, _ int) error {
			return p.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 50})
		}},
		{"PRIORITY", func(p *rawPeer, stream uint32, _ int) error {
			return p.fr.WritePriority(stream, http2.PriorityParam{Weight: 1})
		}},
		{"EmptyDATA", func(p *rawPeer, stream uint32, _ int) error {
			return p.fr.WriteData(stream, false, nil)
		}},
		{"UnknownType", func(p *rawPeer, _ uint32, _ int) error {
			return p.fr.WriteRawFrame(0xfa, 0, 0, []byte("x"))
		}},
		{"WINDOW_UPDATE", func(p *rawPeer, stream uint32, _ int) error {
			return p.fr.WriteWindowUpdate(stream, 1) // a GET has no body to send
		}},
		{"ConnWINDOW_UPDATE", func(p *rawPeer, _ uint32, _ int) error {
			return p.fr.WriteWindowUpdate(0, 1)
		}},
		{"GOAWAY", func(p *rawPeer, stream uint32, _ int) error {
			return p.fr.WriteGoAway(stream, http2.ErrCodeNo, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := heapInUse()
			sent := make(chan int, 1)
			c := rawH2C(t, Options{MaxControlFrames: 200}, floodAfterHead(true, tc.frame, sent))
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://raw.test/", nil)
			resp, err := c.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, ErrFlood) || asConnError(t, err) != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("error %v: want ErrFlood with ENHANCE_YOUR_CALM", err)
			}
			testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
			c.Close()
			if n := <-sent; n >= floodFrames {
				t.Fatalf("the client took all %d frames", n)
			}
			checkHeapGrowth(t, before, 4<<20)
		})
	}
}

// TestFloodUnlimited turns the limit off: the Conn answers a burst of
// PINGs, without buffering without bound, and the request completes.
func TestFloodUnlimited(t *testing.T) {
	before := heapInUse()
	c := rawH2C(t, Options{MaxControlFrames: -1}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil {
			return
		}
		drained := make(chan struct{})
		go func() {
			p.drain()
			close(drained)
		}()
		for i := range 20000 {
			if p.write(func() error { return p.fr.WritePing(false, [8]byte{byte(i >> 8), byte(i)}) }) != nil {
				return
			}
		}
		p.respond(h.StreamID, "survived")
		<-drained // until the client closes
	})
	if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "survived" {
		t.Fatalf("GET: %q, %v", body, err)
	}
	checkHeapGrowth(t, before, 4<<20)
}

// TestDataBeyondWindow sends more DATA than the stream's window while the
// client reads nothing: the Conn fails the connection with
// FLOW_CONTROL_ERROR, having buffered no more than the window.
func TestDataBeyondWindow(t *testing.T) {
	const window = 64 << 10
	before := heapInUse()
	c := rawH2C(t, Options{MaxReceiveBufferPerStream: window}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil {
			return
		}
		go p.drain()
		chunk := make([]byte, 16<<10)
		p.write(func() error {
			block := p.encode(":status", "200")
			if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: block, EndHeaders: true}); err != nil {
				return err
			}
			for range 1 << 12 { // 64 MiB, far beyond the window
				if err := p.fr.WriteData(h.StreamID, false, chunk); err != nil {
					return err
				}
			}
			return nil
		})
	})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://raw.test/", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed }) // before reading
	n, err := io.Copy(io.Discard, resp.Body)
	if code := asConnError(t, err); code != http2.ErrCodeFlowControl {
		t.Fatalf("body error %v: code %v, want FLOW_CONTROL_ERROR", err, code)
	}
	if n > window {
		t.Fatalf("read %d bytes of body, more than the %d-byte window", n, window)
	}
	checkHeapGrowth(t, before, 4<<20)
}
