// Package inventory pulls the complete list of a wiki's file versions from
// its Action API into the metadata store: every current version, every older
// (archived) version, every revision-deleted old version whose bytes the
// login can read, and every deleted version the wiki lists. New versions
// become pending backups; known ones have what changed recorded in their
// history.
//
// # Coverage
//
// An inventory alone covers everything the credentials can read, the same
// versions `update` records from the log:
//
//   - Deleted versions (list=filearchive) are listed whatever the login:
//     MediaWiki 1.39 lists them even to anonymous clients. When the
//     credentials cannot read their bytes at all (no main-account login for
//     index.php), new ones are recorded with backup status unreadable and
//     the reason (Options.DeletedUnreadable), never left out.
//   - Revision-deleted old versions, which the API describes only by upload
//     time and size, are downloaded once through Special:RevisionDelete to
//     learn their sha1 (their archive name comes from the next newer version
//     or the revision-deletion log), as `update` does. Those the login may
//     not read cannot be keyed, so they are counted in Stats.NotRecorded
//     with the reason.
//   - Deleted versions get their delete date from the deletion log where it
//     is certain (see Dater).
package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Lister lists a wiki's file versions, reads its file log and the bytes of
// revision-deleted versions.
type Lister interface {
	AllVersions(ctx context.Context, fn func(mediawiki.FileVersion) error) error
	DeletedVersions(ctx context.Context, fn func(mediawiki.DeletedVersion) error) error
	FileLogOf(ctx context.Context, action string, fn func(mediawiki.LogEvent) error) error
	DownloadHidden(ctx context.Context, title, archiveName string) (io.ReadCloser, int64, error)
}

// Store records versions.
type Store interface {
	SyncVersions(ctx context.Context, wikiID int64, versions []metadata.File, source string) (metadata.SyncStats, error)
	VersionsOf(ctx context.Context, wikiID int64, titles ...string) ([]metadata.File, error)
	UndatedDeletions(ctx context.Context, wikiID int64, titles []string) (map[string][]metadata.File, error)
	SetDeleteDates(ctx context.Context, dates []metadata.DeleteDate) (int, error)
}

var (
	_ Lister = (*mediawiki.Client)(nil)
	_ Store  = (*metadata.Store)(nil)
)

// Options configures a Run.
type Options struct {
	WikiID     int64
	Containers mediawiki.Containers
	// Deleted also lists deleted versions (list=filearchive) and dates them
	// from the deletion log.
	Deleted bool
	// DeletedUnreadable, when not empty, is why the credentials cannot read
	// the bytes of deleted versions: new ones are then recorded with backup
	// status unreadable and this reason (see mediawiki.Client.CanReadDeleted).
	DeletedUnreadable string
	// BatchSize is how many versions are written per transaction (default 500).
	BatchSize int
	// Progress, when set, is called after every batch with the totals so far.
	Progress func(Stats)
}

// Stats counts what a Run saw and did.
type Stats struct {
	metadata.SyncStats
	// Deleted counts the deleted versions listed (and recorded).
	Deleted int `json:"deleted"`
	// Hidden counts the revision-deleted old versions seen; HiddenRead
	// those whose bytes were read, so that they are recorded.
	Hidden     int `json:"hidden"`
	HiddenRead int `json:"hidden_read"`
	// Dated counts the deleted versions that got their delete date from
	// the deletion log in this run.
	Dated int `json:"dated"`
	// NotRecorded groups the versions the wiki showed that could not be
	// recorded, by reason.
	NotRecorded []NotRecorded `json:"not_recorded"`
}

// NotRecorded is a group of versions the wiki showed that could not be
// recorded, because their sha1 is unknown: what they are, how many, why.
type NotRecorded struct {
	What   string `json:"what"`
	Count  int    `json:"count"`
	Reason string `json:"reason"`
}

func (st *Stats) notRecorded(what, reason string) {
	for i, n := range st.NotRecorded {
		if n.What == what && n.Reason == reason {
			st.NotRecorded[i].Count++
			return
		}
	}
	st.NotRecorded = append(st.NotRecorded, NotRecorded{What: what, Count: 1, Reason: reason})
}

// What NotRecorded groups.
const (
	WhatHidden        = "revision-deleted version"
	WhatDeletedHidden = "deleted version with hidden content"
)

