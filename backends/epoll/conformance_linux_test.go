package epoll_test

import (
	"testing"

	"github.com/transportkit/transportkit/backends/epoll"
	"github.com/transportkit/transportkit/transport"
	"github.com/transportkit/transportkit/transport/transporttest"
)

func openBackend(t testing.TB, config string) *epoll.Backend {
	t.Helper()
	b, err := epoll.Open(transport.Options{Config: []byte(config)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	for _, cfg := range []struct{ name, json string }{
		{"default", ""},
		{"tryread", `{"try_read": true, "loops": 2, "no_yield": true}`},
		{"nospin", `{"no_spin": true}`},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			b := openBackend(t, cfg.json)
			defer b.Close()
			t.Run("tcp", func(t *testing.T) { transporttest.TestStream(t, transporttest.TCPPipe(b)) })
			t.Run("unix", func(t *testing.T) { transporttest.TestStream(t, transporttest.UnixPipe(b)) })
		})
	}
}

func TestBackend(t *testing.T) {
	transporttest.TestBackend(t, func(t *testing.T) transport.Backend {
		return openBackend(t, "")
	})
}
