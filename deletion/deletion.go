// Package deletion erases backed-up file versions for good, for files
// erased from production for legal reasons.
//
// A deletion is a dry run unless asked otherwise. Before anything is
// touched every file that production served is asked about again, and the
// whole run stops unless each one is gone (404). Then each stored object is
// removed from its recorded server (unless other versions that are not
// being deleted share it), and each version is marked hard-deleted so that
// no backup takes it again. Once an object is gone its records are always
// brought in line, even after an interruption: the metadata never points
// at an object that no longer exists.
package deletion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// Remover deletes stored objects from one server.
type Remover interface {
	Remove(ctx context.Context, key string) error
}

// deleteStore is what the delete engine needs of the metadata store.
type deleteStore interface {
	SharedContent(ctx context.Context, wikiID int64, sha256 string, excludeIDs []int64) ([]metadata.File, error)
	HardDelete(ctx context.Context, id int64, objectRemoved bool) error
}

var _ deleteStore = (*metadata.Store)(nil)

// Steps of a deletion, named in metadata.FileError.
const (
	StepRemoveObject = "remove object"
	StepMark         = "mark hard-deleted"
)

// Served is a file production still answered for with something else than 404.
type Served struct {
	File   metadata.File
	URL    string
	Status int   // HTTP status, 0 when the request failed
	Err    error // the request's failure (a timeout, a refused connection)
}

// ProductionError is returned by CheckProduction when a file is still
// served (or could not be checked): nothing may be deleted.
type ProductionError struct {
	Served []Served
}

func (e *ProductionError) Error() string {
	var b strings.Builder
	files := "files"
	if len(e.Served) == 1 {
		files = "file"
	}
	fmt.Fprintf(&b, "production check failed for %d %s; nothing was deleted:", len(e.Served), files)
	for _, s := range e.Served {
		if s.Err != nil {
			fmt.Fprintf(&b, "\n  %s: %s: %v", s.File.Title, s.URL, s.Err)
		} else {
			fmt.Fprintf(&b, "\n  %s: %s answered %d, want 404", s.File.Title, s.URL, s.Status)
		}
	}
	b.WriteString("\ndelete the files in production first (eraseArchivedFile.php, or delete and erase the page), then run this again")
	return b.String()
}

// Probe asks production about a file version that it served and returns
// the HTTP status it answers: 404 when it no longer serves it.
type Probe func(ctx context.Context, f metadata.File) (int, error)

// HTTPProbe requests a version's production URL with c, as any reader
// would, and returns the status. The body is discarded.
func HTTPProbe(c *http.Client) Probe {
	return func(ctx context.Context, f metadata.File) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.SourceURL, nil)
		if err != nil {
			return 0, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return resp.StatusCode, nil
	}
}

// Deleter removes backed-up versions for good.
type Deleter struct {
	// Locate returns the server recorded as an object's location.
	Locate func(endpoint string) (Remover, bool)
	Store  deleteStore
	// Probe asks production about each file it served (HTTPProbe, or the
	// wiki's API for private wikis).
	Probe Probe
	// Timeout bounds each production request (DefaultCheckTimeout when
	// zero).
	Timeout time.Duration
	// DryRun performs every check and reports what would happen, changing nothing.
	DryRun bool
	// DeleteShared removes an object even when versions that are not being
	// deleted share it (they are left without a backup, pending).
	DeleteShared bool
	// Log receives one line per action (or would-be action) and per failure.
	Log *slog.Logger
	// Journal, when set, records each group's deletion before Delete
	// starts it (see Journal).
	Journal Journal
}

// Journal is where a deletion is recorded, durably, before it is carried
// out: the recovery tools' session log, synced to disk. When Record fails
// Delete stops at once: nothing is deleted that was not recorded first.
type Journal interface {
	// Record writes msg and its key-value args and returns nil only once
	// they are on durable storage.
	Record(msg string, args ...any) error
}

