//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package stdnet

import (
	"fmt"
	"runtime"
	"syscall"

	"github.com/transportkit/transportkit/transport"
)

// peekReadable cannot peek without blocking here, so it reports false
// with an error saying so: a pool then finds a closed idle connection only
// when it uses it.
func peekReadable(rc syscall.RawConn) (bool, error) {
	return false, fmt.Errorf("stdnet: IsReadable on %s: %w", runtime.GOOS, transport.ErrUnsupported)
}
