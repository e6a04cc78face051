package epoll

import (
	"context"
	"net/netip"

	"github.com/transportkit/transportkit/transport"
)

// DialAddrs dials ips in the order and with the family racing Dial uses
// for a resolved name.
func (b *Backend) DialAddrs(ctx context.Context, ips []netip.Addr, port int) (transport.Stream, error) {
	primaries, fallbacks := partition(ips)
	if len(fallbacks) == 0 {
		return b.dialSerial(ctx, "tcp", primaries, port)
	}
	return b.dialParallel(ctx, "tcp", primaries, fallbacks, port)
}

// WriteParked reports whether a Write on s is parked waiting for the
// socket to become writable.
func WriteParked(s transport.Stream) bool {
	return s.(*stream).wd.state.Load() == pollWaiting
}
