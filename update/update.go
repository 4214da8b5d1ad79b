package update

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediabackups/mediabackups/inventory"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"golang.org/x/sync/errgroup"
)

// Wiki is what the follower reads from a wiki's API.
type Wiki interface {
	LogEvents(ctx context.Context, since time.Time, fn func(mediawiki.LogEvent) error) error
	Versions(ctx context.Context, titles []string) (map[string][]mediawiki.FileVersion, error)
	DeletedVersionsOf(ctx context.Context, title string) ([]mediawiki.DeletedVersion, error)
	DownloadHidden(ctx context.Context, title, archiveName string) (io.ReadCloser, int64, error)
}

// Store is the metadata the follower reads and writes.
type Store interface {
	Cursor(ctx context.Context, wikiID int64) (metadata.LogCursor, error)
	VersionsOf(ctx context.Context, wikiID int64, titles ...string) ([]metadata.File, error)
	// ApplyLog runs fn in one transaction and saves the cursor c with
	// what fn wrote; fn runs again from the start after a deadlock.
	ApplyLog(ctx context.Context, wikiID int64, c metadata.LogCursor, fn func(*metadata.LogTx) error) error
}

// Tx is what applying one event reads and writes, inside the transaction
// of its stretch of the log.
type Tx interface {
	VersionsOf(ctx context.Context, titles ...string) ([]metadata.File, error)
	Reconcile(ctx context.Context, renames []metadata.Rename, versions []metadata.File, source string) (metadata.SyncStats, int, error)
}

// Batch is how many log events one transaction applies at most, and so
// how many an interrupted run may have to read again.
const Batch = 64

// parallelReads is how many API requests about the titles of a batch are
// in flight at once.
const parallelReads = 4

var _ Wiki = (*mediawiki.Client)(nil)
var _ Store = (*metadata.Store)(nil)
var _ Tx = (*metadata.LogTx)(nil)

// Options configures Run and Follow.
type Options struct {
	WikiID     int64
	Containers mediawiki.Containers
	// Deleted says to look deleted versions up (list=filearchive). When
	// the wiki refuses that to the login, the run goes on without: the
	// versions a deletion removes are left as they were, and
	// Stats.DeletedRefused says so.
	Deleted bool
	// DeletedUnreadable, when not empty, is why the credentials cannot read
	// the bytes of deleted versions: new ones are recorded with backup
	// status unreadable and this reason (see inventory.Options).
	DeletedUnreadable string
	// Since is where to start reading the log of a wiki that has no
	// cursor yet; the zero time means from the beginning.
	Since  time.Time
	Logger *slog.Logger
	// Progress, when set, is called after every applied stretch of events.
	Progress func(Stats)
	// RoundDone, when set, is called at the end of every round (a Run, or
	// each read of the log by Follow) that was not interrupted, with the
	// time the round started and its error. A nil error means the round
	// read the log to its end: every event logged before started is
	// applied.
	RoundDone func(ctx context.Context, started time.Time, err error)
}

// Stats counts what the follower did.
type Stats struct {
	Events     int `json:"events"`     // file events read from the log
	Skipped    int `json:"skipped"`    // already applied before (cursor)
	Added      int `json:"added"`      // new versions, pending backup
	Changed    int `json:"changed"`    // versions whose metadata changed
	Renamed    int `json:"renamed"`    // versions carried to a new title by a move
	Unreadable int `json:"unreadable"` // hidden versions whose bytes could not be read
	// DeletedRefused is the wiki's refusal to list deleted versions to the
	// login, "" when it did not refuse.
	DeletedRefused string `json:"deleted_refused,omitempty"`
}

func (s *Stats) add(o Stats) {
	s.Events += o.Events
	s.Skipped += o.Skipped
	s.Added += o.Added
	s.Changed += o.Changed
	s.Renamed += o.Renamed
	s.Unreadable += o.Unreadable
	if o.DeletedRefused != "" {
		s.DeletedRefused = o.DeletedRefused
	}
}

// errStop ends a log listing when the caller's context is done.
var errStop = errors.New("stopped")

// Run reads the wiki's log from the stored cursor to its end and applies
// every file event. The events are applied in stretches of up to Batch,
// each in one transaction that also saves the cursor after its last
// event, so the metadata and the cursor always agree. When ctx is
// cancelled it stops after the stretch being applied (which is finished,
// not cut short) and returns ctx's error; events read but not yet applied
// are read again by the next run.
func Run(ctx context.Context, w Wiki, s Store, opts Options) (Stats, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	started := time.Now()
	st, err := run(ctx, w, s, opts)
	if opts.RoundDone != nil && ctx.Err() == nil {
		opts.RoundDone(ctx, started, err)
	}
	return st, err
}

