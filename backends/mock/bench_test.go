package mock

import (
	"io"
	"net"
	"testing"
)

// The benchmarks compare a mock pair with net.Pipe (the standard library's
// in-memory pipe, unbuffered) in the same run: go test -bench . -count 10
// ./backends/mock/ | benchstat -col /pipe -

func benchPairs(b *testing.B, f func(b *testing.B, c1, c2 net.Conn)) {
	b.Run("pipe=mock", func(b *testing.B) {
		p := newPair(&Conn{done: make(chan struct{})}, &Addr{Net: "tcp"}, &Addr{Net: "tcp"})
		defer p.closeAll()
		f(b, p.client(), p.peer())
	})
	b.Run("pipe=net.Pipe", func(b *testing.B) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		f(b, c1, c2)
	})
}

// BenchmarkPingPong sends a message and waits for it to come back.
func BenchmarkPingPong(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		b.Run(map[int]string{64: "size=64", 16 << 10: "size=16K"}[size], func(b *testing.B) {
			benchPairs(b, func(b *testing.B, c1, c2 net.Conn) {
				go func() {
					buf := make([]byte, size)
					for {
						if _, err := io.ReadFull(c2, buf); err != nil {
							return
						}
						if _, err := c2.Write(buf); err != nil {
							return
						}
					}
				}()
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for b.Loop() {
					if _, err := c1.Write(buf); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c1, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkBulk streams 32 KiB writes one way.
func BenchmarkBulk(b *testing.B) {
	benchPairs(b, func(b *testing.B, c1, c2 net.Conn) {
		go io.Copy(io.Discard, c2)
		buf := make([]byte, 32<<10)
		b.SetBytes(int64(len(buf)))
		b.ResetTimer()
		for b.Loop() {
			if _, err := c1.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
