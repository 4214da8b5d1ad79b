// Package backup runs the backup workers: it claims pending file versions
// from the metadata store, downloads each from production, hashes it with
// sha1, sha256 and md5 in one pass, skips content the wiki already has,
// encrypts it for non-public wikis, uploads it to the MinIO server its
// sha256 shards to, and records the result.
//
// # Guarantees
//
// Every file is claimed by one worker at a time (see metadata.Store.Claim);
// a worker that dies leaves claims that another takes over once their lease
// ends. A result is recorded only after the object is stored and verified by
// the server's checksum, so a crash between the two costs a re-upload of the
// same bytes under the same name, never a record without an object. Each
// failure is recorded on the file with its reason (status error) and can be
// retried; it never stops the other files. A file whose server does not
// answer fails with a *ServerDownError; the others go on.
//
// Two outcomes are not failures and are never retried as errors: a version
// the wiki refuses to the configured login is recorded as unreadable with
// the right it needs (Recheck makes such versions pending again once the
// credentials allow), and a version the wiki lists but whose bytes it
// answers 404 for (erased, e.g. by eraseArchivedFile.php) is recorded as
// gone.
//
// A database that goes away does not end a run: every call waits for it
// (Options.Patience) while the files done meanwhile wait to be recorded. A
// run that gives up records what it can and gives its claims back once the
// database answers; a file stopped only by the outage is never recorded as
// an error.
//
// Downloads larger than the memory limit are spooled to files without a
// name, which vanish with the process however it ends; for encrypted wikis
// they are encrypted with a key held only in memory (see spoolfile.go).
//
// A version's content is stored only if its sha1 is the version's sha1.
// When the recorded place serves other bytes (the file was overwritten,
// moved or deleted after it was listed, and `update` has not recorded that
// yet), the worker asks the wiki where the version is now and fetches it
// from there (see fetchVersion). When no place serves it, the version is
// recorded as unavailable, with where it looked, and retried later; it is
// never recorded with another version's bytes. Only bytes that production
// itself serves for the version and that match no version the wiki knows
// of the file (corruption in production) are kept with another sha1, under
// their own sha256, and listed by `mediabackups mismatches`.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// Store is the metadata the workers need.
type Store interface {
	Claim(ctx context.Context, wikiID int64, worker string, n int, lease time.Duration) ([]metadata.File, error)
	RenewLease(ctx context.Context, worker string, ids []int64, lease time.Duration) error
	ReleaseClaims(ctx context.Context, wikiID int64, worker string) (int64, error)
	FindBackup(ctx context.Context, wikiID int64, sha256 string) (*metadata.Backup, error)
	Record(ctx context.Context, worker string, results []metadata.Result) (map[int64]metadata.BackupStatus, error)
	EnsureLocation(ctx context.Context, endpoint string) (int64, error)
}

// Fetcher downloads production bytes of a wiki, and asks the wiki where a
// version is when its recorded place serves other bytes.
type Fetcher interface {
	Finder
	Downloader
}

// Downloader downloads production bytes of a wiki, by kind of version.
type Downloader interface {
	Download(ctx context.Context, url string) (io.ReadCloser, int64, error)
	DownloadDeleted(ctx context.Context, title, storageKey string) (io.ReadCloser, int64, error)
	// DownloadHidden fetches a revision-deleted old version by archive name.
	DownloadHidden(ctx context.Context, title, archiveName string) (io.ReadCloser, int64, error)
}

// Putter stores objects on one server.
type Putter interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error)
	Endpoint() string
}

// Placer returns the server an object with the given sha256 goes to.
type Placer func(sha256hex string) (Putter, error)

// Progress receives one call per finished file: the file with the status
// recorded (empty when the claim was lost before the result could be
// recorded) and, when it was stored as a new object, that object (Backup:
// server and stored size; a content that two files uploaded at once is
// recorded, and reported, once); the size of the file as downloaded; and
// for a failure (status error) its error, which wraps a *StepError, or for
// a version that cannot be backed up (unreadable, gone) the reason
// recorded. It must be safe for concurrent use.
type Progress interface {
	FileDone(f metadata.File, status metadata.BackupStatus, bytes int64, err error)
}

