//go:build !linux

package bench

import "time"

// threadCPU is not available here: hashCost times by the wall clock.
func threadCPU() time.Duration { return 0 }

const threadCPUWorks = false
