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
hash it (sha1, sha256 and md5), skip content the wiki already has (status
"duplicate"), encrypt it with age for non-public wikis, upload it to the MinIO
server its sha256 belongs to, and record where it went.

Any number of backup processes may run at once, on any hosts, against one
database: each file is claimed by one of them. A process that dies leaves its
claims, which another run takes over once their --lease has passed.

Statuses: pending (to do), processing (claimed), backedup (stored), duplicate
(same content already stored), error (failed; reason recorded; retry with
--retry-errors), unavailable (production serves the version's bytes nowhere
right now; reason recorded; retried with --retry-errors, and on its own once
'update' records a new place for it), unreadable (the wiki refuses it to the
configured login; the reason names the right needed; each run first checks
whether the credentials now allow it, and if so makes all of them pending
again), gone (production lists it but erased its bytes: nothing to back up,
never retried). The command ends with a WARNING line for the versions it
cannot back up (also under "warnings" in --json).

A version is stored only with bytes that have its sha1. When its recorded URL
serves other bytes (the file was overwritten or moved since it was listed),
the version is fetched from where the wiki says it is now (archive URL,
deleted zone). Bytes that production serves for the version and that match no
version of the file (corruption in production) are kept under their own
sha256 and listed by 'mediabackups mismatches'.

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
	intFlag(cmd.Flags(), &opts.Workers, "workers", 2*runtime.NumCPU(), 1, maxWorkers, "files processed at once")
	intFlag(cmd.Flags(), &opts.Batch, "batch", 0, 0, 100_000, "files per claim; 0 means 4 × workers")
	durationFlag(cmd.Flags(), &opts.Lease, "lease", 10*time.Minute, backup.MinLease, 24*time.Hour,
		"how long a claim lasts if this process dies; renewed every third of it while the process lives")
	cmd.Flags().BoolVar(&opts.RetryErrors, "retry-errors", false, "put files in status error or unavailable back to pending first")
	durationFlag(cmd.Flags(), &opts.Timeout, "timeout", storage.DefaultTimeout, time.Second, time.Hour,
		"how long a MinIO server may keep a request waiting (to connect, to answer, between two pieces of an upload) before the file fails")
	durationFlag(cmd.Flags(), &opts.DBWait, "db-wait", backup.DefaultDBWait, 0, 24*time.Hour,
		"how long to wait for the database when it goes away before giving up (0: give up at once)")
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
	// Requeued counts, by wiki, the unreadable versions made pending again
	// because the credentials now allow them (backup.Recheck).
	Requeued map[string]int64 `json:"requeued"`
	// Warnings are the versions the run could not back up and why (the
	// unreadable ones); the text output ends with one WARNING line each.
	Warnings []Warning `json:"warnings"`
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
	if len(servers.Writable()) == 0 {
		return fmt.Errorf("no endpoint in storage.endpoints is active, so nothing can be stored: make at least one active (see `mediabackups shards`)")
	}
	// health holds the active servers only: a readonly one is not written
	// to (it needs no bucket check), a down one not contacted.
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
	requeued := map[string]int64{}
	warnings := []Warning{}
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
		run, err := backupWiki(ctx, f, c, s, patience, w, place, worker, opts, m.BackupProgress(w.Name))
		st := run.stats
		held = append(held, run.held...)
		perWiki[w.Name], requeued[w.Name] = st, run.requeued
		addStats(&total, st)
		if err != nil {
			if ctx.Err() != nil {
				return withCode(ExitCancelled, err)
			}
			m.Failed(metrics.CommandBackup, w.Name, err)
			return err
		}
		recordSuccess(ctx, log, s, ids[i].ID, w.Name, metrics.CommandBackup, started)
		var ws []Warning
		if err := patience.Do(ctx, func(ctx context.Context) (err error) {
			ws, err = unreadableWarnings(ctx, s, ids[i].ID, w.Name)
			return err
		}); err != nil {
			return err
		}
		warnings = append(warnings, ws...)
	}
	log.Debug("backup finished", "worker", worker)
	if f.JSON {
		if err := f.printJSON(BackupResult{Wikis: perWiki, Total: total, HeldElsewhere: held,
			ServersDown: downs.report(total), Requeued: requeued, Warnings: warnings}); err != nil {
			return err
		}
	} else {
		for _, w := range wikis {
			st := perWiki[w.Name]
			fmt.Fprintf(f.IO.Out, "%s: %s: %d backed up (%s), %d duplicate, %s, %d unavailable, %d unreadable, %d gone, %s, %d found elsewhere in production\n",
				w.Name, count(st.Files, "file"), st.BackedUp, humanBytes(st.Bytes), st.Duplicates, count(st.Errors, "error"),
				st.Unavailable, st.Unreadable, st.Gone, count(st.Mismatches, "sha1 mismatch"), st.Relocated)
		}
		for _, d := range downs.report(total) {
			fmt.Fprintf(f.IO.Out, "server %s did not answer (%s): %s not backed up (status error); "+
				"once it answers, run `mediabackups backup --retry-errors`\n", d.Endpoint, d.Error, count(d.Files, "file"))
		}
		printWarnings(f.IO.Out, warnings)
	}
	switch {
	case total.Errors > 0:
		return withCode(ExitPartial, fmt.Errorf("%s failed and %d unavailable: see the errors above or `mediabackups status`; retry with --retry-errors",
			count(total.Errors, "file"), total.Unavailable))
	case total.Unavailable > 0:
		return withCode(ExitPartial, fmt.Errorf("%s unavailable (production serves their bytes nowhere right now; the reasons are above and in "+
			"`query-media-file`): run `mediabackups update`, then `backup --retry-errors`", count(total.Unavailable, "version")))
	}
	return nil
}

