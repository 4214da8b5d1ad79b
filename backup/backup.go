// Package backup runs the backup workers: it claims pending file versions
// from the metadata store, downloads each from production, hashes it with
// sha1 and sha256 in one pass, skips content the wiki already has, encrypts
// it for non-public wikis, uploads it to the MinIO server its sha256 shards
// to, and records the result.
//
// # Guarantees
//
// Every file is claimed by one worker at a time (see metadata.Store.Claim);
// a worker that dies leaves claims that another takes over once their lease
// ends. A result is recorded only after the object is stored and verified by
// the server's checksum, so a crash between the two costs a re-upload of the
// same bytes under the same name, never a record without an object. Each
// failure is recorded on the file with its reason (status error) and can be
// retried; it never stops the other files.
//
// Two outcomes are not failures and are never retried as errors: a version
// the wiki refuses to the configured login is recorded as unreadable with
// the right it needs (Recheck makes such versions pending again once the
// credentials allow), and a version the wiki lists but whose bytes it
// answers 404 for (erased, e.g. by eraseArchivedFile.php) is recorded as
// gone.
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
	ReleaseClaims(ctx context.Context, worker string) (int64, error)
	FindBackup(ctx context.Context, wikiID int64, sha256 string) (*metadata.Backup, error)
	Record(ctx context.Context, worker string, results []metadata.Result) (map[int64]metadata.BackupStatus, error)
	EnsureLocation(ctx context.Context, endpoint string) (int64, error)
}

// Fetcher downloads production bytes of a wiki.
type Fetcher interface {
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
	// TmpDir holds downloads larger than MemoryLimit while they are processed.
	// At most 3 × Workers files are held at once (being downloaded, waiting,
	// being uploaded), so memory stays under about 3 × Workers × 3 ×
	// MemoryLimit (plain and encrypted copies of small files) plus one
	// 16 MiB upload part per large file.
	TmpDir      string
	MemoryLimit int64 // default 8 MiB
	Logger      *slog.Logger
	Progress    Progress
}

// Stats counts the outcome of a Run.
type Stats struct {
	Files      int   `json:"files"`
	BackedUp   int   `json:"backedup"`
	Duplicates int   `json:"duplicate"`
	Errors     int   `json:"error"`
	Unreadable int   `json:"unreadable"` // the login may not read them (not failures)
	Gone       int   `json:"gone"`       // erased in production (not failures)
	Lost       int   `json:"lost_claims"`
	Mismatches int   `json:"sha1_mismatches"`
	Bytes      int64 `json:"bytes"`
}

// Run processes pending files of one wiki until none is left that this
// process can claim, and returns what it did. It returns early, with the
// work done so far recorded, when ctx is cancelled: files in progress are
// abandoned (their claims expire) and nothing half-done is recorded.
func Run(ctx context.Context, store Store, fetch Fetcher, place Placer, opts Options) (Stats, error) {
	opts.defaults()
	r := &runner{store: store, fetch: fetch, place: place, opts: opts, locations: map[string]int64{}, inflight: map[int64]metadata.File{}}
	return r.run(ctx)
}

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
}

type runner struct {
	store Store
	fetch Fetcher
	place Placer
	opts  Options

	mu        sync.Mutex
	locations map[string]int64
	inflight  map[int64]metadata.File
	stats     Stats
}

type outcome struct {
	file   metadata.File
	result metadata.Result
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
				case results <- outcome{p.file, res}:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() { uploaders.Wait(); close(results) }()

	// Recorder: batches results into one transaction per second or per batch.
	recErr := r.record(ctx, results)
	interrupted := ctx.Err() != nil
	cancel(nil)
	<-renewDone
	if interrupted {
		// What was finished is recorded; give the rest back now rather
		// than make the next run wait for the leases to end.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		n, err := r.store.ReleaseClaims(rctx, r.opts.WorkerID)
		rcancel()
		if err != nil {
			r.opts.Logger.Warn("could not give back the unfinished files; they return after their lease", "err", err)
		} else if n > 0 {
			r.opts.Logger.Info("gave back unfinished files for the next run", "files", n)
		}
	}
	err := errors.Join(recErr, <-claimErr)
	if err == nil && context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
		err = context.Cause(ctx)
	}
	return r.stats, err
}

