package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mediabackups/mediabackups/internal/procmem"
)

// measure is what one child process took.
type measure struct {
	Elapsed time.Duration
	MaxRSS  int64         // bytes, the child's VmHWM (see procmem.WatchPeakRSS)
	CPU     time.Duration // user + system time of the child
	Stdout  []byte
}

// runChild runs binary with args, waits for it, and returns its wall time and
// peak resident set size. A non-zero exit is an error carrying its stderr.
func runChild(ctx context.Context, binary string, args ...string) (measure, error) {
	return runChildEnv(ctx, nil, binary, args...)
}

// runChildEnv is runChild with more environment variables.
func runChildEnv(ctx context.Context, env []string, binary string, args ...string) (measure, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(os.Environ(), "MEDIABACKUPS_CONFIG="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Start()
	var peak func() int64
	if err == nil {
		peak = procmem.WatchPeakRSS(cmd.Process.Pid, 20*time.Millisecond)
		err = cmd.Wait()
	}
	m := measure{Elapsed: time.Since(start), Stdout: stdout.Bytes()}
	if peak != nil {
		m.MaxRSS = peak()
	}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			if m.MaxRSS == 0 {
				m.MaxRSS = ru.Maxrss * 1024 // KiB on Linux; see procmem.WatchPeakRSS
			}
			m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return m, fmt.Errorf("%s %s: %w\n%s%s", binary, strings.Join(args, " "), err, tail(stdout.String()), tail(stderr.String()))
	}
	return m, nil
}

func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
