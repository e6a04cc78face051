//go:build !linux

package transporttest

import (
	"errors"
	"fmt"
)

// readProcFDs is not available off Linux.
func readProcFDs(dir string) (map[int]string, error) {
	return nil, fmt.Errorf("transporttest: reading %s: %w", dir, errors.ErrUnsupported)
}
