package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mediabackups/mediabackups/inventory"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
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
	SaveCursor(ctx context.Context, wikiID int64, c metadata.LogCursor) error
	VersionsOf(ctx context.Context, wikiID int64, titles ...string) ([]metadata.File, error)
	Reconcile(ctx context.Context, wikiID int64, renames []metadata.Rename, versions []metadata.File, source string) (metadata.SyncStats, int, error)
}

var _ Wiki = (*mediawiki.Client)(nil)
var _ Store = (*metadata.Store)(nil)

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
	// Progress, when set, is called after every applied event.
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

// Run reads the wiki's log from the stored cursor to its end, applies
// every file event and saves the cursor after each. When ctx is cancelled
// it stops after the event being applied (which is finished, not cut
// short) and returns ctx's error; everything applied is recorded.
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
	err = w.LogEvents(ctx, since, func(ev mediawiki.LogEvent) error {
		if ctx.Err() != nil {
			return errStop
		}
		st.Events++
		if cur.Seen(ev.ID, ev.Timestamp) {
			st.Skipped++
			return nil
		}
		// An event is applied whole even when a signal arrives meanwhile;
		// every request still has its own timeout and bounded retries.
		work := context.WithoutCancel(ctx)
		got, err := apply(work, w, s, opts, ev)
		if err != nil {
			return fmt.Errorf("apply log event %d (%s/%s of %q at %s): %w", ev.ID, ev.Type, ev.Action, ev.Title,
				ev.Timestamp.Format(time.RFC3339), err)
		}
		st.add(got)
		if got.DeletedRefused != "" {
			opts.Deleted = false // asked once per run
		}
		next := cur.Advance(ev.ID, ev.Timestamp)
		if err := s.SaveCursor(work, opts.WikiID, next); err != nil {
			return err
		}
		cur = next
		if opts.Progress != nil {
			opts.Progress(st)
		}
		return nil
	})
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

// apply reconciles the titles of one event with the API (see the package
// documentation).
func apply(ctx context.Context, w Wiki, s Store, opts Options, ev mediawiki.LogEvent) (Stats, error) {
	var st Stats
	titles := Titles(ev)
	truth := Truth{Visible: map[string][]mediawiki.FileVersion{}, Deleted: map[string][]mediawiki.DeletedVersion{}}
	for _, t := range titles {
		vs, err := w.Versions(ctx, []string{t})
		if err != nil {
			return st, err
		}
		// Only the title itself: a redirect's target is read as a title
		// of its own (for a move) or not at all.
		truth.Visible[t] = vs[t]
		if opts.Deleted {
			ds, err := w.DeletedVersionsOf(ctx, t)
			if errors.Is(err, mediawiki.ErrPermission) {
				st.DeletedRefused = err.Error()
				opts.Logger.Warn("the wiki refuses to list deleted versions to this login: deletions are not followed (needs the deletedhistory right)",
					"title", t, "err", err)
				continue
			}
			if err != nil {
				return st, err
			}
			truth.Deleted[t] = ds
		}
	}
	known, err := s.VersionsOf(ctx, opts.WikiID, titles...)
	if err != nil {
		return st, err
	}
	p := MakePlan(ev, known, truth, opts.Containers)
	for _, h := range p.Hidden {
		f, err := inventory.LearnHidden(ctx, w, h, opts.Containers)
		if ctx.Err() != nil {
			return st, ctx.Err()
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
		return st, nil
	}
	sst, renamed, err := s.Reconcile(ctx, opts.WikiID, p.Renames, p.Versions, fmt.Sprintf("log:%d", ev.ID))
	if err != nil {
		return st, err
	}
	st.Added, st.Changed, st.Renamed = sst.Added, sst.Changed, renamed
	return st, nil
}
