//go:build !linux

package epoll

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/transportkit/transportkit/transport"
)

// Available reports why the epoll engine cannot run here: it needs Linux.
// The error wraps transport.ErrUnavailable, so the registry's default
// chain moves on to the next backend.
func Available() error {
	return fmt.Errorf("%w: epoll needs Linux, this is %s", transport.ErrUnavailable, runtime.GOOS)
}

// Backend is the epoll engine. Off Linux it cannot be opened; the type
// exists so that code naming it builds everywhere.
type Backend struct{}

// Open fails off Linux with an error matching transport.ErrUnavailable.
func Open(opts transport.Options) (*Backend, error) {
	if _, err := ParseConfig(opts.Config); err != nil {
		return nil, err
	}
	return nil, opError("open", "", "", Available())
}

// Name returns "epoll".
func (b *Backend) Name() string { return Name }

// Dial fails off Linux with an error matching transport.ErrUnavailable.
func (b *Backend) Dial(ctx context.Context, network, address string) (transport.Stream, error) {
	return nil, opError("dial", network, address, Available())
}

// Adopt fails off Linux with an error matching transport.ErrUnavailable,
// and closes f as transport.Adopter asks.
func (b *Backend) Adopt(f *os.File) (transport.Stream, error) {
	f.Close()
	return nil, opError("adopt", "", "", Available())
}

// Close does nothing off Linux.
func (b *Backend) Close() error { return nil }
