// Package lostserver deals with a MinIO server whose objects are lost for
// good (a dead machine, a wiped disk): it finds every object the metadata
// records on it, asks production whether it still serves each one's
// content, and puts the versions that can be fetched again back to pending,
// so that the next backup stores them again where the servers send new
// objects today. The rest are reported as the only copy lost.
//
// # What is lost
//
// Every backups row recorded on the server is looked at. When the server
// can still be asked (it is configured and not down), an object it still
// has, with its recorded size, is kept; one it answers it does not have
// (no such key, or no bucket at all: a wiped server) is lost. A server
// that does not answer stops the run: mark it down in storage.endpoints
// (then it is not asked, and everything recorded on it counts as lost).
//
// # What production still has
//
// For each lost object, the wiki's API is asked, per version of it (a
// backed-up version and its duplicates share one object), whether the
// version's title still has the object's content: a current or old
// version with the object's sha1 (prop=imageinfo), a deleted one in the
// file archive with that sha1 (list=filearchive), or a revision-deleted
// old version uploaded at the same second (its sha1 is not shown; the
// backup fetches it and checks it).
//
//   - If at least one version is served, the object's content can be had
//     again: every version of the object goes back to pending and loses
//     its link, and the object's record is deleted (one transaction, with
//     history), so that the backup's dedup check does not find the lost
//     object. The next backup stores the content again and marks the
//     versions backedup or duplicate. Versions whose own title no longer
//     serves the content are listed: the backup may not be able to fetch
//     them by themselves.
//   - If none is served, the only copy is lost: the versions and the record
//     are left as they are (query-media-file still shows where the object
//     was), and each version is listed.
//   - An object no version refers to is only a record: it is deleted.
//
// A wiki that is not in the configuration, or whose API fails, leaves its
// objects as they are, listed as unchecked.
package lostserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// Store is what recovering a lost server needs of the metadata.
type Store interface {
	LocationID(ctx context.Context, endpoint string) (int64, error)
	ObjectsAt(ctx context.Context, locationID, after int64, limit int) ([]metadata.StoredObject, error)
	FilesOfObject(ctx context.Context, backupID int64) ([]metadata.File, error)
	ForgetLostObject(ctx context.Context, backupID, locationID int64) (int, error)
}

var _ Store = (*metadata.Store)(nil)

// Production answers what a wiki still serves.
type Production interface {
	Versions(ctx context.Context, titles []string) (map[string][]mediawiki.FileVersion, error)
	DeletedVersionsOf(ctx context.Context, title string) ([]mediawiki.DeletedVersion, error)
}

var _ Production = (*mediawiki.Client)(nil)

// Options configures Recover.
type Options struct {
	// Endpoint is the lost server, as recorded (normalized).
	Endpoint string
	// Server, when not nil, is asked which objects it still has; nil when
	// it is down or not configured: everything on it is lost.
	Server storage.Backend
	// Wiki returns the production API of a wiki, or an error saying why
	// there is none (not in the configuration).
	Wiki func(name string) (Production, error)
	// Execute changes the metadata; without it Recover only reports.
	Execute bool
	Log     *slog.Logger
}

// Version is a file version in a Report.
type Version struct {
	ID         int64  `json:"id"`
	Wiki       string `json:"wiki"`
	Title      string `json:"title"`
	UploadDate string `json:"upload_date"`
	SHA1       string `json:"sha1"`
	Status     string `json:"production_status"`
	Backup     string `json:"backup_status"` // before the run
	Object     string `json:"object"`
	// Note says what is particular about it (e.g. its own title no longer
	// serves the content, another version's does).
	Note string `json:"note,omitempty"`
}

// Report is what Recover found and did.
type Report struct {
	DryRun   bool   `json:"dry_run"`
	Endpoint string `json:"endpoint"`
	// Objects is how many objects the metadata records on the server.
	Objects int `json:"objects"`
	// StillThere counts objects the server still has: left alone.
	StillThere int `json:"still_there"`
	// Recovered are the versions set (or, in a dry run, to be set) back
	// to pending: their content is served by production.
	Recovered []Version `json:"recovered"`
	// OnlyCopyLost are the versions whose content production no longer
	// serves: the lost object was the only copy.
	OnlyCopyLost []Version `json:"only_copy_lost"`
	// Unchecked are versions whose wiki could not be asked; left as they
	// are.
	Unchecked []Version `json:"unchecked"`
	// RecordsDropped counts object records deleted (or to be): those of
	// recovered contents, and those no version referred to.
	RecordsDropped int `json:"records_dropped"`
	// Failed are objects whose metadata could not be changed.
	Failed []string `json:"failed"`
}

