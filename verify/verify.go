package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/time/rate"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// Store is the metadata Run reads and writes.
type Store interface {
	ObjectsToVerify(ctx context.Context, wikiID int64, checkedBefore time.Time, cursor metadata.VerifyCursor, n int) ([]metadata.Backup, metadata.VerifyCursor, error)
	CountObjects(ctx context.Context, wikiID int64) (int64, error)
	RecordVerify(ctx context.Context, recs []metadata.VerifyRecord) error
	VersionsOfObject(ctx context.Context, backupID int64) ([]metadata.File, error)
	VersionsWithoutObject(ctx context.Context, wikiID int64) ([]metadata.File, error)
}

// Server reads objects from one object server and, for repairs, writes
// them. storage.Backend is one.
type Server interface {
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	Put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error)
}

// Production is the wiki a repair asks for a content and downloads it
// from. *mediawiki.Client is one.
type Production interface {
	Versions(ctx context.Context, titles []string) (map[string][]mediawiki.FileVersion, error)
	DeletedVersionsOf(ctx context.Context, title string) ([]mediawiki.DeletedVersion, error)
	Download(ctx context.Context, url string) (io.ReadCloser, int64, error)
	DownloadDeleted(ctx context.Context, title, storageKey string) (io.ReadCloser, int64, error)
	DownloadHidden(ctx context.Context, title, archiveName string) (io.ReadCloser, int64, error)
}

var (
	_ Store      = (*metadata.Store)(nil)
	_ Server     = storage.Backend(nil)
	_ Production = (*mediawiki.Client)(nil)
)

// Unchecked is the outcome of a check that could not be made (see the
// package documentation). It is reported, never recorded.
const Unchecked metadata.VerifyResult = "unchecked"

// Outcomes lists every outcome of a check, in the order reports show them:
// the recorded results, then Unchecked.
var Outcomes = append(slices.Clone(metadata.VerifyResults), Unchecked)

// IsProblem reports whether an outcome leaves a version without a good
// copy, or its copy unchecked: missing, damaged, lost, unchecked. ok and
// repaired are not problems.
func IsProblem(r metadata.VerifyResult) bool {
	return r != metadata.VerifyOK && r != metadata.VerifyRepaired
}

// Problem is an object whose check did not find it ok.
type Problem struct {
	Object metadata.Backup
	// Found is what the check found: missing, damaged or unchecked.
	Found metadata.VerifyResult
	// Result is where it ends: Found, or repaired or lost after a repair.
	Result metadata.VerifyResult
	// Detail says what was wrong, or why it could not be checked.
	Detail string
	// Repair says where a repaired copy came from, or why the object
	// was not repaired (when a repair was asked for).
	Repair string
	// Versions are the file versions whose bytes the object holds.
	Versions []metadata.File
}

// Progress hears about every checked object. Its methods are called from
// several goroutines.
type Progress interface {
	Checked(b metadata.Backup, result metadata.VerifyResult, bytes int64)
}

type noProgress struct{}

func (noProgress) Checked(metadata.Backup, metadata.VerifyResult, int64) {}

// Options configures a Run over one wiki's objects.
type Options struct {
	WikiID int64
	Wiki   string
	// Locate returns the server recorded as an object's location
	// (storage.Sharded.ByEndpoint), false when it is not configured.
	Locate func(endpoint string) (Server, bool)
	// Identities decrypt encrypted objects.
	Identities []age.Identity
	// Sample, when above 0, checks that fraction of the wiki's objects
	// (rounded up; at most 1), those checked longest ago; 0 checks all.
	Sample float64
	// Limiter, when set, limits the bytes read from the object servers
	// per second; share one between runs to limit them all together.
	Limiter *rate.Limiter
	// Parallel is how many objects are checked at once; default 4.
	Parallel int
	// Repair stores a missing or damaged object again when Production
	// still serves its content (see the package documentation). It needs
	// Production, and Recipients for encrypted objects.
	Repair     bool
	Production Production
	Recipients []age.Recipient
	// TmpDir holds the downloads of a repair (default os.TempDir()).
	TmpDir string
	Logger *slog.Logger
	// Progress hears about every checked object (optional).
	Progress Progress
	// OnProblem is called, from several goroutines, for every object that
	// is not ok (optional).
	OnProblem func(Problem)
}

