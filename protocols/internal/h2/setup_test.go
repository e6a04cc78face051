package h2

import (
	"bytes"
	"context"
	"errors"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/transportkit/transportkit/internal/testenv"
	"github.com/transportkit/transportkit/transport"
	"golang.org/x/net/http2"
)

// TestNoStreamsAllowed: the peer's first SETTINGS allow no streams.
// Reserve refuses, a RoundTrip without reservation waits for a slot
// until its context ends and then says the peer allows no streams; when
// the peer raises its limit, a waiting request goes through.
func TestNoStreamsAllowed(t *testing.T) {
	raise := make(chan struct{})
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 0}) {
			return
		}
		<-raise
		p.write(func() error { return p.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}) })
		if h := p.readHeaders(); h != nil {
			p.respond(h.StreamID, "at last")
		}
		p.drain()
	})
	<-c.Ready()
	if st := c.State(); st.MaxConcurrent != 0 || st.GoingAway {
		t.Fatalf("State = %+v, want MaxConcurrent 0", st)
	}
	if c.Reserve() {
		t.Fatal("Reserve succeeded with no streams allowed")
	}
	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	_, _, err := get(ctx, c, "http://raw.test/")
	if !errors.Is(err, ErrNoStreams) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, transport.ErrTimeout) || IsRetryable(err) {
		t.Fatalf("GET: %v, want ErrNoStreams and a deadline", err)
	}

	got := make(chan error, 1)
	go func() {
		body, _, err := get(testContext(t), c, "http://raw.test/")
		if err == nil && body != "at last" {
			err = errors.New(body)
		}
		got <- err
	}()
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Active == 1 })
	close(raise)
	if err := <-got; err != nil {
		t.Fatalf("GET after the limit was raised: %v", err)
	}
	if st := c.State(); st.MaxConcurrent != 1 {
		t.Fatalf("MaxConcurrent = %d, want 1", st.MaxConcurrent)
	}
}

// TestGoAwayAfterSettings: the peer sends GOAWAY right after its
// SETTINGS. A request fails as not processed, naming the GOAWAY, and the
// connection closes.
func TestGoAwayAfterSettings(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if p.handshake() {
			p.write(func() error { return p.fr.WriteGoAway(0, http2.ErrCodeNo, []byte("maintenance")) })
			p.drain()
		}
	})
	<-c.Ready()
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
	err := mustGetError(t, c)
	var ge *GoAwayError
	if !IsRetryable(err) || !errors.As(err, &ge) || ge.DebugData != "maintenance" || ge.ErrCode != http2.ErrCodeNo {
		t.Fatalf("GET: %v, want retryable with the GOAWAY", err)
	}
}

// TestFloodDuringSetup: the peer floods PING or SETTINGS frames right
// after its SETTINGS. The connection closes, the peer gets GOAWAY with
// ENHANCE_YOUR_CALM, and a request says why: ErrFlood, ENHANCE_YOUR_CALM,
// and not sent (retryable).
func TestFloodDuringSetup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame func(p *rawPeer, i int) error
	}{
		{"PING", func(p *rawPeer, i int) error { return p.fr.WritePing(false, [8]byte{byte(i >> 8), byte(i)}) }},
		{"SETTINGS", func(p *rawPeer, _ int) error { return p.fr.WriteSettings() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goaway := make(chan http2.ErrCode, 1)
			c := rawH2C(t, Options{MaxControlFrames: 50}, func(p *rawPeer) {
				if !p.handshake() {
					return
				}
				read := make(chan struct{})
				go func() {
					defer close(read)
					for {
						f, err := p.fr.ReadFrame()
						if err != nil {
							return
						}
						if ga, ok := f.(*http2.GoAwayFrame); ok {
							goaway <- ga.ErrCode
						}
					}
				}()
				for i := range 1000 {
					if p.write(func() error { return tc.frame(p, i) }) != nil {
						break
					}
				}
				<-read // until the client closes

			})
			<-c.Ready()
			testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
			err := mustGetError(t, c)
			if !errors.Is(err, ErrFlood) || asConnError(t, err) != http2.ErrCodeEnhanceYourCalm || !IsRetryable(err) {
				t.Fatalf("GET: %v, want ErrFlood, ENHANCE_YOUR_CALM, retryable", err)
			}
			select {
			case code := <-goaway:
				if code != http2.ErrCodeEnhanceYourCalm {
					t.Fatalf("GOAWAY code %v", code)
				}
			case <-time.After(testTimeout):
				t.Fatal("the peer got no GOAWAY")
			}
		})
	}
}

// TestFirstFrameNotSettings: a peer whose first frame is not SETTINGS
// breaks the protocol: the connection closes with PROTOCOL_ERROR.
func TestFirstFrameNotSettings(t *testing.T) {
	c := rawH2C(t, Options{}, func(p *rawPeer) {
		p.write(func() error { return p.fr.WritePing(false, [8]byte{}) })
		p.drain()
	})
	<-c.Ready()
	testenv.Eventually(t, testTimeout, func() bool { return c.State().Closed })
	if err := mustGetError(t, c); asConnError(t, err) != http2.ErrCodeProtocol {
		t.Fatalf("GET: %v, want PROTOCOL_ERROR", err)
	}
}

// TestNoStandardLogger: a peer that sends frames of unknown types, breaks
// the protocol and floods never makes the Conn write to the standard
// library's logger, and unknown frames are ignored.
func TestNoStandardLogger(t *testing.T) {
	var logged lockedBuffer
	saved := log.Writer()
	log.SetOutput(&logged)
	defer log.SetOutput(saved)

	c := rawH2C(t, Options{}, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		h := p.readHeaders()
		if h == nil {
			return
		}
		p.write(func() error { return p.fr.WriteRawFrame(0xfa, 0, h.StreamID, []byte("unknown")) })
		p.write(func() error { return p.fr.WriteRawFrame(0x10, 0, 0, []byte("\x00\x00\x00\x01u=1")) }) // PRIORITY_UPDATE
		p.respond(h.StreamID, "fine")
		if h = p.readHeaders(); h != nil {
			p.write(func() error { return p.fr.WriteRawFrame(http2.FrameData, 0, h.StreamID+10, []byte("x")) })
		}
		p.drain()
	})
	if body, _, err := get(testContext(t), c, "http://raw.test/"); err != nil || body != "fine" {
		t.Fatalf("GET: %q, %v", body, err)
	}
	if err := mustGetError(t, c); asConnError(t, err) != http2.ErrCodeProtocol {
		t.Fatalf("GET: %v, want PROTOCOL_ERROR for DATA on an idle stream", err)
	}
	c.Close()
	if s := logged.String(); s != "" {
		t.Fatalf("written to the standard logger: %q", s)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