func (r *runner) record(ctx context.Context, results <-chan outcome) error {
	var pending []outcome
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		batch := make([]metadata.Result, len(pending))
		for i, o := range pending {
			batch[i] = o.result
		}
		// Recording must not be cut short half-way by a cancel: what is done is written.
		statuses, err := r.store.Record(context.WithoutCancel(ctx), r.opts.WorkerID, batch)
		lost := errors.Is(err, metadata.ErrLostClaim)
		if err != nil && !lost {
			return fmt.Errorf("record %d results (their objects are stored under their content names; the files stay claimed until their lease ends, "+
				"then the next backup takes them again and re-uploads the same bytes under the same names): %w", len(batch), err)
		}
		r.mu.Lock()
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
			case st == metadata.Error:
				r.stats.Errors++
			case st == metadata.Unreadable:
				r.stats.Unreadable++
			case st == metadata.Gone:
				r.stats.Gone++
			}
			if o.result.DownloadedSHA1 != "" {
				r.stats.Mismatches++
			}
			r.opts.Progress.FileDone(doneFile(o, st), st, o.result.Size, o.result.Err)
		}
		r.mu.Unlock()
		pending = pending[:0]
		return nil
	}
	for {
		select {
		case o, ok := <-results:
			if !ok {
				return flush()
			}
			pending = append(pending, o)
			if len(pending) >= r.opts.Batch {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-tick.C:
			if err := flush(); err != nil {
				return err
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

// prepared is a file between the two stages: downloaded, hashed and
// checked for duplicates, and encrypted if it is small and must be; or the
// error that stopped it.
type prepared struct {
	file   metadata.File
	result metadata.Result
	err    error
	// upload is false for duplicates and failures: nothing to send.
	upload bool
	plain  *spool // the downloaded bytes
	cipher *spool // their encryption, for small files of encrypted wikis
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
		res := Classify(p.file, err)
		if ctx.Err() == nil {
			switch res.Status {
			case metadata.Unreadable:
				r.opts.Logger.Warn("unreadable with these credentials", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "reason", res.Err.Error())
			case metadata.Gone:
				r.opts.Logger.Warn("erased in production: nothing to back up", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "err", err)
			default:
				r.opts.Logger.Error("backup failed", "wiki", r.opts.Wiki, "title", p.file.Title, "id", p.file.ID, "err", err)
			}
		}
		return res
	}
	return res
}

// GoneReason is the reason recorded for a version that production lists
// but whose bytes it no longer has.
const GoneReason = "erased in production: the wiki lists the version but answered 404 Not Found for its bytes (eraseArchivedFile.php leaves it listed)"

// Classify describes the failure err of file f as the result to record:
// Gone when production answered 404 for the bytes of a version it lists
// (mediawiki.ErrGone), Unreadable with the right it needs when the wiki
// refused them to the login (mediawiki.ErrPermission), else Error.
func Classify(f metadata.File, err error) metadata.Result {
	var re *mediawiki.RightError
	switch {
	case errors.Is(err, mediawiki.ErrGone):
		return metadata.Result{FileID: f.ID, Status: metadata.Gone, Err: errors.New(GoneReason)}
	case errors.As(err, &re):
		return metadata.Result{FileID: f.ID, Status: metadata.Unreadable, Err: re}
	case errors.Is(err, mediawiki.ErrPermission):
		return metadata.Result{FileID: f.ID, Status: metadata.Unreadable, Err: fmt.Errorf("the wiki refused it to the configured login: %w", err)}
	}
	return metadata.Result{FileID: f.ID, Err: err}
}

func (r *runner) prepareErr(ctx context.Context, p *prepared) (metadata.Result, error) {
	f := p.file
	sp, err := r.download(ctx, f)
	if err != nil {
		return metadata.Result{}, err
	}
	p.plain = sp
	res := metadata.Result{FileID: f.ID, SHA1: sp.SHA1(), SHA256: sp.SHA256(), Size: sp.Size()}
	if f.SHA1 != "" && res.SHA1 != f.SHA1 {
		r.opts.Logger.Warn("sha1 differs from production's; downloading again", "title", f.Title, "want", f.SHA1, "got", res.SHA1)
		sp.Close()
		p.plain = nil
		if sp, err = r.download(ctx, f); err != nil {
			return metadata.Result{}, err
		}
		p.plain = sp
		res = metadata.Result{FileID: f.ID, SHA1: sp.SHA1(), SHA256: sp.SHA256(), Size: sp.Size()}
		if res.SHA1 != f.SHA1 {
			r.opts.Logger.Warn("sha1 mismatch: backed up anyway and recorded (see `mediabackups mismatches`)",
				"title", f.Title, "production_sha1", f.SHA1, "downloaded_sha1", res.SHA1)
			res.DownloadedSHA1 = res.SHA1
		}
	}
	if _, err := r.store.FindBackup(ctx, f.WikiID, res.SHA256); err == nil {
		return res, nil // duplicate: this wiki already has the content
	} else if !errors.Is(err, metadata.ErrNotFound) {
		return metadata.Result{}, &StepError{Step: StepMetadata, Err: fmt.Errorf("dedup check: %w", err)}
	}
	p.upload = true
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
			return metadata.Result{}, &StepError{Step: StepEncrypt, Err: fmt.Errorf("encrypt %s: %w", f.Title, err)}
		}
	}
	return res, nil
}

func (r *runner) download(ctx context.Context, f metadata.File) (*spool, error) {
	body, size, what, err := Open(ctx, r.fetch, f)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	sp := newSpool(r.opts.TmpDir, r.opts.MemoryLimit)
	sp.expect(size)
	if _, err := io.Copy(sp, body); err != nil {
		sp.Close()
		return nil, fmt.Errorf("download %s: %w", what, err)
	}
	return sp, nil
}

// Open starts the download of f's bytes from production, the way its kind
// needs: a revision-deleted old version through DownloadHidden, a deleted
// one through DownloadDeleted, others from their URL. It returns the body
// (closed by the caller), its size (0 or -1 when unknown) and what was
// downloaded, for messages.
func Open(ctx context.Context, fetch Fetcher, f metadata.File) (io.ReadCloser, int64, string, error) {
	var (
		body io.ReadCloser
		size int64
		err  error
		what string
	)
	switch {
	case f.Status == metadata.Deleted && f.FilearchiveID == 0 && f.ArchiveName != "":
		// A revision-deleted old version: still an oldimage row, not in
		// the file archive (see package update).
		what = "hidden version " + f.ArchiveName
		body, _, err = fetch.DownloadHidden(ctx, f.Title, f.ArchiveName)
	case f.Status == metadata.Deleted && f.StorageKey != "":
		what = "deleted file " + f.StorageKey
		body, size, err = fetch.DownloadDeleted(ctx, f.Title, f.StorageKey)
	case f.SourceURL != "":
		what = f.SourceURL
		body, size, err = fetch.Download(ctx, f.SourceURL)
	default:
		return nil, 0, f.Title, fmt.Errorf("download %s: production gave no URL or storage key for it", f.Title)
	}
	if err != nil {
		return nil, 0, what, fmt.Errorf("download %s: %w", what, err)
	}
	return body, size, what, nil
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
		return nil, &StepError{Step: StepUpload, Err: err} // it names the key and the server
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
	id, err := r.store.EnsureLocation(ctx, endpoint)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.locations[endpoint] = id
	r.mu.Unlock()
	return id, nil
}
