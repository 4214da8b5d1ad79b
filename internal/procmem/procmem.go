// Package procmem reads the memory of other processes from /proc (Linux).
package procmem

import (
	"time"

	"github.com/prometheus/procfs"
)

// WatchPeakRSS reads the peak resident set size (VmHWM) of process pid
// every interval until the returned function is called, which returns the
// highest value read, in bytes (0 if none could be read). Call it once the
// process has ended; growth in its last interval can be missed.
//
// It exists because the rusage of a child cannot be used: the ru_maxrss of
// a child started with vfork (as os/exec does) reports the parent's own
// peak when that is higher, since Linux keeps the high-water mark across
// exec.
func WatchPeakRSS(pid int, interval time.Duration) func() int64 {
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		var rss int64
		for {
			if p, err := procfs.NewProc(pid); err == nil {
				if st, err := p.NewStatus(); err == nil && int64(st.VmHWM) > rss {
					rss = int64(st.VmHWM)
				}
			}
			select {
			case <-stop:
				done <- rss
				return
			case <-time.After(interval):
			}
		}
	}()
	return func() int64 {
		close(stop)
		return <-done
	}
}
