package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediabackups/mediabackups/metadata"
)

// RepairStore is the metadata Repair needs.
type RepairStore interface {
	FindBackup(ctx context.Context, wikiID int64, sha256 string) (*metadata.Backup, error)
	EnsureLocation(ctx context.Context, endpoint string) (int64, error)
	Relink(ctx context.Context, fileID, oldBackupID int64, b *metadata.Backup, reason, source string) (bool, error)
	DropBackup(ctx context.Context, backupID int64, remove func(context.Context, metadata.Backup) error) (bool, error)
	UnreferencedBackups(ctx context.Context, wikiID int64) ([]metadata.Backup, error)
}

// Remover deletes the object key from the server endpoint.
type Remover func(ctx context.Context, endpoint, key string) error

// RepairAction is what Repair does (or, in a dry run, would do) with one
// mismatched version.
type RepairAction string

// Repair actions.
const (
	// Refetch: production serves the version's own bytes; they are stored
	// (or found already stored) and the version points at them.
	Refetch RepairAction = "refetch"
	// MakeUnavailable: production serves the version's bytes nowhere now
	// and its object holds another version's: the version points at no
	// object and becomes unavailable, to be retried like any other.
	MakeUnavailable RepairAction = "unavailable"
	// Keep: production still serves, for the version, bytes that match no
	// version of the file (corruption in production), or the mismatch is
	// of kind corrupt and production serves nothing better: left as it is.
	Keep RepairAction = "keep"
	// Failed: production could not be asked or the repair could not be
	// written; Reason says why. Nothing changed for the version.
	Failed RepairAction = "failed"
)

// RepairItem is the outcome for one version.
type RepairItem struct {
	Mismatch metadata.Mismatch
	Action   RepairAction
	// From is where the version's bytes were found (Refetch).
	From string
	// SHA256 is the sha256 of the version's own bytes (Refetch).
	SHA256 string
	// Reason says why (MakeUnavailable, Keep, Failed).
	Reason string
	// Removed is the key of the old object when no version points at it
	// any more and it was removed.
	Removed string
}

// RepairReport is what Repair did.
type RepairReport struct {
	Items []RepairItem
	// Unreferenced are objects that no version pointed at before the
	// repair (left by an interrupted repair or deletion): removed when
	// executing, listed in a dry run.
	Unreferenced []metadata.Backup
}

// SourceRepair is the file_history source of the changes Repair makes.
const SourceRepair = "mismatches --repair"

// Repair fixes versions recorded with bytes that are not theirs (see
// metadata.Store.Mismatches). For each it fetches the version as a backup
// now does (fetchVersion: the recorded place, else wherever the wiki says
// the version is); when the version's own bytes are found, they are stored
// (encrypted like the wiki's other objects) and the version is relinked to
// them; when production serves them nowhere, a version whose object holds
// another version's bytes is unlinked and becomes unavailable; corruption
// in production is kept. An object that no version points at any more is
// removed from its server and from the metadata, so that nothing is left
// behind; so are objects that no version pointed at before (an earlier
// repair or deletion that was interrupted).
//
// Unless execute is set it only reports what it would do: it reads
// production (downloads included, to check the sha1) and writes nothing.
// Running it again after an interruption finishes the work: an object
// uploaded but not yet linked is uploaded again under the same name and
// linked, and one left without a version is removed. opts gives the wiki,
// bucket, recipients, tmpdir and logger, as for Run; progress, when not
// nil, hears about each item as it is done.
func Repair(ctx context.Context, store RepairStore, fetch Fetcher, place Placer, remove Remover, opts Options,
	mismatches []metadata.Mismatch, execute bool, progress func(RepairItem)) (RepairReport, error) {
	opts.defaults()
	r := &runner{objects: store, fetch: fetch, place: place, opts: opts, locations: map[string]int64{}}
	var rep RepairReport
	drop := func(ctx context.Context, b metadata.Backup) error { return remove(ctx, b.Location, b.ObjectKey) }

	unref, err := store.UnreferencedBackups(ctx, opts.WikiID)
	if err != nil {
		return rep, err
	}
	for _, b := range unref {
		if execute {
			if _, err := store.DropBackup(ctx, b.ID, drop); err != nil {
				return rep, err
			}
		}
		rep.Unreferenced = append(rep.Unreferenced, b)
	}

	for _, m := range mismatches {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		it := r.repairOne(ctx, store, drop, m, execute)
		rep.Items = append(rep.Items, it)
		if progress != nil {
			progress(it)
		}
	}
	return rep, nil
}