// wikiBackup is what backupWiki did for one wiki.
type wikiBackup struct {
	stats    backup.Stats
	held     []HeldClaims // files other workers held when it started
	requeued int64        // unreadable versions made pending again first
}

// backupWiki backs up the pending versions of one wiki, after making its
// unreadable versions pending again if the credentials now allow it.
func backupWiki(ctx context.Context, f *Factory, c *config.Config, s *metadata.Store, patience *metadata.Patience,
	w config.Wiki, place backup.Placer, worker string, opts *BackupOptions, counter backup.Progress) (wikiBackup, error) {
	var run wikiBackup
	client, err := f.wikiClient(w)
	if err != nil {
		return run, err
	}
	var wikiID int64
	if err := patience.Do(ctx, func(ctx context.Context) (err error) {
		wikiID, err = s.EnsureWiki(ctx, w.Name, w.Type)
		return err
	}); err != nil {
		return run, err
	}
	var claims []metadata.WorkerClaims
	if err := patience.Do(ctx, func(ctx context.Context) (err error) {
		claims, err = s.HeldClaims(ctx, wikiID)
		return err
	}); err != nil {
		return run, err
	}
	run.held = reportHeldClaims(f.Logger(), w.Name, claims, time.Now())
	if err := patience.Do(ctx, func(ctx context.Context) (err error) {
		run.requeued, err = backup.Recheck(ctx, s, client, wikiID)
		return err
	}); err != nil {
		return run, fmt.Errorf("backup of %s: %w", w.Name, err)
	}
	if run.requeued > 0 {
		fmt.Fprintf(f.IO.ErrOut, "%s: the credentials now read what was unreadable: %s pending again\n", w.Name, count(run.requeued, "version"))
	}
	if opts.RetryErrors {
		var n int64
		if err := patience.Do(ctx, func(ctx context.Context) (err error) {
			n, err = s.RetryErrors(ctx, wikiID)
			return err
		}); err != nil {
			return run, err
		}
		fmt.Fprintf(f.IO.ErrOut, "%s: %s in error or unavailable put back to pending\n", w.Name, count(n, "file"))
	}
	bo := backup.Options{
		Wiki: w.Name, WikiID: wikiID, WorkerID: worker, Workers: opts.Workers, Batch: opts.Batch,
		Lease: opts.Lease, Bucket: c.Storage.Bucket, TmpDir: c.TmpDir, Logger: f.Logger(), Patience: patience,
	}
	if w.Encrypted() {
		if bo.Recipients, err = f.recipients(); err != nil {
			return run, fmt.Errorf("wiki %s is %s and must be encrypted: %w", w.Name, w.Type, err)
		}
	}
	bo.Progress = counter
	if !f.JSON {
		bo.Progress = progresses{counter, &progress{f: f, wiki: w.Name, every: 2 * time.Second, last: time.Now()}}
	}
	run.stats, err = backup.Run(ctx, s, client, place, bo)
	if err != nil && !errors.Is(err, context.Canceled) {
		return run, fmt.Errorf("backup of %s: %w", w.Name, err)
	}
	return run, ctx.Err()
}

func addStats(t *backup.Stats, s backup.Stats) {
	t.Files += s.Files
	t.BackedUp += s.BackedUp
	t.Duplicates += s.Duplicates
	t.Errors += s.Errors
	t.Unavailable += s.Unavailable
	t.Unreadable += s.Unreadable
	t.Gone += s.Gone
	t.Relocated += s.Relocated
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
	case metadata.Unavailable:
		p.st.Unavailable++
	case metadata.Unreadable:
		p.st.Unreadable++
	case metadata.Gone:
		p.st.Gone++
	}
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		fmt.Fprintf(p.f.IO.ErrOut, "backup %s: %s done (%d backed up, %s; %d duplicate; %s; %d unavailable; %d unreadable; %d gone)\n",
			p.wiki, count(p.st.Files, "file"), p.st.BackedUp, humanBytes(p.st.Bytes), p.st.Duplicates, count(p.st.Errors, "error"),
			p.st.Unavailable, p.st.Unreadable, p.st.Gone)
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