type noProgress struct{}

func (noProgress) FileDone(metadata.File, metadata.BackupStatus, int64, error) {}

// Options configures a Run.
type Options struct {
	Wiki     string // wiki name, used in object names
	WikiID   int64
	WorkerID string // unique per process: host, pid and a random part
	// Workers is how many files are downloaded (and hashed, checked and,
	// when small, encrypted) at once, and also how many are uploaded at
	// once: the two stages overlap. Default 4.
	Workers int
	// Batch is how many files one claim takes; default 4 × Workers.
	Batch int
	// Lease is how long a claim is held without renewal; claims are renewed
	// every Lease/3 while the process lives. Default 10 minutes.
	Lease time.Duration
	// Bucket all objects go to.
	Bucket string
	// Recipients: when non-empty, objects are age-encrypted to them.
	Recipients []age.Recipient
	// TmpDir holds downloads larger than MemoryLimit while they are
	// processed, in files without a name that vanish with the process; for
	// encrypted wikis they are encrypted with a key held only in memory.
	// At most 3 × Workers files are held at once (being downloaded, waiting,
	// being uploaded), so memory stays under about 3 × Workers × 3 ×
	// MemoryLimit (plain and encrypted copies of small files) plus one
	// 16 MiB upload part per large file.
	TmpDir      string
	MemoryLimit int64 // default 8 MiB
	Logger      *slog.Logger
	Progress    Progress
	// Patience carries every database call of the run through an outage
	// (see metadata.Patience); nil: NewPatience(DefaultDBWait, Logger).
	// Share it with the calls made before Run so that they count one
	// outage together.
	Patience *metadata.Patience
}

// DefaultDBWait is how long a backup waits for a database that went away
// before it gives up: long enough for a restart or a failover, short
// enough that a real outage ends the run while the operator still looks.
const DefaultDBWait = 3 * time.Minute

// giveBackWait is how long a run that stops early (interrupted, or the
// database gone for longer than its Patience) keeps trying to record what
// it finished and to give back the files it still holds.
const giveBackWait = time.Minute

// Stats counts the outcome of a Run.
type Stats struct {
	Files      int `json:"files"`
	BackedUp   int `json:"backedup"`
	Duplicates int `json:"duplicate"`
	Errors     int `json:"error"`
	// Unavailable versions: production serves their bytes nowhere now.
	Unavailable int `json:"unavailable"`
	// Unreadable versions: the wiki refuses their bytes to the configured
	// login (not failures; see Recheck).
	Unreadable int `json:"unreadable"`
	// Gone versions: production erased their bytes (not failures).
	Gone int `json:"gone"`
	Lost int `json:"lost_claims"`
	// GivenBack counts the files this run claimed but did not finish, and
	// handed back as pending when it stopped early.
	GivenBack int `json:"given_back"`
	// Relocated versions were fetched from where production serves them
	// now (an archive URL, the deleted zone), not the recorded place.
	Relocated int `json:"relocated"`
	// Mismatches are versions whose bytes production itself serves with
	// another sha1 (corruption in production), kept under their sha256.
	Mismatches int   `json:"sha1_mismatches"`
	Bytes      int64 `json:"bytes"`
	// ServerDown counts, by server endpoint, the files that failed (status
	// error) because their server did not answer.
	ServerDown map[string]int `json:"server_down,omitempty"`
}

// ServerDownError is the error of a file whose server did not answer
// (storage.Unreachable): one error naming the server and saying what to
// do, however the server failed.
type ServerDownError struct {
	Endpoint string
	Err      error
}

func (e *ServerDownError) Error() string {
	return e.Err.Error() + "; once the server answers again, back the file up with `mediabackups backup --retry-errors`"
}

func (e *ServerDownError) Unwrap() error { return e.Err }