func (r *runner) repairOne(ctx context.Context, store RepairStore, drop func(context.Context, metadata.Backup) error,
	m metadata.Mismatch, execute bool) RepairItem {
	it := RepairItem{Mismatch: m}
	fail := func(err error) RepairItem {
		it.Action, it.Reason = Failed, err.Error()
		return it
	}
	f := m.File
	if f.Backup == nil {
		return fail(errors.New("the version points at no object"))
	}
	got, err := r.fetchVersion(ctx, f)
	switch {
	case errors.Is(err, metadata.ErrUnavailable) && m.Kind == metadata.Corrupt:
		it.Action, it.Reason = Keep, "production serves no better bytes for it now: "+err.Error()
		return it
	case errors.Is(err, metadata.ErrUnavailable):
		it.Action, it.Reason = MakeUnavailable, err.Error()
		if !execute {
			return it
		}
		orphan, err := store.Relink(ctx, f.ID, f.Backup.ID, nil, it.Reason, SourceRepair)
		if err != nil {
			return fail(err)
		}
		return r.dropOld(ctx, store, drop, it, orphan)
	case err != nil:
		return fail(err)
	}
	defer got.sp.Close()
	if got.corrupt {
		it.Action, it.Reason = Keep, fmt.Sprintf("production still serves, at %s, bytes with sha1 %s that match no version of the file", got.from, got.sp.SHA1())
		return it
	}
	it.Action, it.SHA256, it.From = Refetch, got.sp.SHA256(), got.from
	if it.From == "" { // the recorded place serves them now
		if src, err := r.recorded(f); err == nil {
			it.From = src.what
		}
	}
	if !execute {
		return it
	}
	b, err := store.FindBackup(ctx, f.WikiID, it.SHA256)
	if errors.Is(err, metadata.ErrNotFound) {
		p := prepared{file: f, plain: got.sp, result: metadata.Result{SHA1: got.sp.SHA1(), SHA256: it.SHA256, Size: got.sp.Size()}}
		if err := r.seal(&p); err != nil {
			return fail(err)
		}
		b, err = r.upload(ctx, &p)
		if p.cipher != nil {
			p.cipher.Close()
		}
		if err != nil {
			return fail(err)
		}
	} else if err != nil {
		return fail(err)
	}
	orphan, err := store.Relink(ctx, f.ID, f.Backup.ID, b, "", SourceRepair)
	if err != nil {
		return fail(err)
	}
	return r.dropOld(ctx, store, drop, it, orphan)
}

// dropOld removes the version's old object when no version points at it
// any more.
func (r *runner) dropOld(ctx context.Context, store RepairStore, drop func(context.Context, metadata.Backup) error, it RepairItem, orphan bool) RepairItem {
	if !orphan {
		return it
	}
	old := it.Mismatch.Backup
	removed, err := store.DropBackup(ctx, old.ID, drop)
	if err != nil {
		// The version is repaired; the old object is left for the next run.
		r.opts.Logger.Warn("the old object of a repaired version could not be removed; run the repair again", "key", old.ObjectKey,
			"server", old.Location, "err", err)
		it.Reason = fmt.Sprintf("repaired, but its old object %s on %s is left (run again to remove it): %v", old.ObjectKey, old.Location, err)
		return it
	}
	if removed {
		it.Removed = old.ObjectKey
	}
	return it
}
