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
	"github.com/mediabackups/mediabackups/storage"
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
	DBWait      time.Duration
	Timeout     time.Duration
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

If the database goes away (a restart, a failover, a network cut), every
database call waits for it, for up to --db-wait in all, keeping the work
done meanwhile; once it answers again the run goes on. If it stays away
longer, the run records what it can and gives its unfinished files back as
soon as the database answers (trying for one more minute), then exits 1.

Each file goes to the MinIO server its sha256 names. A server that fails the
bucket check at start, or stops answering during the run (three requests in
a row refused, reset or kept waiting longer than --timeout), is left alone:
the files that go to it fail at once with one error naming it (status
error), every other server's files are backed up, and the run ends with
exit 3 and a line per server. A server that stopped answering mid-run is
tried again every 30 s. Once it is back, run 'backup --retry-errors'.

A run that finds files claimed by another backup says so: a WARNING when
that backup is gone (killed, or no longer renewing its claims), with the
number of files and when their leases end; until then no run takes them.

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
			if opts.DBWait < 0 {
				return withCode(ExitUsage, fmt.Errorf("--db-wait must not be negative"))
			}
			if opts.Timeout <= 0 {
				return withCode(ExitUsage, fmt.Errorf("--timeout must be positive"))
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
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", storage.DefaultTimeout, "how long a MinIO server may keep a request waiting (to connect, to answer, between two pieces of an upload) before the file fails")
	cmd.Flags().DurationVar(&opts.DBWait, "db-wait", backup.DefaultDBWait, "how long to wait for the database when it goes away before giving up (0: give up at once)")
	addMetricsFlags(cmd, &opts.Metrics, true)
	addProfileFlags(cmd)
	return cmd
}