// Run processes pending files of one wiki until none is left that this
// process can claim, and returns what it did. It returns early, with the
// work done so far recorded, when ctx is cancelled: files in progress are
// given back as pending (or, if the database does not answer, return when
// their claims expire) and nothing half-done is recorded.
//
// A Lease shorter than MinLease (zero aside, which means the default) is
// an error: claims are renewed every third of it, to the second.
func Run(ctx context.Context, store Store, fetch Fetcher, place Placer, opts Options) (Stats, error) {
	if opts.Lease != 0 && opts.Lease < MinLease {
		return Stats{}, fmt.Errorf("backup: a lease of %s is shorter than the minimum, %s", opts.Lease, MinLease)
	}
	opts.defaults()
	ps := patientStore{store, opts.Patience}
	r := &runner{store: ps, objects: ps, fetch: fetch, place: place, opts: opts,
		locations: map[string]int64{}, inflight: map[int64]metadata.File{}}
	return r.run(ctx)
}

// MinLease is the shortest Options.Lease: claims are renewed every third
// of it, and the database keeps lease ends to the second.
const MinLease = 3 * time.Second

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Batch <= 0 {
		o.Batch = 4 * o.Workers
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Minute
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = 8 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	if o.Patience == nil {
		o.Patience = metadata.NewPatience(DefaultDBWait, o.Logger)
	}
}

// objectStore is the part of the metadata that storing objects needs.
type objectStore interface {
	FindBackup(ctx context.Context, wikiID int64, sha256 string) (*metadata.Backup, error)
	EnsureLocation(ctx context.Context, endpoint string) (int64, error)
}

type runner struct {
	store   patientStore
	objects objectStore
	fetch   Fetcher
	place   Placer
	opts    Options

	mu        sync.Mutex
	locations map[string]int64
	inflight  map[int64]metadata.File
	stats     Stats
	// dbErr is the first database failure that left a file unfinished
	// (see flush), and dbSkipped how many files it did so to.
	dbErr     error
	dbSkipped int
}

type outcome struct {
	file      metadata.File
	result    metadata.Result
	relocated bool
}