func run(ctx context.Context, w Wiki, s Store, opts Options) (Stats, error) {
	var st Stats
	cur, err := s.Cursor(ctx, opts.WikiID)
	if err != nil {
		return st, err
	}
	since := cur.Timestamp
	if cur.IsZero() {
		since = opts.Since
	}
	batch := make([]mediawiki.LogEvent, 0, Batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// A stretch is applied whole even when a signal arrives meanwhile;
		// every request still has its own timeout and bounded retries.
		got, next, err := applyBatch(context.WithoutCancel(ctx), w, s, opts, cur, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		st.add(got)
		if got.DeletedRefused != "" {
			opts.Deleted = false // asked once per run
		}
		cur = next
		if opts.Progress != nil {
			opts.Progress(st)
		}
		return nil
	}
	err = w.LogEvents(ctx, since, func(ev mediawiki.LogEvent) error {
		if ctx.Err() != nil {
			return errStop
		}
		st.Events++
		if cur.Seen(ev.ID, ev.Timestamp) {
			st.Skipped++
			return nil
		}
		batch = append(batch, ev)
		if len(batch) < Batch {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if errors.Is(err, errStop) || (err != nil && ctx.Err() != nil) {
		return st, ctx.Err()
	}
	return st, err
}

// Follow runs Run, then again every interval, until ctx is cancelled, and
// then returns the totals with a nil error: cancelling is how a follower
// ends. A failed round (the wiki down past its retries, say) is logged and
// tried again at the next interval; the cursor makes sure nothing is lost.
func Follow(ctx context.Context, w Wiki, s Store, opts Options, interval time.Duration) (Stats, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		return Stats{}, fmt.Errorf("follow: the interval must be positive, not %s", interval)
	}
	var total Stats
	for {
		st, err := Run(ctx, w, s, opts)
		total.add(st)
		if ctx.Err() != nil {
			return total, nil
		}
		if err != nil {
			opts.Logger.Error("update round failed; trying again at the next interval", "err", err, "interval", interval)
		} else if st.Events > st.Skipped {
			opts.Logger.Info("update round done", "events", st.Events-st.Skipped, "added", st.Added, "changed", st.Changed, "renamed", st.Renamed)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return total, nil
		case <-t.C:
		}
	}
}

// applyBatch applies a stretch of events, in log order, in one
// transaction that also saves the cursor after them, and returns what it
// did and that cursor. The API is asked about each title of the stretch
// once, before the transaction: an event is reconciled with the truth of
// when its stretch was read, and a change after that is a later event.
func applyBatch(ctx context.Context, w Wiki, s Store, opts Options, cur metadata.LogCursor, evs []mediawiki.LogEvent) (Stats, metadata.LogCursor, error) {
	next := cur
	for _, ev := range evs {
		next = next.Advance(ev.ID, ev.Timestamp)
	}
	truth, refused, err := readTruth(ctx, w, opts, evs)
	if err != nil {
		return Stats{}, cur, fmt.Errorf("read log events %d to %d: %w", evs[0].ID, evs[len(evs)-1].ID, err)
	}
	// Revision-deleted versions to learn are downloaded here, before the
	// transaction, not while it holds the rows of the stretch's titles: a
	// download can take minutes. The plans are made from the rows as they
	// are now; an event whose rows an earlier one changes may still need
	// one inside (and a retried transaction downloads nothing again).
	learned := learnedHidden{}
	known, err := s.VersionsOf(ctx, opts.WikiID, truth.titles...)
	if err != nil {
		return Stats{}, cur, err
	}
	byTitle := map[string][]metadata.File{}
	for _, f := range known {
		byTitle[f.Title] = append(byTitle[f.Title], f)
	}
	for _, ev := range evs {
		var rows []metadata.File
		for _, t := range Titles(ev) {
			rows = append(rows, byTitle[t]...)
		}
		for _, h := range MakePlan(ev, rows, truth, opts.Containers).Hidden {
			learned.learn(ctx, w, h, opts.Containers)
		}
	}
	var st Stats
	err = s.ApplyLog(ctx, opts.WikiID, next, func(tx *metadata.LogTx) error {
		st = Stats{DeletedRefused: refused} // from the start on a retry
		// The rows of every title at the start of the stretch, read once;
		// a title that an event of the stretch wrote is read again.
		rows, err := tx.VersionsOf(ctx, truth.titles...)
		if err != nil {
			return err
		}
		byTitle := map[string][]metadata.File{}
		for _, f := range rows {
			byTitle[f.Title] = append(byTitle[f.Title], f)
		}
		written := map[string]bool{}
		for _, ev := range evs {
			titles := Titles(ev)
			var known []metadata.File
			if slices.ContainsFunc(titles, func(t string) bool { return written[t] }) {
				if known, err = tx.VersionsOf(ctx, titles...); err != nil {
					return err
				}
			} else {
				for _, t := range titles {
					known = append(known, byTitle[t]...)
				}
				slices.SortFunc(known, func(a, b metadata.File) int { return cmp.Compare(a.ID, b.ID) })
			}
			got, wrote, err := apply(ctx, w, tx, opts, ev, truth, known, learned)
			if err != nil {
				return fmt.Errorf("apply log event %d (%s/%s of %q at %s): %w", ev.ID, ev.Type, ev.Action, ev.Title,
					ev.Timestamp.Format(time.RFC3339), err)
			}
			if wrote {
				for _, t := range titles {
					written[t] = true
				}
			}
			st.add(got)
		}
		return nil
	})
	if err != nil {
		return Stats{}, cur, err
	}
	return st, next, nil
}

// readTruth asks the API about every title of evs: its versions, and its
// deleted versions when opts.Deleted. A refusal to list deleted versions
// is returned as the reason, and the titles then have none.
func readTruth(ctx context.Context, w Wiki, opts Options, evs []mediawiki.LogEvent) (Truth, string, error) {
	var titles []string
	seen := map[string]bool{}
	for _, ev := range evs {
		for _, t := range Titles(ev) {
			if !seen[t] {
				seen[t] = true
				titles = append(titles, t)
			}
		}
	}
	truth := Truth{titles: titles, Visible: map[string][]mediawiki.FileVersion{}, Deleted: map[string][]mediawiki.DeletedVersion{}}
	vs, err := w.Versions(ctx, titles)
	if err != nil {
		return truth, "", err
	}
	for _, t := range titles {
		// Only the title itself: a redirect's target is read as a title
		// of its own (for a move) or not at all.
		truth.Visible[t] = vs[t]
	}
	if !opts.Deleted {
		return truth, "", nil
	}
	var (
		mu      sync.Mutex
		refused string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelReads)
	for _, t := range titles {
		g.Go(func() error {
			ds, err := w.DeletedVersionsOf(gctx, t)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, mediawiki.ErrPermission) {
				if refused == "" {
					refused = err.Error()
					opts.Logger.Warn("the wiki refuses to list deleted versions to this login: deletions are not followed (needs the deletedhistory right)",
						"title", t, "err", err)
				}
				return nil
			}
			if err != nil {
				return err
			}
			truth.Deleted[t] = ds
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return truth, "", err
	}
	if refused != "" {
		clear(truth.Deleted)
	}
	return truth, refused, nil
}

// apply reconciles the titles of one event, whose recorded rows are known,
// with the API's truth about them (see the package documentation). It
// reports whether it wrote to the rows of the event's titles (and to no
// others).
func apply(ctx context.Context, w Wiki, tx Tx, opts Options, ev mediawiki.LogEvent, truth Truth, known []metadata.File, learned learnedHidden) (Stats, bool, error) {
	var st Stats
	p := MakePlan(ev, known, truth, opts.Containers)
	for _, h := range p.Hidden {
		f, err := learned.learn(ctx, w, h, opts.Containers)
		if ctx.Err() != nil {
			return st, false, ctx.Err()
		}
		if err != nil {
			st.Unreadable++
			opts.Logger.Warn("a revision-deleted version could not be read; it is not recorded", "title", h.Title,
				"uploaded", h.UploadDate.Format(time.RFC3339), "tried", h.Candidates, "reason", err.Error())
			continue
		}
		p.Versions = append(p.Versions, f)
	}
	if opts.DeletedUnreadable != "" {
		// New deleted versions are recorded as unreadable; known ones keep
		// their backup status (SyncVersions ignores it for them).
		for i := range p.Versions {
			if p.Versions[i].Status == metadata.Deleted {
				p.Versions[i].BackupStatus, p.Versions[i].ErrorReason = metadata.Unreadable, opts.DeletedUnreadable
			}
		}
	}
	if len(p.Versions) == 0 && len(p.Renames) == 0 {
		return st, false, nil
	}
	sst, renamed, err := tx.Reconcile(ctx, p.Renames, p.Versions, fmt.Sprintf("log:%d", ev.ID))
	if err != nil {
		return st, true, err
	}
	st.Added, st.Changed, st.Renamed = sst.Added, sst.Changed, renamed
	return st, true, nil
}

// learnedHidden holds what inventory.LearnHidden returned for each hidden
// version of a stretch, so that each is downloaded once.
type learnedHidden map[string]learnResult

type learnResult struct {
	f   metadata.File
	err error
}

// learn is inventory.LearnHidden, once per h; an interrupted download
// (ctx's error) is not kept.
func (l learnedHidden) learn(ctx context.Context, w Wiki, h Hidden, c mediawiki.Containers) (metadata.File, error) {
	k := fmt.Sprintf("%s\x00%s\x00%d\x00%s\x00%s\x00%s", h.Title, h.UploadDate.Format(time.RFC3339Nano), h.Size, h.MIME,
		strings.Join(h.Candidates, "|"), h.DeleteDate.Format(time.RFC3339Nano))
	if r, ok := l[k]; ok {
		return r.f, r.err
	}
	f, err := inventory.LearnHidden(ctx, w, h, c)
	if ctx.Err() == nil {
		l[k] = learnResult{f, err}
	}
	return f, err
}
