package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/backup"
	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
)

// BackupOptions configures `backup`.
type BackupOptions struct {
	F           *Factory
	Wiki        string
	Workers     int
	Batch       int
	Lease       time.Duration
	RetryErrors bool
	Metrics     MetricsOptions
}

func newBackupCmd(f *Factory, runF func(context.Context, *BackupOptions) error) *cobra.Command {
	opts := &BackupOptions{F: f}
	cmd := &cobra.Command{
		Use:   "backup [--wiki NAME] [--workers N]",
		Short: "Back up every pending file version until none is left",
		Long: `Claim pending file versions in batches and back each one up: download it,
hash it (sha1 and sha256), skip content the wiki already has (status
"duplicate"), encrypt it with age for non-public wikis, upload it to the MinIO
server its sha256 belongs to, and record where it went.

Any number of backup processes may run at once, on any hosts, against one
database: each file is claimed by one of them. A process that dies leaves its
claims, which another run takes over once their --lease has passed.

Statuses: pending (to do), processing (claimed), backedup (stored), duplicate
(same content already stored), error (failed; reason recorded; retry with
--retry-errors). A sha1 that differs from production's is retried once, then
backed up anyway and listed by 'mediabackups mismatches'.

Monitoring: --metrics-file writes Prometheus metrics for node_exporter's
textfile collector (every 30s and at the end); --metrics-listen serves them
at /metrics while the run lasts. Every successful run is recorded in the
metadata (mediabackups_last_success_timestamp_seconds). See the README,
"Monitoring".`,
		Example: `  mediabackups backup --wiki testwiki
  mediabackups backup --workers 16          # every configured wiki in turn
  mediabackups backup --wiki testwiki --retry-errors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Workers < 0 || opts.Batch < 0 {
				return withCode(ExitUsage, fmt.Errorf("--workers and --batch must not be negative"))
			}
			if err := opts.Metrics.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return backupRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name, as in the config (default: every configured wiki)")
	cmd.Flags().IntVar(&opts.Workers, "workers", 2*runtime.NumCPU(), "files processed at once")
	cmd.Flags().IntVar(&opts.Batch, "batch", 0, "files per claim (default 4 × workers)")
	cmd.Flags().DurationVar(&opts.Lease, "lease", 10*time.Minute, "how long a claim lasts if this process dies")
	cmd.Flags().BoolVar(&opts.RetryErrors, "retry-errors", false, "put files in status error back to pending first")
	addMetricsFlags(cmd, &opts.Metrics, true)
	addProfileFlags(cmd)
	return cmd
}

// BackupResult is what `backup --json` prints.
type BackupResult struct {
	Wikis map[string]backup.Stats `json:"wikis"`
	Total backup.Stats            `json:"total"`
}

// newWorkerID names this process uniquely in the claims it makes.
func newWorkerID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", hostname(), os.Getpid(), hex.EncodeToString(b))
}

func backupRun(ctx context.Context, opts *BackupOptions) error {
	f := opts.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	wikis, err := f.wikisToRun(opts.Wiki)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	servers, err := f.servers(c.Storage.Generation, "generation")
	if err != nil {
		return err
	}
	writable := servers.Writable()
	if len(writable) == 0 {
		return fmt.Errorf("no endpoint in storage.endpoints is active, so nothing can be stored: make at least one active (see `mediabackups shards`)")
	}
	// Only the servers that receive objects need the bucket: a readonly
	// one is not written to, a down one not contacted.
	for _, srv := range writable {
		if err := srv.EnsureBucket(ctx); err != nil {
			return fmt.Errorf("bucket %s on %s: %w", c.Storage.Bucket, srv.Endpoint(), err)
		}
	}
	if err := os.MkdirAll(c.TmpDir, 0o700); err != nil {
		return fmt.Errorf("tmpdir: %w", err)
	}
	worker := newWorkerID()
	log := f.Logger()
	m := metrics.New(metrics.CommandBackup, log)
	ids := make([]metrics.Wiki, len(wikis))
	for i, w := range wikis {
		id, err := s.EnsureWiki(ctx, w.Name, w.Type)
		if err != nil {
			return err
		}
		ids[i] = metrics.Wiki{Name: w.Name, ID: id}
	}
	m.WatchMetadata(ctx, s, ids...)
	stopMetrics, err := opts.Metrics.start(log, m)
	if err != nil {
		return err
	}
	defer stopMetrics()
	var total backup.Stats
	perWiki := map[string]backup.Stats{}
	for i, w := range wikis {
		for _, srv := range servers.Servers() {
			m.Storage(w.Name, srv) // its failure counter starts at zero
		}
		place := func(sha256 string) (backup.Putter, error) {
			p, err := servers.For(sha256)
			if err != nil {
				return nil, err
			}
			return m.Storage(w.Name, p), nil
		}
		started := time.Now()
		st, err := backupWiki(ctx, f, c, s, w, place, worker, opts, m.BackupProgress(w.Name))
		perWiki[w.Name] = st
		addStats(&total, st)
		if err != nil {
			if ctx.Err() != nil {
				return withCode(ExitCancelled, err)
			}
			m.Failed(metrics.CommandBackup, w.Name, err)
			return err
		}
		recordSuccess(ctx, log, s, ids[i].ID, w.Name, metrics.CommandBackup, started)
	}
	log.Debug("backup finished", "worker", worker)
	if f.JSON {
		if err := f.printJSON(BackupResult{Wikis: perWiki, Total: total}); err != nil {
			return err
		}
	} else {
		for _, w := range wikis {
			st := perWiki[w.Name]
			fmt.Fprintf(f.IO.Out, "%s: %d files: %d backed up (%s), %d duplicate, %d error, %d sha1 mismatch\n",
				w.Name, st.Files, st.BackedUp, humanBytes(st.Bytes), st.Duplicates, st.Errors, st.Mismatches)
		}
	}
	if total.Errors > 0 {
		return withCode(ExitPartial, fmt.Errorf("%d files failed: see the errors above or `mediabackups status`; retry with --retry-errors", total.Errors))
	}
	return nil
}

func backupWiki(ctx context.Context, f *Factory, c *config.Config, s *metadata.Store, w config.Wiki, place backup.Placer, worker string,
	opts *BackupOptions, counter backup.Progress) (backup.Stats, error) {
	client, err := f.wikiClient(w)
	if err != nil {
		return backup.Stats{}, err
	}
	wikiID, err := s.EnsureWiki(ctx, w.Name, w.Type)
	if err != nil {
		return backup.Stats{}, err
	}
	if opts.RetryErrors {
		n, err := s.RetryErrors(ctx, wikiID)
		if err != nil {
			return backup.Stats{}, err
		}
		fmt.Fprintf(f.IO.ErrOut, "%s: %d files in error put back to pending\n", w.Name, n)
	}
	bo := backup.Options{
		Wiki: w.Name, WikiID: wikiID, WorkerID: worker, Workers: opts.Workers, Batch: opts.Batch,
		Lease: opts.Lease, Bucket: c.Storage.Bucket, TmpDir: c.TmpDir, Logger: f.Logger(),
	}
	if w.Encrypted() {
		if bo.Recipients, err = f.recipients(); err != nil {
			return backup.Stats{}, fmt.Errorf("wiki %s is %s and must be encrypted: %w", w.Name, w.Type, err)
		}
	}
	bo.Progress = counter
	if !f.JSON {
		bo.Progress = progresses{counter, &progress{f: f, wiki: w.Name, every: 2 * time.Second, last: time.Now()}}
	}
	st, err := backup.Run(ctx, s, client, place, bo)
	if err != nil && !errors.Is(err, context.Canceled) {
		return st, fmt.Errorf("backup of %s: %w", w.Name, err)
	}
	return st, ctx.Err()
}

func addStats(t *backup.Stats, s backup.Stats) {
	t.Files += s.Files
	t.BackedUp += s.BackedUp
	t.Duplicates += s.Duplicates
	t.Errors += s.Errors
	t.Lost += s.Lost
	t.Mismatches += s.Mismatches
	t.Bytes += s.Bytes
}

// progresses passes every call to each of its elements.
type progresses []backup.Progress

func (ps progresses) FileDone(f metadata.File, status metadata.BackupStatus, bytes int64, err error) {
	for _, p := range ps {
		p.FileDone(f, status, bytes, err)
	}
}

// progress prints a line every few seconds while a backup runs.
type progress struct {
	f     *Factory
	wiki  string
	every time.Duration

	mu   sync.Mutex
	last time.Time
	st   backup.Stats
}

func (p *progress) FileDone(_ metadata.File, status metadata.BackupStatus, bytes int64, _ error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Files++
	switch status {
	case metadata.BackedUp:
		p.st.BackedUp++
		p.st.Bytes += bytes
	case metadata.Duplicate:
		p.st.Duplicates++
	case metadata.Error:
		p.st.Errors++
	}
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		fmt.Fprintf(p.f.IO.ErrOut, "backup %s: %d files done (%d backed up, %s; %d duplicate; %d error)\n",
			p.wiki, p.st.Files, p.st.BackedUp, humanBytes(p.st.Bytes), p.st.Duplicates, p.st.Errors)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