func (r *runner) run(ctx context.Context) (Stats, error) {
	jobs := make(chan metadata.File, r.opts.Batch)
	results := make(chan outcome, r.opts.Batch)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Claimer: keeps the queue filled until a claim comes back empty.
	claimErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		for {
			files, err := r.store.Claim(ctx, r.opts.WikiID, r.opts.WorkerID, r.opts.Batch, r.opts.Lease)
			if err != nil {
				claimErr <- err
				return
			}
			if len(files) == 0 {
				claimErr <- nil
				return
			}
			r.mu.Lock()
			for _, f := range files {
				r.inflight[f.ID] = f
			}
			r.mu.Unlock()
			for _, f := range files {
				select {
				case jobs <- f:
				case <-ctx.Done():
					claimErr <- nil
					return
				}
			}
		}
	}()

	// Lease renewer.
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		t := time.NewTicker(r.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.mu.Lock()
				ids := make([]int64, 0, len(r.inflight))
				for id := range r.inflight {
					ids = append(ids, id)
				}
				r.mu.Unlock()
				if err := r.store.RenewLease(ctx, r.opts.WorkerID, ids, r.opts.Lease); err != nil && ctx.Err() == nil {
					r.opts.Logger.Warn("renewing leases failed; will retry", "err", err)
				}
			}
		}
	}()

	// The pipeline: Workers fetchers download, hash, check for duplicates
	// and encrypt small files, while Workers uploaders send what the
	// fetchers prepared, so downloads and uploads overlap instead of each
	// file waiting for the one before it. At most Workers prepared files
	// wait between the stages; larger ones wait in TmpDir, not in memory.
	ready := make(chan prepared, r.opts.Workers)
	var fetchers, uploaders sync.WaitGroup
	for range r.opts.Workers {
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			for f := range jobs {
				p := r.prepare(ctx, f)
				select {
				case ready <- p:
				case <-ctx.Done():
					p.close()
					return // abandoned: the claim expires, nothing half-done is recorded
				}
			}
		}()
	}
	go func() { fetchers.Wait(); close(ready) }()
	for range r.opts.Workers {
		uploaders.Add(1)
		go func() {
			defer uploaders.Done()
			for p := range ready {
				res := r.finish(ctx, p)
				if ctx.Err() != nil {
					continue // abandoned; keep draining so fetchers can close their spools
				}
				select {
				case results <- outcome{p.file, res, p.relocated}:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() { uploaders.Wait(); close(results) }()

	// Recorder: batches results into one transaction per second or per batch.
	unrecorded, recErr := r.record(ctx, results)
	interrupted := ctx.Err() != nil
	cancel(nil)
	<-renewDone
	fetchers.Wait()
	uploaders.Wait()
	err := errors.Join(recErr, <-claimErr)
	r.mu.Lock()
	if err == nil && r.dbErr != nil {
		err = fmt.Errorf("%d files could not be finished: %w", r.dbSkipped, r.dbErr)
	}
	r.mu.Unlock()
	if interrupted || err != nil || len(unrecorded) > 0 {
		wait := giveBackWait
		if interrupted {
			wait = 30 * time.Second // the operator asked it to stop: do not linger
		}
		r.giveBack(context.WithoutCancel(ctx), unrecorded, wait)
	} else {
		// A claim whose commit was cut off by a lost connection may have
		// been made without this run hearing of it: give such files back.
		r.releaseUnknown(context.WithoutCancel(ctx))
	}
	if err == nil && context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
		err = context.Cause(ctx)
	}
	return r.stats, err
}

// giveBack ends a run that stopped early: it records the results the
// recorder could not write (the database was gone) and gives every file
// this worker still holds back as pending, so that the next run need not
// wait for their leases to end. It keeps trying for giveBackWait, so that
// a database that comes back soon after the run gave up still hears of it.
func (r *runner) giveBack(ctx context.Context, unrecorded []outcome, wait time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	// A Patience of its own: the run's has given up on this outage.
	p := patientStore{r.store.s, metadata.NewPatience(wait, r.opts.Logger)}
	if len(unrecorded) > 0 {
		if err := r.flush(ctx, p, unrecorded); err != nil {
			r.opts.Logger.Warn("could not record finished files; the next run backs them up again (same objects, same names)",
				"files", len(unrecorded), "err", err.Error())
		} else {
			r.opts.Logger.Info("recorded the files finished before the run stopped", "files", len(unrecorded))
		}
	}
	n, err := p.ReleaseClaims(ctx, r.opts.WikiID, r.opts.WorkerID)
	if err != nil {
		r.opts.Logger.Warn("could not give back the unfinished files; they return to the next run when their lease ends",
			"lease", r.opts.Lease.String(), "err", err.Error())
		return
	}
	r.stats.GivenBack += int(n)
	if n > 0 {
		r.opts.Logger.Info("gave back unfinished files for the next run", "files", n)
	}
}

// releaseUnknown gives back files this worker holds but never heard of
// (see run); normally there are none.
func (r *runner) releaseUnknown(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := r.store.ReleaseClaims(ctx, r.opts.WikiID, r.opts.WorkerID)
	if err != nil {
		r.opts.Logger.Warn("could not check for unfinished claims; any return after their lease", "err", err.Error())
		return
	}
	if n > 0 {
		r.stats.GivenBack += int(n)
		r.opts.Logger.Warn("gave back files claimed while the database connection broke", "files", n)
	}
}

// record writes results as they come, in one transaction per second or
// per Batch results, until results is closed or a write fails. It returns
// the results it could not write, with the error, when the database was
// unreachable for longer than the run's Patience.
func (r *runner) record(ctx context.Context, results <-chan outcome) ([]outcome, error) {
	var pending []outcome
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := func() ([]outcome, error) {
		if len(pending) == 0 {
			return nil, nil
		}
		// Recording must not be cut short half-way by a cancel: what is done is written.
		if err := r.flush(context.WithoutCancel(ctx), r.store, pending); err != nil {
			if errors.Is(err, metadata.ErrGaveUp) {
				return pending, err
			}
			return nil, err
		}
		pending = pending[:0]
		return nil, nil
	}
	for {
		select {
		case o, ok := <-results:
			if !ok {
				return flush()
			}
			pending = append(pending, o)
			if len(pending) >= r.opts.Batch {
				if left, err := flush(); err != nil {
					return left, err
				}
			}
		case <-tick.C:
			if left, err := flush(); err != nil {
				return left, err
			}
		}
	}
}

// doneFile is the file of an outcome as recorded with status st: with the
// new object, for one stored as one.
func doneFile(o outcome, st metadata.BackupStatus) metadata.File {
	f := o.file
	f.BackupStatus = st
	if st == metadata.BackedUp {
		f.Backup = o.result.Backup
	}
	return f
}

// flush records one batch of results through store and counts them. A
// file that failed only because the database was unreachable is not
// recorded as an error: it stays claimed, and is given back at the end of
// the run (giveBack, releaseUnknown) for the next run to take.
func (r *runner) flush(ctx context.Context, store Store, pending []outcome) error {
	batch := make([]metadata.Result, 0, len(pending))
	kept := pending[:0:0]
	for _, o := range pending {
		if errors.Is(o.result.Err, metadata.ErrGaveUp) {
			r.mu.Lock()
			r.dbSkipped++
			if r.dbErr == nil {
				r.dbErr = o.result.Err
			}
			r.mu.Unlock()
			continue
		}
		batch = append(batch, o.result)
		kept = append(kept, o)
	}
	pending = kept
	if len(batch) == 0 {
		return nil
	}
	statuses, err := store.Record(ctx, r.opts.WorkerID, batch)
	lost := errors.Is(err, metadata.ErrLostClaim)
	if err != nil && !lost {
		return fmt.Errorf("record %d results (their objects are stored under their content names: a later run records them, "+
			"re-uploading the same bytes under the same names): %w", len(batch), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range pending {
		delete(r.inflight, o.file.ID)
		st, ok := statuses[o.file.ID]
		r.stats.Files++
		switch {
		case !ok:
			r.stats.Lost++
			r.opts.Logger.Warn("claim lost before the result was recorded", "title", o.file.Title, "id", o.file.ID)
		case st == metadata.BackedUp:
			r.stats.BackedUp++
			r.stats.Bytes += o.result.Size
		case st == metadata.Duplicate:
			r.stats.Duplicates++
		case st == metadata.Unavailable:
			r.stats.Unavailable++
		case st == metadata.Unreadable:
			r.stats.Unreadable++
		case st == metadata.Gone:
			r.stats.Gone++
		case st == metadata.Error:
			r.stats.Errors++
			var down *ServerDownError
			if errors.As(o.result.Err, &down) {
				if r.stats.ServerDown == nil {
					r.stats.ServerDown = map[string]int{}
				}
				r.stats.ServerDown[down.Endpoint]++
			}
		}
		if o.result.DownloadedSHA1 != "" && ok {
			r.stats.Mismatches++
		}
		if o.relocated && ok && o.result.Err == nil {
			r.stats.Relocated++
		}
		r.opts.Progress.FileDone(doneFile(o, st), st, o.result.Size, o.result.Err)
	}
	return nil
}

// prepared is a file between the two stages: downloaded, hashed and
// checked for duplicates, and encrypted if it is small and must be; or the
// error that stopped it.
type prepared struct {
	file   metadata.File
	result metadata.Result
	err    error
	// upload is false for duplicates and failures: nothing to send.
	upload bool
	// relocated: the bytes came from another place than the recorded one.
	relocated bool
	plain     *spool // the downloaded bytes
	cipher    *spool // their encryption, for small files of encrypted wikis
}

func (p *prepared) close() {
	if p.plain != nil {
		p.plain.Close()
	}
	if p.cipher != nil {
		p.cipher.Close()
	}
}

// prepare does the first stage for one file: download, hash, dedup check,
// encryption of small files.
func (r *runner) prepare(ctx context.Context, f metadata.File) prepared {
	p := prepared{file: f}
	p.result, p.err = r.prepareErr(ctx, &p)
	if se := (*StepError)(nil); p.err != nil && !errors.As(p.err, &se) {
		p.err = &StepError{Step: StepDownload, Err: p.err} // the steps after the download tag their own
	}
	if p.err != nil {
		p.close()
		p.plain, p.cipher, p.upload = nil, nil, false
	}
	return p
}

// finish does the second stage, the upload, and describes the outcome; it
// never returns a partial success.
func (r *runner) finish(ctx context.Context, p prepared) metadata.Result {
	defer p.close()
	res, err := p.result, p.err
	if err == nil && p.upload {
		res.Backup, err = r.upload(ctx, &p)
	}
	if err != nil {
		// A file stopped by the database outage is not a failure of its
		// own: the outage is logged once, and the file is given back.
		// Nor is one whose server is known to be down: that is logged once
		// per server (by whoever watches the storage.Health); the file's
		// error is recorded all the same. Unreadable and gone versions are
		// not failures: they are recorded as such, with their reason.
		err = Classify(err)
		switch {
		case ctx.Err() != nil || errors.Is(err, metadata.ErrGaveUp):
		case errors.Is(err, metadata.ErrUnreadable):
			r.opts.Logger.Warn("unreadable with these credentials; recorded as unreadable", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "reason", err)
		case errors.Is(err, metadata.ErrGone):
			r.opts.Logger.Warn("erased in production: nothing to back up; recorded as gone", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "reason", err)
		case errors.Is(err, storage.ErrUnavailable):
			r.opts.Logger.Debug("backup failed", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "err", err)
		case errors.Is(err, metadata.ErrUnavailable):
			r.opts.Logger.Warn("version unavailable: production serves its bytes nowhere now; recorded as unavailable",
				"wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "reason", err)
		default:
			r.opts.Logger.Error("backup failed", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "err", err)
		}
		return metadata.Result{FileID: p.file.ID, Err: err}
	}
	return res
}

// GoneReason is the reason recorded for a version that production lists
// but whose bytes it no longer has.
const GoneReason = "erased in production: the wiki lists the version but answered 404 Not Found for its bytes (eraseArchivedFile.php leaves it listed)"

// Classify marks the failure err of a file's backup for Record when it is
// not a failure: metadata.ErrGone, with GoneReason, when production
// answered 404 for the bytes of a version it lists (mediawiki.ErrGone);
// metadata.ErrUnreadable, with the right the login lacks as the reason,
// when the wiki refused them (mediawiki.ErrPermission). Any other error is
// returned as it is.
func Classify(err error) error {
	var re *mediawiki.RightError
	switch {
	case errors.Is(err, mediawiki.ErrGone):
		return metadata.Mark(metadata.ErrGone, errors.New(GoneReason))
	case errors.As(err, &re):
		return metadata.Mark(metadata.ErrUnreadable, re)
	case errors.Is(err, mediawiki.ErrPermission):
		return metadata.Mark(metadata.ErrUnreadable, fmt.Errorf("the wiki refused it to the configured login: %w", err))
	}
	return err
}

func (r *runner) prepareErr(ctx context.Context, p *prepared) (metadata.Result, error) {
	f := p.file
	got, err := r.fetchVersion(ctx, f)
	if err != nil {
		return metadata.Result{}, err
	}
	sp := got.sp
	p.plain = sp
	p.relocated = got.from != ""
	res := metadata.Result{FileID: f.ID, SHA1: sp.SHA1(), SHA256: sp.SHA256(), MD5: sp.MD5(), Size: sp.Size()}
	switch {
	case got.corrupt:
		r.opts.Logger.Warn("sha1 mismatch: production serves bytes that match no version of the file; kept under their own sha256 "+
			"and listed by `mediabackups mismatches`", "title", f.Title, "production_sha1", f.SHA1, "downloaded_sha1", res.SHA1, "place", got.from)
		res.DownloadedSHA1 = res.SHA1
	case got.from != "":
		r.opts.Logger.Info("the version's bytes were found elsewhere in production", "title", f.Title,
			"uploaded", f.UploadDate.Format(time.RFC3339), "place", got.from)
	}
	if _, err := r.objects.FindBackup(ctx, f.WikiID, res.SHA256); err == nil {
		return res, nil // duplicate: this wiki already has the content
	} else if !errors.Is(err, metadata.ErrNotFound) {
		return metadata.Result{}, &StepError{Step: StepMetadata, Err: fmt.Errorf("dedup check: %w", err)}
	}
	p.upload = true
	if err := r.seal(p); err != nil {
		return metadata.Result{}, err
	}
	return res, nil
}

// seal encrypts p's bytes into memory when they are small and the wiki's
// objects are encrypted, so that the upload has a known size and a
// checksum of the exact bytes stored. Large ones are encrypted as they
// stream (see upload).
func (r *runner) seal(p *prepared) error {
	sp, f := p.plain, p.file
	if len(r.opts.Recipients) > 0 && sp.Size() <= r.opts.MemoryLimit {
		// Small: encrypt into memory so the upload has a known size and
		// a checksum of the exact bytes stored.
		ct := newCipherSpool(r.opts.TmpDir, r.opts.MemoryLimit*2)
		ct.expect(sp.Size() + sp.Size()/64 + 1024) // age adds 16 bytes per 64 KiB and a header
		p.cipher = ct
		w, err := encryption.Encrypt(ct, r.opts.Recipients...)
		if err == nil {
			_, err = io.Copy(w, sp.Reader())
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return &StepError{Step: StepEncrypt, Err: fmt.Errorf("encrypt %s: %w", f.Title, err)}
		}
	}
	return nil
}

func (r *runner) upload(ctx context.Context, p *prepared) (*metadata.Backup, error) {
	res, sp := p.result, p.plain
	encrypted := len(r.opts.Recipients) > 0
	key, err := storage.ObjectKey(r.opts.Wiki, res.SHA256, encrypted)
	if err != nil {
		return nil, &StepError{Step: StepUpload, Err: err}
	}
	srv, err := r.place(res.SHA256)
	if err != nil {
		return nil, &StepError{Step: StepUpload, Err: fmt.Errorf("choose a server for %s: %w", key, err)}
	}
	var (
		body   io.Reader = sp.Reader()
		size             = sp.Size()
		want             = sp.SHA256Raw()
		closer io.Closer
	)
	switch {
	case p.cipher != nil:
		body, size, want = p.cipher.Reader(), p.cipher.Size(), p.cipher.SHA256Raw()
	case encrypted:
		// Large: stream; the server verifies a checksum of each part.
		rc := encryption.EncryptReader(body, r.opts.Recipients...)
		body, size, want, closer = rc, -1, nil, rc
	}
	if closer != nil {
		defer closer.Close()
	}
	stored, err := srv.Put(ctx, key, body, size, want)
	if err != nil {
		err = &StepError{Step: StepUpload, Err: err} // it names the key and the server
		if storage.Unreachable(err) && ctx.Err() == nil {
			return nil, &ServerDownError{Endpoint: srv.Endpoint(), Err: err}
		}
		return nil, err
	}
	loc, err := r.location(ctx, srv.Endpoint())
	if err != nil {
		return nil, &StepError{Step: StepMetadata, Err: err}
	}
	return &metadata.Backup{
		SHA256: res.SHA256, SHA1: res.SHA1, Size: res.Size, LocationID: loc, Location: srv.Endpoint(),
		Bucket: r.opts.Bucket, ObjectKey: key, Encrypted: encrypted, StoredSize: stored,
	}, nil
}

func (r *runner) location(ctx context.Context, endpoint string) (int64, error) {
	r.mu.Lock()
	id, ok := r.locations[endpoint]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := r.objects.EnsureLocation(ctx, endpoint)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.locations[endpoint] = id
	r.mu.Unlock()
	return id, nil
}