// Run lists every version and records it. Each batch is one transaction, so
// an interrupted run leaves whole batches behind and running it again
// completes it.
func Run(ctx context.Context, l Lister, s Store, opts Options) (Stats, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	r := &run{l: l, s: s, opts: opts, batch: make([]metadata.File, 0, opts.BatchSize)}
	if err := r.visible(ctx); err != nil {
		return r.st, fmt.Errorf("inventory of current and archived versions: %w", err)
	}
	if err := r.hidden(ctx); err != nil {
		return r.st, fmt.Errorf("inventory of revision-deleted versions: %w", err)
	}
	if !opts.Deleted {
		return r.st, nil
	}
	if err := r.deleted(ctx); err != nil {
		return r.st, fmt.Errorf("inventory of deleted versions: %w", err)
	}
	if err := r.deleteDates(ctx); err != nil {
		return r.st, fmt.Errorf("inventory: delete dates from the deletion log: %w", err)
	}
	return r.st, nil
}

type run struct {
	l     Lister
	s     Store
	opts  Options
	st    Stats
	batch []metadata.File
	// seen is every version of the wiki that the API described as hidden,
	// with the upload time of the next newer version of its file.
	seen []hiddenSeen
}

type hiddenSeen struct {
	v    mediawiki.FileVersion
	next time.Time
}

func (r *run) add(ctx context.Context, f metadata.File) error {
	r.batch = append(r.batch, f)
	if len(r.batch) >= r.opts.BatchSize {
		return r.flush(ctx)
	}
	return nil
}

func (r *run) flush(ctx context.Context) error {
	if len(r.batch) == 0 {
		return nil
	}
	got, err := r.s.SyncVersions(ctx, r.opts.WikiID, r.batch, "inventory")
	if err != nil {
		return err
	}
	r.st.SyncStats.Add(got)
	r.batch = r.batch[:0]
	if r.opts.Progress != nil {
		r.opts.Progress(r.st)
	}
	return nil
}

// visible records the current and archived versions, and notes the hidden
// ones for later.
func (r *run) visible(ctx context.Context) error {
	var prev mediawiki.FileVersion // the previous version listed: the next newer one of its file
	err := r.l.AllVersions(ctx, func(v mediawiki.FileVersion) error {
		defer func() { prev = v }()
		if v.Hidden || v.SHA1 == "" {
			var next time.Time
			if prev.Title == v.Title {
				next = prev.Timestamp
			}
			r.seen = append(r.seen, hiddenSeen{v: v, next: next})
			return nil
		}
		return r.add(ctx, FromVersion(v, r.opts.Containers))
	})
	if err == nil {
		err = r.flush(ctx)
	}
	return err
}

// hidden downloads the hidden versions noted by visible to learn their
// sha1, and records those it can read.
func (r *run) hidden(ctx context.Context) error {
	r.st.Hidden = len(r.seen)
	if len(r.seen) == 0 {
		return nil
	}
	revs := Revisions{}
	if err := r.l.FileLogOf(ctx, "delete/revision", func(ev mediawiki.LogEvent) error {
		revs.Add(ev)
		return nil
	}); err != nil {
		return err
	}
	for _, h := range r.seen {
		v := h.v
		known, err := r.knownHidden(ctx, v)
		if err != nil {
			return err
		}
		if known != nil {
			// Read before: its sha1 is known, no need to download it again.
			f := HiddenRow(v.Title, known.ArchiveName, known.SHA1, *known, r.opts.Containers)
			if f.DeleteDate.IsZero() {
				f.DeleteDate = revs.HiddenAt(v.Title, f.ArchiveName)
			}
			r.st.HiddenRead++
			if err := r.add(ctx, f); err != nil {
				return err
			}
			continue
		}
		hv := Hidden{Title: v.Title, UploadDate: v.Timestamp.UTC(), Size: v.Size, MIME: v.MIME,
			Candidates: revs.Candidates(v.Title, h.next)}
		f, err := LearnHidden(ctx, r.l, hv, r.opts.Containers)
		switch {
		case err == nil:
			f.DeleteDate = revs.HiddenAt(v.Title, f.ArchiveName)
			r.st.HiddenRead++
			if err := r.add(ctx, f); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			r.st.notRecorded(WhatHidden, hiddenReason(err))
		}
	}
	return r.flush(ctx)
}

// knownHidden returns the recorded row of a hidden version, nil when the
// metadata does not know it: a version of its title uploaded at the same
// time, of the same size, deleted but not in the file archive, as update
// and an earlier inventory record it.
func (r *run) knownHidden(ctx context.Context, v mediawiki.FileVersion) (*metadata.File, error) {
	rows, err := r.s.VersionsOf(ctx, r.opts.WikiID, v.Title)
	if err != nil {
		return nil, err
	}
	for i, f := range rows {
		if f.Status == metadata.Deleted && f.FilearchiveID == 0 && f.ArchiveName != "" && f.SHA1 != "" &&
			f.UploadDate.Equal(v.Timestamp) && (v.Size == 0 || f.Size == 0 || f.Size == v.Size) {
			return &rows[i], nil
		}
	}
	return nil, nil
}