// DefaultCheckTimeout bounds each production request of CheckProduction.
const DefaultCheckTimeout = 10 * time.Second

// CheckProduction asks production (Probe) about every file that has a
// production URL and returns a *ProductionError unless each one answers
// 404 Not Found. A timeout or any other failure counts as served. Files
// without a URL (deleted versions) are not asked about.
func (d *Deleter) CheckProduction(ctx context.Context, files []metadata.File) error {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	probe := d.Probe
	if probe == nil {
		probe = HTTPProbe(&http.Client{Timeout: timeout})
	}
	var served []Served
	for _, f := range files {
		if f.SourceURL == "" {
			continue
		}
		s := Served{File: f, URL: f.SourceURL}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		var err error
		s.Status, err = probe(pctx, f)
		cancel()
		s.Err = err
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		d.log().Info("production check", "file", f.Title, "url", f.SourceURL, "status", s.Status, "error", errString(err))
		if err != nil || s.Status != http.StatusNotFound {
			served = append(served, s)
		}
	}
	if len(served) > 0 {
		return &ProductionError{Served: served}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (d *Deleter) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Group is the versions being deleted that share one stored object (or
// that have none), with the other versions that use the same content.
type Group struct {
	Backup       *metadata.Backup // nil: the versions have no object
	Files        []metadata.File
	Shared       []metadata.File // not being deleted, same content
	RemoveObject bool            // the object will be removed
}

// Plan groups files by stored object and finds, for each object, the
// versions not being deleted that share it. Already hard-deleted versions
// are left out.
func (d *Deleter) Plan(ctx context.Context, files []metadata.File) ([]Group, error) {
	var ids []int64
	for _, f := range files {
		ids = append(ids, f.ID)
	}
	var groups []Group
	byBackup := map[int64]int{}
	for _, f := range files {
		if f.Status == metadata.HardDeleted && f.Backup == nil {
			d.log().Info("already hard-deleted, nothing to do", "file", f.Title, "id", f.ID)
			continue
		}
		if f.Backup == nil {
			groups = append(groups, Group{Files: []metadata.File{f}})
			continue
		}
		if i, ok := byBackup[f.Backup.ID]; ok {
			groups[i].Files = append(groups[i].Files, f)
			continue
		}
		byBackup[f.Backup.ID] = len(groups)
		groups = append(groups, Group{Backup: f.Backup, Files: []metadata.File{f}})
	}
	for i := range groups {
		g := &groups[i]
		if g.Backup == nil {
			continue
		}
		shared, err := d.Store.SharedContent(ctx, g.Files[0].WikiID, g.Backup.SHA256, ids)
		if err != nil {
			return nil, fmt.Errorf("plan deletion: %w", err)
		}
		g.Shared = shared
		g.RemoveObject = len(shared) == 0 || d.DeleteShared
	}
	return groups, nil
}

// Report counts what Delete did (or, in a dry run, would do).
type Report struct {
	Files          int // versions handled
	ObjectsRemoved int
	ObjectsKept    int // shared with versions not being deleted
	MarkedDeleted  int
	Errors         []*metadata.FileError
	// Stopped is the Journal's failure that stopped Delete, nil if it ran
	// to the end. The groups after it were not touched.
	Stopped error
}

// Delete carries out the plan: for each group, the deletion is recorded
// in the Journal, then the object is removed from its recorded server
// (unless it is kept for shared content), then each version is marked
// hard-deleted and unlinked from its object. A failed step is logged and
// counted and the rest continue; when an object cannot be removed its
// versions are left as they are, so that a new run retries. A Journal
// that fails stops everything (Report.Stopped). In a dry run nothing
// changes, nothing is journaled, and the log says what would happen.
// Call CheckProduction first.
func (d *Deleter) Delete(ctx context.Context, groups []Group) Report {
	var rep Report
	log := d.log()
	would := ""
	if d.DryRun {
		would = "DRY RUN: would "
	}
	fail := func(f metadata.File, step string, err error) {
		e := &metadata.FileError{File: f, Step: step, Err: err}
		rep.Errors = append(rep.Errors, e)
		log.Error("delete failed", "wiki", f.Wiki, "file", f.Title, "id", f.ID, "step", step, "error", err.Error())
	}
	for _, g := range groups {
		if ctx.Err() != nil {
			for _, f := range g.Files {
				fail(f, StepRemoveObject, ctx.Err())
			}
			continue
		}
		if !d.DryRun && d.Journal != nil {
			ids := make([]int64, len(g.Files))
			for i, f := range g.Files {
				ids[i] = f.ID
			}
			args := []any{"wiki", g.Files[0].Wiki, "file", g.Files[0].Title, "ids", fmt.Sprint(ids), "remove_object", g.Backup != nil && g.RemoveObject}
			if g.Backup != nil {
				args = append(args, "location", g.Backup.Location, "bucket", g.Backup.Bucket, "object", g.Backup.ObjectKey)
			}
			if err := d.Journal.Record("deleting", args...); err != nil {
				rep.Stopped = err
				return rep
			}
		}
		rep.Files += len(g.Files)
		removed := false
		if g.Backup != nil {
			b := g.Backup
			if len(g.Shared) > 0 {
				var others []string
				for _, s := range g.Shared {
					others = append(others, fmt.Sprintf("%s (%s, uploaded %s)", s.Title, s.Status, s.UploadDate.Format("2006-01-02 15:04:05")))
				}
				if g.RemoveObject {
					log.Warn("SHARED CONTENT: "+would+"remove the object anyway (--delete-shared); these versions lose their backup",
						"object", b.ObjectKey, "shared_with", strings.Join(others, "; "))
				} else {
					log.Warn("SHARED CONTENT: the object is kept, because versions not being deleted use it (--delete-shared removes it anyway)",
						"object", b.ObjectKey, "shared_with", strings.Join(others, "; "))
				}
			}
			if g.RemoveObject {
				srv, ok := d.Locate(b.Location)
				switch {
				case !ok:
					for _, f := range g.Files {
						fail(f, StepRemoveObject, fmt.Errorf("object %s is recorded on %s, which is not in storage.endpoints of the config", b.ObjectKey, b.Location))
					}
					continue
				case d.DryRun:
					log.Info(would+"remove object", "location", b.Location, "bucket", b.Bucket, "object", b.ObjectKey)
				default:
					if err := srv.Remove(ctx, b.ObjectKey); err != nil {
						for _, f := range g.Files {
							fail(f, StepRemoveObject, err)
						}
						continue
					}
					log.Info("removed object", "location", b.Location, "bucket", b.Bucket, "object", b.ObjectKey)
				}
				removed = true
				rep.ObjectsRemoved++
			} else {
				rep.ObjectsKept++
			}
		}
		for i, f := range g.Files {
			if d.DryRun {
				log.Info(would+"mark hard-deleted and remove the backup record", "wiki", f.Wiki, "file", f.Title, "id", f.ID)
				rep.MarkedDeleted++
				continue
			}
			// The last version of the group drops the object's record. Once
			// the object is gone its records are brought in line even if the
			// operator interrupts now: the metadata must never point at an
			// object that no longer exists.
			mctx := ctx
			if removed {
				mctx = context.WithoutCancel(ctx)
			}
			if err := d.Store.HardDelete(mctx, f.ID, removed && i == len(g.Files)-1); err != nil {
				fail(f, StepMark, err)
				continue
			}
			rep.MarkedDeleted++
			log.Info("marked hard-deleted", "wiki", f.Wiki, "file", f.Title, "id", f.ID)
		}
	}
	return rep
}

// IsProductionError reports whether err is (or wraps) a *ProductionError.
func IsProductionError(err error) bool {
	var pe *ProductionError
	return errors.As(err, &pe)
}
