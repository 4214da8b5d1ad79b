package bench

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// The horizontal and scale runs say what bounds them by measuring the CPU
// time of every process involved: the children through their rusage, the
// services (MariaDB, MinIO) and the bench's own servers through
// /proc/<pid>/stat, and the whole machine through /proc/stat. The services
// are found by the local TCP port they listen on, so this works only when
// they run on this machine (Linux); otherwise their CPU is reported as
// unknown (-1).

// cpuMeter reads the CPU time of a set of local processes.
type cpuMeter struct {
	fs   procfs.FS
	pids map[string][]int // component name → its processes
}

// newCPUMeter finds the processes listening on the given local addresses
// (endpoints or host:port), by component name. Components whose addresses
// are not local, or not found, get no processes.
func newCPUMeter(addrs map[string][]string) *cpuMeter {
	c := &cpuMeter{pids: map[string][]int{}}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return c
	}
	c.fs = fs
	listening := listeningInodes(fs)
	if len(listening) == 0 {
		return c
	}
	owners := map[uint64]int{}
	procs, err := fs.AllProcs()
	if err != nil {
		return c
	}
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue
		}
		for _, t := range targets {
			if s, ok := strings.CutPrefix(t, "socket:["); ok {
				if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil && listening[ino] {
					owners[ino] = p.PID
				}
			}
		}
	}
	ports := portInodes(fs)
	for name, list := range addrs {
		seen := map[int]bool{}
		for _, a := range list {
			port, ok := localPort(a)
			if !ok {
				continue
			}
			for _, ino := range ports[port] {
				if pid, ok := owners[ino]; ok && !seen[pid] {
					seen[pid] = true
					c.pids[name] = append(c.pids[name], pid)
				}
			}
		}
	}
	return c
}

// add counts the process pid as part of component name.
func (c *cpuMeter) add(name string, pid int) { c.pids[name] = append(c.pids[name], pid) }

// localPort returns the port of a local address: an endpoint URL or a
// host:port whose host is a loopback address or localhost.
func localPort(a string) (uint64, bool) {
	if u, err := url.Parse(a); err == nil && u.Host != "" {
		a = u.Host
	}
	host, p, err := net.SplitHostPort(a)
	if err != nil {
		return 0, false
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	return port, err == nil
}

const tcpListen = 10 // TCP_LISTEN in /proc/net/tcp

func listeningInodes(fs procfs.FS) map[uint64]bool {
	out := map[uint64]bool{}
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, err := read()
		if err != nil {
			continue
		}
		for _, l := range lines {
			if l.St == tcpListen {
				out[l.Inode] = true
			}
		}
	}
	return out
}

func portInodes(fs procfs.FS) map[uint64][]uint64 {
	out := map[uint64][]uint64{}
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, err := read()
		if err != nil {
			continue
		}
		for _, l := range lines {
			if l.St == tcpListen {
				out[l.LocalPort] = append(out[l.LocalPort], l.Inode)
			}
		}
	}
	return out
}

// cpuSample is the CPU seconds of each component, and of the machine.
type cpuSample struct {
	byName map[string]float64 // -1: unknown
	busy   float64            // machine: non-idle CPU seconds since boot
	total  float64            // machine: all CPU seconds since boot
}

func (c *cpuMeter) sample() cpuSample {
	s := cpuSample{byName: map[string]float64{}}
	for name, pids := range c.pids {
		sum := 0.0
		for _, pid := range pids {
			p, err := c.fs.Proc(pid)
			if err != nil {
				sum = -1
				break
			}
			st, err := p.Stat()
			if err != nil {
				sum = -1
				break
			}
			sum += st.CPUTime()
		}
		s.byName[name] = sum
	}
	if st, err := c.fs.Stat(); err == nil {
		t := st.CPUTotal
		s.busy = t.User + t.Nice + t.System + t.IRQ + t.SoftIRQ + t.Steal
		s.total = s.busy + t.Idle + t.Iowait
	}
	return s
}

// cpuDelta is what each component and the machine used between two samples.
type cpuDelta struct {
	ByName map[string]float64 `json:"cpu_s"` // -1: unknown (not a local process)
	// MachineBusy is the share of every core of the machine that was busy,
	// 0..1, whoever used it (other users of the machine too).
	MachineBusy float64 `json:"machine_busy"`
}

func (c *cpuMeter) since(before cpuSample) cpuDelta {
	after := c.sample()
	d := cpuDelta{ByName: map[string]float64{}}
	for name := range c.pids {
		a, b := after.byName[name], before.byName[name]
		if a < 0 || b < 0 {
			d.ByName[name] = -1
			continue
		}
		d.ByName[name] = a - b
	}
	if dt := after.total - before.total; dt > 0 {
		d.MachineBusy = (after.busy - before.busy) / dt
	}
	return d
}

// fmtCPU formats CPU seconds, or "?" when unknown.
func fmtCPU(s float64, ok bool) string {
	if !ok || s < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", s)
}

// LoadAverage returns the machine's load average over 1, 5 and 15 minutes
// (zeros where /proc cannot be read).
func LoadAverage() [3]float64 {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return [3]float64{}
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return [3]float64{}
	}
	return [3]float64{l.Load1, l.Load5, l.Load15}
}
