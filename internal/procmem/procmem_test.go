package procmem

import (
	"os/exec"
	"testing"
	"time"
)

// TestWatchPeakRSS watches a real child that holds some memory: the peak
// read must be that of the child (more than nothing, less than the
// memory of the whole machine), and 0 for a process that does not exist.
func TestWatchPeakRSS(t *testing.T) {
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep(1): %v", err)
	}
	peak := WatchPeakRSS(cmd.Process.Pid, 10*time.Millisecond)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := peak(); got <= 0 || got > 64<<20 {
		t.Errorf("peak RSS of sleep = %d bytes, want some, under 64 MiB", got)
	}
	if got := WatchPeakRSS(1<<30, time.Millisecond)(); got != 0 {
		t.Errorf("peak RSS of no process = %d, want 0", got)
	}
}