// ErrNotAnswering is wrapped by Recover's error when the lost server is
// configured, not down, and does not answer.
var ErrNotAnswering = errors.New("the server does not answer")

const pageSize = 200

// Recover finds the objects recorded on the lost server and, with
// Execute, puts what production still serves back to pending (see the
// package documentation). Per-object failures are in the report; the error
// is for what stops the run.
func Recover(ctx context.Context, store Store, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{DryRun: !o.Execute, Endpoint: o.Endpoint, Recovered: []Version{}, OnlyCopyLost: []Version{}, Unchecked: []Version{}, Failed: []string{}}
	loc, err := store.LocationID(ctx, o.Endpoint)
	if errors.Is(err, metadata.ErrNotFound) {
		return rep, nil // nothing was ever stored there
	}
	if err != nil {
		return rep, err
	}
	wikis := map[string]wikiAnswer{}
	var after int64
	for {
		page, err := store.ObjectsAt(ctx, loc, after, pageSize)
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		// Objects recorded on it, and no longer there.
		var lost []metadata.StoredObject
		for _, obj := range page {
			rep.Objects++
			there, err := stillThere(ctx, o.Server, obj)
			if err != nil {
				return rep, err
			}
			if there {
				rep.StillThere++
				continue
			}
			lost = append(lost, obj)
		}
		if err := recoverPage(ctx, store, o, loc, lost, wikis, rep); err != nil {
			return rep, err
		}
	}
	o.Log.Info("recover-server done", "server", o.Endpoint, "objects", rep.Objects, "still_there", rep.StillThere,
		"versions_recovered", len(rep.Recovered), "versions_only_copy_lost", len(rep.OnlyCopyLost), "versions_unchecked", len(rep.Unchecked))
	return rep, nil
}

// recoverPage handles a page of lost objects: it asks each wiki about
// the titles of all their versions at once, then decides object by
// object.
func recoverPage(ctx context.Context, store Store, o Options, loc int64, lost []metadata.StoredObject,
	wikis map[string]wikiAnswer, rep *Report) error {
	files := make([][]metadata.File, len(lost))
	titles := map[string][]string{} // wiki → titles to ask about
	seen := map[string]bool{}
	for i, obj := range lost {
		fs, err := store.FilesOfObject(ctx, obj.ID)
		if err != nil {
			return err
		}
		files[i] = fs
		for _, f := range fs {
			if k := obj.Wiki + "\x00" + f.Title; !seen[k] {
				seen[k] = true
				titles[obj.Wiki] = append(titles[obj.Wiki], f.Title)
			}
		}
	}
	asked := map[string]*production{}
	for wiki, ts := range titles {
		w, ok := wikis[wiki]
		if !ok {
			w.prod, w.err = o.Wiki(wiki)
			wikis[wiki] = w
		}
		if w.err != nil {
			asked[wiki] = &production{err: w.err}
			continue
		}
		current, err := w.prod.Versions(ctx, ts)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			err = fmt.Errorf("ask production: %w", err)
			o.Log.Warn("could not ask production; its objects are left as they are", "wiki", wiki, "err", err.Error())
		}
		asked[wiki] = &production{prod: w.prod, current: current, deleted: map[string][]mediawiki.DeletedVersion{}, err: err}
	}
	for i, obj := range lost {
		if err := recoverObject(ctx, store, o, loc, obj, files[i], asked[obj.Wiki], rep); err != nil {
			return err
		}
	}
	return nil
}

// stillThere reports whether srv still has obj with its recorded size.
func stillThere(ctx context.Context, srv storage.Backend, obj metadata.StoredObject) (bool, error) {
	if srv == nil {
		return false, nil
	}
	info, err := srv.Stat(ctx, obj.ObjectKey)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrNoBucket):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: %w\nif it is lost for good, mark it down in storage.endpoints ({url: %s, state: down}) and run this again: then it is not asked",
			ErrNotAnswering, err, srv.Endpoint())
	}
	return info.Size == obj.StoredSize, nil
}

// wikiAnswer is a wiki's production API, or why there is none.
type wikiAnswer struct {
	prod Production
	err  error
}