// Stats counts what a Run did. Objects is the number of objects whose
// check was attempted; each has one outcome.
type Stats struct {
	Objects   int   `json:"objects"`
	Bytes     int64 `json:"bytes"` // read from the object servers
	OK        int   `json:"ok"`
	Missing   int   `json:"missing"`
	Damaged   int   `json:"damaged"`
	Repaired  int   `json:"repaired"`
	Lost      int   `json:"lost"`
	Unchecked int   `json:"unchecked"`
	// VersionsWithoutObject counts the versions whose backup status says
	// stored but that point to no object.
	VersionsWithoutObject int `json:"versions_without_object"`
}

// Count returns the number of objects with outcome r.
func (s *Stats) Count(r metadata.VerifyResult) int { return *s.counter(r) }

func (s *Stats) counter(r metadata.VerifyResult) *int {
	switch r {
	case metadata.VerifyOK:
		return &s.OK
	case metadata.VerifyMissing:
		return &s.Missing
	case metadata.VerifyDamaged:
		return &s.Damaged
	case metadata.VerifyRepaired:
		return &s.Repaired
	case metadata.VerifyLost:
		return &s.Lost
	}
	return &s.Unchecked
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Objects += o.Objects
	s.Bytes += o.Bytes
	for _, r := range Outcomes {
		*s.counter(r) += o.Count(r)
	}
	s.VersionsWithoutObject += o.VersionsWithoutObject
}

// Problems returns how many objects and versions are short of a good,
// checked copy: what makes verify exit 3.
func (s *Stats) Problems() int {
	n := s.VersionsWithoutObject
	for _, r := range Outcomes {
		if IsProblem(r) {
			n += s.Count(r)
		}
	}
	return n
}

// Report is the outcome of a Run.
type Report struct {
	Stats
	// VersionsWithoutObject are the versions whose backup status says
	// stored (backedup or duplicate) but that point to no object.
	VersionsWithoutObject []metadata.File
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	if o.OnProblem == nil {
		o.OnProblem = func(Problem) {}
	}
}

// pageSize is how many objects one metadata query hands out.
const pageSize = 256

// recordBatch is how many outcomes are written in one statement; they are
// also written at least every second.
const recordBatch = 64

// Run checks the wiki's objects, all of them or a sample, Parallel at a
// time, and records each outcome (see the package documentation). It
// returns what it did; the error is a failure of the metadata store, or
// ctx's error when ctx was cancelled: the outcomes of the objects already
// checked are recorded either way, those in progress are dropped.
func Run(ctx context.Context, store Store, opts Options) (Report, error) {
	opts.defaults()
	if opts.Sample < 0 || opts.Sample > 1 {
		return Report{}, fmt.Errorf("verify %s: sample %v is not a fraction in (0, 1]", opts.Wiki, opts.Sample)
	}
	if opts.Repair && opts.Production == nil {
		return Report{}, fmt.Errorf("verify %s: a repair needs the wiki's API", opts.Wiki)
	}
	var rep Report
	vs, err := store.VersionsWithoutObject(ctx, opts.WikiID)
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", opts.Wiki, err)
	}
	rep.VersionsWithoutObject, rep.Stats.VersionsWithoutObject = vs, len(vs)
	for _, v := range vs {
		opts.Logger.Error("version without object: its backup status says stored, but no object is recorded for it",
			"wiki", opts.Wiki, "title", v.Title, "id", v.ID, "upload_date", v.UploadDate, "backup_status", v.BackupStatus)
	}
	quota := -1
	if opts.Sample > 0 {
		n, err := store.CountObjects(ctx, opts.WikiID)
		if err != nil {
			return rep, fmt.Errorf("verify %s: %w", opts.Wiki, err)
		}
		quota = int(math.Ceil(opts.Sample * float64(n)))
	}
	r := &runner{store: store, opts: opts}
	st, err := r.run(ctx, time.Now().UTC(), quota)
	st.VersionsWithoutObject = rep.Stats.VersionsWithoutObject
	rep.Stats = st
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", opts.Wiki, err)
	}
	return rep, nil
}

type runner struct {
	store Store
	opts  Options
}

// checked is the outcome of one object.
type checked struct {
	b      metadata.Backup
	result metadata.VerifyResult
	detail string
	bytes  int64
	stored int64 // new stored size after a repair
}