// hiddenReason says why a hidden version could not be read.
func hiddenReason(err error) string {
	var re *mediawiki.RightError
	switch {
	case errors.As(err, &re):
		return re.Error()
	case errors.Is(err, mediawiki.ErrGone):
		return "its bytes were erased in production"
	case errors.Is(err, ErrHiddenNotFound):
		return "its archive name is not in the log and its bytes could not be found under a guessed one"
	}
	return err.Error()
}

// deleted records the deleted versions.
func (r *run) deleted(ctx context.Context) error {
	err := r.l.DeletedVersions(ctx, func(d mediawiki.DeletedVersion) error {
		if d.SHA1 == "" {
			r.st.notRecorded(WhatDeletedHidden, "its content is revision-deleted: needs a login with the deletedtext right (suppressrevision if suppressed)")
			return nil
		}
		r.st.Deleted++
		f := FromDeleted(d, r.opts.Containers)
		if r.opts.DeletedUnreadable != "" {
			f.BackupStatus, f.ErrorReason = metadata.Unreadable, r.opts.DeletedUnreadable
		}
		return r.add(ctx, f)
	})
	if err == nil {
		err = r.flush(ctx)
	}
	return err
}

// dateBatch is how many deletions are dated per round trip to the store.
const dateBatch = 500

// deleteDates dates the deleted versions that have no delete date from the
// deletion log (see Dater): the undeletions first, then the deletions.
func (r *run) deleteDates(ctx context.Context) error {
	dater := NewDater()
	if err := r.l.FileLogOf(ctx, "delete/restore", func(ev mediawiki.LogEvent) error {
		dater.Restored(ev)
		return nil
	}); err != nil {
		return err
	}
	var ds []Deletion
	apply := func() error {
		if len(ds) == 0 {
			return nil
		}
		titles := make([]string, 0, len(ds))
		seen := map[string]bool{}
		for _, d := range ds {
			if !seen[d.Title] {
				seen[d.Title] = true
				titles = append(titles, d.Title)
			}
		}
		undated, err := r.s.UndatedDeletions(ctx, r.opts.WikiID, titles)
		if err != nil {
			return err
		}
		n, err := r.s.SetDeleteDates(ctx, DateVersions(ds, undated))
		if err != nil {
			return err
		}
		r.st.Dated += n
		ds = ds[:0]
		return nil
	}
	err := r.l.FileLogOf(ctx, "delete/delete", func(ev mediawiki.LogEvent) error {
		if d, ok := dater.Deletion(ev); ok {
			ds = append(ds, d)
		}
		if len(ds) >= dateBatch {
			return apply()
		}
		return nil
	})
	if err == nil {
		err = apply()
	}
	return err
}

// FromVersion describes a current or archived version as a metadata row.
func FromVersion(v mediawiki.FileVersion, c mediawiki.Containers) metadata.File {
	f := metadata.File{
		Title: v.Title, SHA1: v.SHA1, Size: v.Size, MIME: v.MIME, MediaType: v.MediaType,
		SourceURL: v.URL, UploadDate: v.Timestamp.UTC(), Status: metadata.Public,
	}
	if v.ArchiveName != "" {
		f.Status = metadata.Archived
		f.ArchiveName = v.ArchiveName
		f.ArchiveDate = v.ArchiveTime.UTC()
		f.Container, f.Path = c.Archived(v.Title, v.ArchiveName)
	} else {
		f.Container, f.Path = c.Public(v.Title)
	}
	return f
}

// FromDeleted describes a deleted version as a metadata row. Its archive
// name, when it was an old version, is kept; the delete date is not in the
// API and stays unknown here (the log has it).
func FromDeleted(d mediawiki.DeletedVersion, c mediawiki.Containers) metadata.File {
	f := metadata.File{
		Title: d.Title, SHA1: d.SHA1, Size: d.Size, MIME: d.MIME, MediaType: d.MediaType,
		UploadDate: d.Timestamp.UTC(), Status: metadata.Deleted, StorageKey: d.StorageKey,
		FilearchiveID: d.ID, ArchiveName: d.ArchiveName,
	}
	if len(d.ArchiveName) > 14 && d.ArchiveName[14] == '!' {
		if t, err := time.Parse("20060102150405", d.ArchiveName[:14]); err == nil {
			f.ArchiveDate = t
		}
	}
	f.Container, f.Path = c.Deleted(d.StorageKey)
	return f
}
