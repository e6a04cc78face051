//go:build !linux

package transporttest

import (
	"errors"
	"fmt"
	"runtime"
)

// blackhole is a loopback address whose connects hang; only made on Linux.
type blackhole struct {
	addr string
}

// newBlackhole fails off Linux, where a full accept queue is not known to
// drop SYNs; the subtests that need it are skipped.
func newBlackhole() (*blackhole, error) {
	return nil, fmt.Errorf("transporttest: no hanging connect on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Close does nothing.
func (bh *blackhole) Close() {}