// BackupResult is what `backup --json` prints.
type BackupResult struct {
	Wikis map[string]backup.Stats `json:"wikis"`
	Total backup.Stats            `json:"total"`
	// HeldElsewhere lists the files other workers held when the run
	// started, per wiki and worker (empty when none).
	HeldElsewhere []HeldClaims `json:"claims_held_elsewhere"`
	// ServersDown lists the servers that failed the check at start or
	// stopped answering during the run (empty when none).
	ServersDown []ServerDown `json:"servers_down"`
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
	log := f.Logger()
	patience := metadata.NewPatience(opts.DBWait, log)
	var s *metadata.Store
	if err := patience.Do(ctx, func(ctx context.Context) (err error) {
		s, err = f.openStore(ctx, true)
		return err
	}); err != nil {
		return err
	}
	defer s.Close()
	servers, health, err := f.servers(c.Storage.Generation, "generation", opts.Timeout)
	if err != nil {
		return err
	}
	downs := watchServers(log, health)
	if err := checkBuckets(ctx, health, log); err != nil {
		return err
	}
	if err := os.MkdirAll(c.TmpDir, 0o700); err != nil {
		return fmt.Errorf("tmpdir: %w", err)
	}
	if n, err := backup.CleanSpool(c.TmpDir); err != nil {
		log.Warn("could not remove the spool files left by a killed backup", "tmpdir", c.TmpDir, "err", err.Error())
	} else if n > 0 {
		log.Info("removed the spool files left by a killed backup", "tmpdir", c.TmpDir, "files", n)
	}
	worker := newWorkerID()
	m := metrics.New(metrics.CommandBackup, log)
	ids := make([]metrics.Wiki, len(wikis))
	for i, w := range wikis {
		var id int64
		if err := patience.Do(ctx, func(ctx context.Context) (err error) {
			id, err = s.EnsureWiki(ctx, w.Name, w.Type)
			return err
		}); err != nil {
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
	held := []HeldClaims{}
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
		st, h, err := backupWiki(ctx, f, c, s, patience, w, place, worker, opts, m.BackupProgress(w.Name))
		held = append(held, h...)
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
		if err := f.printJSON(BackupResult{Wikis: perWiki, Total: total, HeldElsewhere: held, ServersDown: downs.report(total)}); err != nil {
			return err
		}
	} else {
		for _, w := range wikis {
			st := perWiki[w.Name]
			fmt.Fprintf(f.IO.Out, "%s: %d files: %d backed up (%s), %d duplicate, %d error, %d sha1 mismatch\n",
				w.Name, st.Files, st.BackedUp, humanBytes(st.Bytes), st.Duplicates, st.Errors, st.Mismatches)
		}
		for _, d := range downs.report(total) {
			fmt.Fprintf(f.IO.Out, "server %s did not answer (%s): %d files not backed up (status error); "+
				"once it answers, run `mediabackups backup --retry-errors`\n", d.Endpoint, d.Error, d.Files)
		}
	}
	if total.Errors > 0 {
		return withCode(ExitPartial, fmt.Errorf("%d files failed: see the errors above or `mediabackups status`; retry with --retry-errors", total.Errors))
	}
	return nil
}

func backupWiki(ctx context.Context, f *Factory, c *config.Config, s *metadata.Store, patience *metadata.Patience,
	w config.Wiki, place backup.Placer, worker string, opts *BackupOptions, counter backup.Progress) (backup.Stats, []HeldClaims, error) {
	client, err := f.wikiClient(w)
	if err != nil {
		return backup.Stats{}, nil, err
	}
	var wikiID int64
	if err := patience.Do(ctx, func(ctx context.Context) (err error) {
		wikiID, err = s.EnsureWiki(ctx, w.Name, w.Type)
		return err
	}); err != nil {
		return backup.Stats{}, nil, err
	}
	var claims []metadata.WorkerClaims
	if err := patience.Do(ctx, func(ctx context.Context) (err error) {
		claims, err = s.HeldClaims(ctx, wikiID)
		return err
	}); err != nil {
		return backup.Stats{}, nil, err
	}
	held := reportHeldClaims(f.Logger(), w.Name, claims, time.Now())
	if opts.RetryErrors {
		var n int64
		if err := patience.Do(ctx, func(ctx context.Context) (err error) {
			n, err = s.RetryErrors(ctx, wikiID)
			return err
		}); err != nil {
			return backup.Stats{}, held, err
		}
		fmt.Fprintf(f.IO.ErrOut, "%s: %d files in error put back to pending\n", w.Name, n)
	}
	bo := backup.Options{
		Wiki: w.Name, WikiID: wikiID, WorkerID: worker, Workers: opts.Workers, Batch: opts.Batch,
		Lease: opts.Lease, Bucket: c.Storage.Bucket, TmpDir: c.TmpDir, Logger: f.Logger(), Patience: patience,
	}
	if w.Encrypted() {
		if bo.Recipients, err = f.recipients(); err != nil {
			return backup.Stats{}, held, fmt.Errorf("wiki %s is %s and must be encrypted: %w", w.Name, w.Type, err)
		}
	}
	bo.Progress = counter
	if !f.JSON {
		bo.Progress = progresses{counter, &progress{f: f, wiki: w.Name, every: 2 * time.Second, last: time.Now()}}
	}
	st, err := backup.Run(ctx, s, client, place, bo)
	if err != nil && !errors.Is(err, context.Canceled) {
		return st, held, fmt.Errorf("backup of %s: %w", w.Name, err)
	}
	return st, held, ctx.Err()
}

func addStats(t *backup.Stats, s backup.Stats) {
	t.Files += s.Files
	t.BackedUp += s.BackedUp
	t.Duplicates += s.Duplicates
	t.Errors += s.Errors
	t.Lost += s.Lost
	t.GivenBack += s.GivenBack
	for ep, n := range s.ServerDown {
		if t.ServerDown == nil {
			t.ServerDown = map[string]int{}
		}
		t.ServerDown[ep] += n
	}
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
