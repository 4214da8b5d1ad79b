package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time (user and system) the calling OS thread
// has used; the caller holds the thread with runtime.LockOSThread. A
// measurement by CPU time does not count the time other processes of a
// busy machine take.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPUWorks says that threadCPU measures CPU time here.
const threadCPUWorks = true
