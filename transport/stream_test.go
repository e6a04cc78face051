package transport_test

import (
	"errors"
	"os"
	"testing"

	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

// infoStream answers Info from a map; everything else is unimplemented.
type infoStream struct {
	transport.Stream
	info map[transport.InfoKey]any
}

func (s infoStream) Info(key transport.InfoKey) (any, bool) {
	v, ok := s.info[key]
	return v, ok
}

func TestIsClosed(t *testing.T) {
	cases := []struct {
		info map[transport.InfoKey]any
		want bool
	}{
		{nil, false},
		{map[transport.InfoKey]any{transport.InfoClosed: false}, false},
		{map[transport.InfoKey]any{transport.InfoClosed: true}, true},
		{map[transport.InfoKey]any{transport.InfoClosed: "yes"}, false},
	}
	for _, c := range cases {
		if got := transport.IsClosed(infoStream{info: c.info}); got != c.want {
			t.Errorf("IsClosed with Info %v = %v, want %v", c.info, got, c.want)
		}
	}
}

func TestNegotiatedProtocolPlain(t *testing.T) {
	b := newBackend(t)
	c1, _, stop, err := transporttest.TCPPipe(b)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if p := transport.NegotiatedProtocol(c1); p != "" {
		t.Fatalf("NegotiatedProtocol of a plain stream = %q, want \"\"", p)
	}
	if p := transport.NegotiatedProtocol(infoStream{info: map[transport.InfoKey]any{transport.InfoALPN: "h2"}}); p != "h2" {
		t.Fatalf("NegotiatedProtocol = %q, want h2", p)
	}
}

// plainBackend is a Backend without the Adopter extra.
type plainBackend struct{ transport.Backend }

func TestAdopt(t *testing.T) {
	b := newBackend(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = transport.Adopt(plainBackend{b}, r)
	var oe *transport.OpError
	if !errors.Is(err, transport.ErrUnsupported) || !errors.As(err, &oe) || oe.Op != "adopt" {
		t.Fatalf("Adopt on a backend without Adopter = %v, want an adopt OpError matching ErrUnsupported", err)
	}
	if r.Fd() != ^uintptr(0) {
		t.Fatal("Adopt did not close the file it could not use")
	}
	// stdnet adopts; a pipe is not a socket, so it fails, closing the file.
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if _, err := transport.Adopt(b, r2); !errors.As(err, &oe) || oe.Backend != "stdnet" {
		t.Fatalf("Adopt through stdnet = %v, want stdnet's adopt OpError", err)
	}
}