func (r *runner) run(ctx context.Context, start time.Time, quota int) (Stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan metadata.Backup, pageSize)
	results := make(chan checked, 2*r.opts.Parallel)

	listErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		var cursor metadata.VerifyCursor
		left := quota
		for left != 0 {
			n := pageSize
			if left > 0 {
				n = min(n, left)
			}
			bs, next, err := r.store.ObjectsToVerify(ctx, r.opts.WikiID, start, cursor, n)
			if err != nil {
				listErr <- err
				return
			}
			if len(bs) == 0 {
				break
			}
			cursor = next
			if left > 0 {
				left -= len(bs)
			}
			for _, b := range bs {
				select {
				case jobs <- b:
				case <-ctx.Done():
					listErr <- nil
					return
				}
			}
		}
		listErr <- nil
	}()

	var wg sync.WaitGroup
	for range r.opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				c := r.one(ctx, b)
				if ctx.Err() != nil {
					continue // dropped: a check cut short says nothing about the object
				}
				results <- c
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	var st Stats
	var batch []metadata.VerifyRecord
	var recErr error
	flush := func() {
		if len(batch) == 0 || recErr != nil {
			return
		}
		// What was checked is written even when the run is being
		// cancelled: a check is not redone for want of a record.
		if err := r.store.RecordVerify(context.WithoutCancel(ctx), batch); err != nil {
			recErr = err
			cancel(err)
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case c, ok := <-results:
			if !ok {
				break loop
			}
			st.Objects++
			st.Bytes += c.bytes
			*st.counter(c.result)++
			r.opts.Progress.Checked(c.b, c.result, c.bytes)
			if c.result == Unchecked {
				continue
			}
			batch = append(batch, metadata.VerifyRecord{BackupID: c.b.ID, At: time.Now(), Result: c.result, Detail: c.detail, StoredSize: c.stored})
			if len(batch) >= recordBatch {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
	flush()
	err := errors.Join(recErr, <-listErr)
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	return st, err
}

// one checks one object and, when asked and needed, repairs it.
func (r *runner) one(ctx context.Context, b metadata.Backup) checked {
	c := checked{b: b}
	found, detail, n, err := r.check(ctx, b)
	c.bytes = n
	if err != nil {
		found, detail = Unchecked, err.Error()
	}
	c.result, c.detail = found, detail
	if found == metadata.VerifyOK || ctx.Err() != nil {
		return c
	}
	p := Problem{Object: b, Found: found, Result: found, Detail: detail}
	log := r.opts.Logger.With("wiki", r.opts.Wiki, "location", b.Location, "object", b.ObjectKey)
	if found == Unchecked {
		log.Error("could not check the object", "err", detail)
		r.opts.OnProblem(p)
		return c
	}
	log.Error("object "+string(found), "detail", detail)
	versions, err := r.store.VersionsOfObject(ctx, b.ID)
	if err != nil {
		log.Warn("could not list the versions the object holds", "err", err)
	}
	p.Versions = versions
	if r.opts.Repair {
		rr := r.repair(ctx, b, versions)
		c.bytes += rr.bytes
		switch {
		case rr.err == nil:
			c.result, c.stored = metadata.VerifyRepaired, rr.stored
			c.detail = fmt.Sprintf("was %s (%s); stored again from %s", found, detail, rr.source)
			p.Result, p.Repair = metadata.VerifyRepaired, "stored again from "+rr.source
			log.Info("repaired: stored again from production and read back correct", "source", rr.source)
		case rr.lost:
			c.result = metadata.VerifyLost
			c.detail = fmt.Sprintf("was %s (%s); only copy lost: %v", found, detail, rr.err)
			p.Result, p.Repair = metadata.VerifyLost, rr.err.Error()
			for _, v := range versions {
				log.Error("ONLY COPY LOST", "title", v.Title, "id", v.ID, "upload_date", v.UploadDate,
					"production_status", v.Status, "sha1", b.SHA1, "why", rr.err)
			}
			if len(versions) == 0 {
				log.Error("ONLY COPY LOST", "sha1", b.SHA1, "why", rr.err)
			}
		default:
			p.Repair = "not repaired: " + rr.err.Error()
			log.Error("not repaired; a later run tries again", "err", rr.err)
		}
	}
	r.opts.OnProblem(p)
	return c
}