// production is what a wiki's API said about the titles of a page of lost
// objects, or why it could not be asked.
type production struct {
	prod    Production
	current map[string][]mediawiki.FileVersion
	deleted map[string][]mediawiki.DeletedVersion // asked title by title, when needed
	err     error
}

func recoverObject(ctx context.Context, store Store, o Options, loc int64, obj metadata.StoredObject,
	files []metadata.File, p *production, rep *Report) error {
	if len(files) == 0 {
		rep.RecordsDropped++
		if o.Execute {
			if _, err := store.ForgetLostObject(ctx, obj.ID, loc); err != nil {
				rep.Failed = append(rep.Failed, fmt.Sprintf("%s %s: %v", obj.Wiki, obj.ObjectKey, err))
			}
		}
		return nil
	}
	describe := func(f metadata.File, note string) Version {
		return Version{ID: f.ID, Wiki: f.Wiki, Title: f.Title, UploadDate: f.UploadDate.UTC().Format(time.DateTime),
			SHA1: f.SHA1, Status: string(f.Status), Backup: string(f.BackupStatus), Object: obj.ObjectKey, Note: note}
	}
	unchecked := func(err error) {
		for _, f := range files {
			rep.Unchecked = append(rep.Unchecked, describe(f, err.Error()))
		}
	}
	if p.err != nil {
		unchecked(p.err)
		return nil
	}
	served, err := p.served(ctx, obj.SHA1, files)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.Log.Warn("could not ask production; the object is left as it is", "wiki", obj.Wiki, "object", obj.ObjectKey, "err", err.Error())
		unchecked(fmt.Errorf("ask production: %w", err))
		return nil
	}
	var anyServed *metadata.File
	for i, f := range files {
		if served[f.ID] {
			anyServed = &files[i]
			break
		}
	}
	if anyServed == nil {
		for _, f := range files {
			rep.OnlyCopyLost = append(rep.OnlyCopyLost, describe(f, "production no longer serves sha1 "+obj.SHA1))
		}
		o.Log.Warn("ONLY COPY LOST: production no longer serves the content of a lost object", "wiki", obj.Wiki,
			"object", obj.ObjectKey, "sha1", obj.SHA1, "versions", len(files))
		return nil
	}
	var vs []Version
	for _, f := range files {
		note := ""
		if !served[f.ID] {
			note = fmt.Sprintf("its own title no longer serves the content; %s (id %d) does, and brings the content back", anyServed.Title, anyServed.ID)
		}
		vs = append(vs, describe(f, note))
	}
	if o.Execute {
		if _, err := store.ForgetLostObject(ctx, obj.ID, loc); err != nil {
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s %s: %v", obj.Wiki, obj.ObjectKey, err))
			o.Log.Error("could not reset the versions of a lost object", "wiki", obj.Wiki, "object", obj.ObjectKey, "err", err.Error())
			return nil
		}
		o.Log.Debug("versions of a lost object set back to pending", "wiki", obj.Wiki, "object", obj.ObjectKey, "versions", len(files))
	}
	rep.RecordsDropped++
	rep.Recovered = append(rep.Recovered, vs...)
	return nil
}

// served says, for each version, whether its title still has content
// with sha1 (see the package documentation), and returns the ids of those
// that do. The file archive is asked only about titles whose current and
// old versions do not have it, once per title.
func (p *production) served(ctx context.Context, sha1 string, files []metadata.File) (map[int64]bool, error) {
	out := map[int64]bool{}
	for _, f := range files {
		key := mediawiki.DBKey(f.Title)
		if servesVersion(p.current[key], sha1, f.UploadDate) {
			out[f.ID] = true
			continue
		}
		dv, ok := p.deleted[key]
		if !ok {
			var err error
			if dv, err = p.prod.DeletedVersionsOf(ctx, f.Title); err != nil {
				return nil, err
			}
			p.deleted[key] = dv
		}
		for _, d := range dv {
			if d.SHA1 == sha1 {
				out[f.ID] = true
				break
			}
		}
	}
	return out, nil
}

// servesVersion reports whether a title's current and old versions hold
// content with sha1: a visible version with that sha1, or a hidden one
// (whose sha1 the API does not show) uploaded at the same second.
func servesVersion(vs []mediawiki.FileVersion, sha1 string, uploaded time.Time) bool {
	for _, v := range vs {
		if !v.Hidden && v.SHA1 == sha1 {
			return true
		}
		if v.Hidden && v.Timestamp.Equal(uploaded.UTC()) {
			return true
		}
	}
	return false
}
