//go:build !unix

package h2

import "time"

// processCPU returns 0 where the CPU time is not read.
func processCPU() time.Duration { return 0 }
