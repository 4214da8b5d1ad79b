// Package inventory pulls the complete list of a wiki's file versions from
// its Action API into the metadata store: every current version, every older
// (archived) version and, with a login that may see them, every deleted
// version. New versions become pending backups; known ones have what changed
// recorded in their history.
package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Lister lists a wiki's file versions.
type Lister interface {
	AllVersions(ctx context.Context, fn func(mediawiki.FileVersion) error) error
	DeletedVersions(ctx context.Context, fn func(mediawiki.DeletedVersion) error) error
}

// Store records versions.
type Store interface {
	SyncVersions(ctx context.Context, wikiID int64, versions []metadata.File, source string) (metadata.SyncStats, error)
}

// Options configures a Run.
type Options struct {
	WikiID     int64
	Containers mediawiki.Containers
	// Deleted also lists deleted versions (list=filearchive; needs a login
	// with the deletedhistory right).
	Deleted bool
	// BatchSize is how many versions are written per transaction (default 500).
	BatchSize int
	// Progress, when set, is called after every batch with the totals so far.
	Progress func(Stats)
}

// Stats counts what a Run saw and did.
type Stats struct {
	metadata.SyncStats
	Hidden  int `json:"hidden"`  // revision-deleted versions the API does not describe
	Deleted int `json:"deleted"` // deleted versions seen
}

// Run lists every version and records it. Each batch is one transaction, so
// an interrupted run leaves whole batches behind and running it again
// completes it.
func Run(ctx context.Context, l Lister, s Store, opts Options) (Stats, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	var st Stats
	batch := make([]metadata.File, 0, opts.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		got, err := s.SyncVersions(ctx, opts.WikiID, batch, "inventory")
		if err != nil {
			return err
		}
		st.SyncStats.Add(got)
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(st)
		}
		return nil
	}
	err := l.AllVersions(ctx, func(v mediawiki.FileVersion) error {
		if v.Hidden || v.SHA1 == "" {
			st.Hidden++
			return nil
		}
		batch = append(batch, FromVersion(v, opts.Containers))
		if len(batch) >= opts.BatchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, fmt.Errorf("inventory of current and archived versions: %w", err)
	}
	if !opts.Deleted {
		return st, nil
	}
	err = l.DeletedVersions(ctx, func(d mediawiki.DeletedVersion) error {
		if d.SHA1 == "" {
			st.Hidden++
			return nil
		}
		st.Deleted++
		batch = append(batch, FromDeleted(d, opts.Containers))
		if len(batch) >= opts.BatchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, fmt.Errorf("inventory of deleted versions: %w", err)
	}
	return st, nil
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
