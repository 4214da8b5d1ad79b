package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/mediabackups/mediabackups/backup"
	"github.com/mediabackups/mediabackups/storage"
)

// ServerDown is a MinIO server that did not answer during a backup.
type ServerDown struct {
	Endpoint string `json:"endpoint"`
	// Error is why it was left alone: the error of the failed bucket check
	// at start, or the last of the failures that took it down mid-run.
	Error string `json:"error"`
	// Files is how many files that go to it failed (status error).
	Files int `json:"files"`
}

// downServers remembers which servers were taken down during a run.
type downServers struct {
	mu   sync.Mutex
	errs map[string]string // endpoint: the first reason
}

// watchServers logs when a server stops answering and when it answers
// again, and remembers which ones did not answer.
func watchServers(log *slog.Logger, health []*storage.Health) *downServers {
	d := &downServers{errs: map[string]string{}}
	for _, h := range health {
		ep := h.Endpoint()
		h.OnChange(func(up bool, err *storage.DownError) {
			if up {
				log.Info("MinIO server answers again", "server", ep)
				return
			}
			d.mu.Lock()
			if _, seen := d.errs[ep]; !seen {
				d.errs[ep] = err.Cause().Error()
			}
			d.mu.Unlock()
			if err.Reason != nil {
				return // logged by checkBuckets
			}
			log.Warn("MinIO server does not answer: the files that go to it fail at once (status error) until it answers again; "+
				"then run `mediabackups backup --retry-errors`", "server", ep, "err", err.Error())
		})
	}
	return d
}

// report lists the servers that did not answer, with the files that failed
// for it (from st.ServerDown), in endpoint order.
func (d *downServers) report(st backup.Stats) []ServerDown {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []ServerDown{}
	seen := map[string]bool{}
	for ep, msg := range d.errs {
		out = append(out, ServerDown{Endpoint: ep, Error: msg, Files: st.ServerDown[ep]})
		seen[ep] = true
	}
	for ep, n := range st.ServerDown { // failed without the breaker opening
		if !seen[ep] {
			out = append(out, ServerDown{Endpoint: ep, Error: "it did not answer", Files: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Endpoint < out[j].Endpoint })
	return out
}

// checkBuckets makes sure every server has the bucket. A server that fails
// the check is taken out of use for this run (its files fail at once) and
// logged; the run goes on with the others. It fails only if no server
// passes.
func checkBuckets(ctx context.Context, health []*storage.Health, log *slog.Logger) error {
	type result struct {
		h   *storage.Health
		err error
	}
	results := make([]result, len(health))
	var wg sync.WaitGroup
	for i, h := range health {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = result{h, h.EnsureBucket(ctx)}
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.h.MarkDown(r.err)
		errs = append(errs, r.err)
		log.Warn("MinIO server failed the bucket check: the files that go to it are not backed up in this run (status error); "+
			"once it answers, run `mediabackups backup --retry-errors`", "server", r.h.Endpoint(), "err", r.err.Error())
	}
	if len(errs) == len(health) {
		return fmt.Errorf("no MinIO server passed the bucket check, nothing can be backed up: %w", errors.Join(errs...))
	}
	return nil
}
