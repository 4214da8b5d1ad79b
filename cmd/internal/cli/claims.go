package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// HeldClaims is one worker's files that a starting backup found claimed
// under a live lease: it cannot take them before LeaseEnds.
type HeldClaims struct {
	Wiki   string `json:"wiki"`
	Worker string `json:"worker"`
	Files  int    `json:"files"`
	// State of the worker: "gone" (its process on this host no longer
	// runs), "running" (it does), "stalled" (on another host, and it has
	// not renewed its claims for longer than a live worker would), or
	// "active" (on another host, renewing).
	State         string    `json:"state"`
	LeaseEnds     time.Time `json:"lease_ends"`      // the first lease to end
	LastLeaseEnds time.Time `json:"last_lease_ends"` // the last
	Renewed       time.Time `json:"renewed"`         // its last claim or renewal
}

// Worker states of HeldClaims.
const (
	workerGone    = "gone"
	workerRunning = "running"
	workerStalled = "stalled"
	workerActive  = "active"
)

// parseWorkerID splits a worker id made by newWorkerID, host:pid:random.
func parseWorkerID(id string) (host string, pid int, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return "", 0, false
	}
	j := strings.LastIndexByte(id[:i], ':')
	if j < 0 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(id[j+1 : i])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return id[:j], pid, true
}

// processRuns reports whether a process with this pid exists on this host.
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// workerState says what is known of the worker that holds c, from this
// host at now.
func workerState(c metadata.WorkerClaims, thisHost string, now time.Time) string {
	if host, pid, ok := parseWorkerID(c.Worker); ok && host == thisHost {
		if processRuns(pid) {
			return workerRunning
		}
		return workerGone
	}
	// A live worker renews every third of its lease; the lease is about
	// LastLeaseEnd - Renewed. A minute of slack covers a slow renewal.
	lease := c.LastLeaseEnd.Sub(c.Renewed)
	if now.Sub(c.Renewed) > lease/3+time.Minute {
		return workerStalled
	}
	return workerActive
}

// reportHeldClaims logs the claims other workers hold on a wiki: a WARNING
// for those of a worker that is gone or stalled (their files wait for the
// lease to end), INFO for those of a worker that runs.
func reportHeldClaims(log *slog.Logger, wiki string, claims []metadata.WorkerClaims, now time.Time) []HeldClaims {
	var out []HeldClaims
	host := hostname()
	for _, c := range claims {
		h := HeldClaims{Wiki: wiki, Worker: c.Worker, Files: c.Files, State: workerState(c, host, now),
			LeaseEnds: c.FirstLeaseEnd, LastLeaseEnds: c.LastLeaseEnd, Renewed: c.Renewed}
		out = append(out, h)
		attrs := []any{"wiki", wiki, "worker", c.Worker, "files", c.Files,
			"leases_end", fmt.Sprintf("%s to %s", c.FirstLeaseEnd.UTC().Format(time.DateTime), c.LastLeaseEnd.UTC().Format(time.DateTime+" MST")),
			"in", c.FirstLeaseEnd.Sub(now).Round(time.Second).String()}
		switch h.State {
		case workerGone:
			log.Warn("files are still claimed by a backup that is no longer running (killed?): "+
				"no run can take them before their leases end; then the next backup does", attrs...)
		case workerStalled:
			log.Warn("files are claimed by a backup that has stopped renewing its claims (dead, hung or cut off?): "+
				"no run can take them before their leases end; then the next backup does",
				append(attrs, "last_renewed", c.Renewed.UTC().Format(time.DateTime+" MST"))...)
		default:
			log.Info("files are being backed up by another process", attrs...)
		}
	}
	return out
}
