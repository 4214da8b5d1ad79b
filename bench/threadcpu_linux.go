package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time (user and system) the calling OS thread
// has used, in nanoseconds of resolution (CLOCK_THREAD_CPUTIME_ID; rusage
// counts in scheduler ticks, too coarse for a small class); the caller
// holds the thread with runtime.LockOSThread. A measurement by CPU time
// does not count the time other processes of a busy machine take.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// threadCPUWorks says that threadCPU measures CPU time here.
const threadCPUWorks = true
