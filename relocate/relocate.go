// Package relocate moves a stored object to a new place, another server or
// another key, so that a crash at any point loses nothing and the next run
// leaves nothing behind. `rebalance` and `rekey` move objects through it.
//
// # The protocol
//
// A move of one object (a backups row) from place F to place T:
//
//  1. the move is written in the journal (metadata.Store.BeginMove);
//  2. the new object is written at T and verified there (the caller's
//     Write);
//  3. the backups row is pointed at T, if it still points at F
//     (CommitMove): from now on restores read T;
//  4. the object at F is removed;
//  5. the journal row is deleted (EndMove).
//
// Whatever the point at which the process dies, the backups row points at
// a complete, verified object: F until step 3, T after it. [Mover.Recover]
// reads what the journal holds at the start of the next run and finishes
// each move: a committed one by removing F, any other by removing the copy
// at T (unless a backups row records an object there). When the object
// itself was deleted meanwhile, whatever is left at F and at T goes. A move
// whose object is deleted while it runs (step 3 finds no row at F) removes
// its copy at T at once.
//
// A deletion (delete-media-file) takes the same lock as the movers, so
// that no object moves between the moment its location is read and the
// moment it is removed.
//
// Only one process may move objects at a time (metadata.Store.LockMoves):
// the journal has one row per object, and two movers would undo each
// other's copies.
//
// # Readers meanwhile
//
// Backups look objects up by content (the backups row), not by place, so
// a move does not disturb their dedup. A restore that read the row before
// step 3 and fetches F after step 4 finds nothing there: it reads the row
// again and fetches T (restore.Restorer.Reload).
package relocate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// Journal is what a Mover needs of the metadata store.
type Journal interface {
	BeginMove(ctx context.Context, m metadata.Move) error
	CommitMove(ctx context.Context, m metadata.Move, o metadata.MovedObject) (bool, error)
	EndMove(ctx context.Context, backupID int64) error
	PendingMoves(ctx context.Context) ([]metadata.PendingMove, error)
	RecordedAt(ctx context.Context, p metadata.Place) (bool, error)
}

var _ Journal = (*metadata.Store)(nil)

// Write writes the object's content at its new place (key on dst),
// verifies it there, and returns what to record of it. A failed Write may
// leave a partial or unverified object at the new place: the Mover removes
// it.
type Write func(ctx context.Context, dst storage.Backend, key string) (metadata.MovedObject, error)

// Mover moves objects through the journal.
type Mover struct {
	Journal Journal
	// Locate returns the configured server of a recorded endpoint
	// (storage.Sharded.ByEndpoint).
	Locate func(endpoint string) (storage.Backend, bool)
	// Host names this process in the journal.
	Host string
	// Log receives a line per finished or undone move found by Recover,
	// and per failure to clean up; nil discards them.
	Log *slog.Logger
}

// cleanupTimeout bounds the steps that follow a commit, and the cleanup
// of a failed copy, which run even when the caller's context is cancelled:
// a move that is half done costs a journal row until the next run.
const cleanupTimeout = 2 * time.Minute

// ErrChanged is returned by Move when the object was deleted or moved by
// someone else while it was being copied: the copy was removed (or is
// left in the journal for the next run), and nothing else changed.
var ErrChanged = errors.New("the object was deleted or changed during the move; it was left as it is")

// Result says how a Move ended.
type Result struct {
	Object metadata.MovedObject
	// SourceLeft, when not nil, is why the object at the old place could
	// not be removed after the move was committed: the journal keeps it,
	// and the next Recover removes it. The move itself is done.
	SourceLeft error
}

// Move moves obj from its recorded place to to, with write producing the
// new object (see the package documentation). It returns an error when
// nothing was committed: the object is still read from its old place,
// and whatever write left at to is removed (or, when that fails, left in
// the journal for the next Recover). ErrChanged means the object was
// deleted or moved meanwhile. metadata.ErrMoveInProgress means the object
// has an unfinished move in the journal: run Recover first.
func (m *Mover) Move(ctx context.Context, obj metadata.StoredObject, reason string, to metadata.Place, write Write) (Result, error) {
	from := metadata.Place{LocationID: obj.LocationID, Endpoint: obj.Location, Key: obj.ObjectKey}
	if from.LocationID == to.LocationID && from.Key == to.Key {
		return Result{}, fmt.Errorf("move object %d: it is at %s already", obj.ID, to)
	}
	dst, ok := m.Locate(to.Endpoint)
	if !ok {
		return Result{}, fmt.Errorf("move %s to %s: the target server is not in storage.endpoints", from, to)
	}
	src, ok := m.Locate(from.Endpoint)
	if !ok {
		return Result{}, fmt.Errorf("move %s to %s: the server it is recorded on is not in storage.endpoints", from, to)
	}
	mv := metadata.Move{BackupID: obj.ID, Reason: reason, From: from, To: to, Host: m.Host}
	if err := m.Journal.BeginMove(ctx, mv); err != nil {
		return Result{}, err
	}
	moved, err := write(ctx, dst, to.Key)
	if err != nil {
		err = fmt.Errorf("move %s to %s: %w", from, to, err)
		return Result{}, errors.Join(err, m.undo(ctx, mv, dst))
	}
	// Past this point the move is finished even if the caller gives up:
	// a commit must not be left half-done, nor a copy without its record.
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	committed, err := m.Journal.CommitMove(fin, mv, moved)
	if err != nil {
		// Unknown whether it committed: the journal row tells the next run.
		return Result{}, fmt.Errorf("move %s to %s: %w (the next run finishes or undoes it)", from, to, err)
	}
	if !committed {
		return Result{}, errors.Join(fmt.Errorf("move %s to %s: %w", from, to, ErrChanged), m.undo(fin, mv, dst))
	}
	res := Result{Object: moved}
	if err := src.Remove(fin, from.Key); err != nil {
		res.SourceLeft = fmt.Errorf("remove the old object after the move: %w (the next run removes it)", err)
		return res, nil
	}
	if err := m.Journal.EndMove(fin, mv.BackupID); err != nil {
		res.SourceLeft = fmt.Errorf("the old object is removed, but: %w (the next run clears it)", err)
	}
	return res, nil
}

// undo removes what a move that was not committed wrote at its target,
// unless a backups row records an object there, and ends the move. On
// failure the journal keeps the move for the next Recover.
func (m *Mover) undo(ctx context.Context, mv metadata.Move, dst storage.Backend) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	inUse, err := m.Journal.RecordedAt(ctx, mv.To)
	if err != nil {
		return fmt.Errorf("undo the move: %w (the next run undoes it)", err)
	}
	if !inUse {
		if err := dst.Remove(ctx, mv.To.Key); err != nil {
			return fmt.Errorf("undo the move: remove the copy: %w (the next run removes it)", err)
		}
	}
	if err := m.Journal.EndMove(ctx, mv.BackupID); err != nil {
		return fmt.Errorf("undo the move: %w (the next run clears it)", err)
	}
	return nil
}

// Recovery is what Recover found in the journal.
type Recovery struct {
	// Finished counts committed moves whose old object it removed.
	Finished int `json:"finished"`
	// Undone counts moves it undid: their copy removed, the object left
	// where the metadata records it.
	Undone int `json:"undone"`
	// Left are the moves it could not clean now (a server down or not
	// configured, a failure): they stay in the journal.
	Left []string `json:"left"`
}

// Recover finishes or undoes every move left in the journal by a process
// that stopped before its end (see the package documentation). Moves it
// cannot clean now (their server is down or not configured, a call fails)
// are listed in Left and stay in the journal for a later run; only a
// failure to read the journal is an error. Call it with the moves lock
// held, before new moves.
func (m *Mover) Recover(ctx context.Context) (Recovery, error) {
	var rec Recovery
	pending, err := m.Journal.PendingMoves(ctx)
	if err != nil {
		return rec, err
	}
	for _, p := range pending {
		if err := ctx.Err(); err != nil {
			return rec, err
		}
		// What to remove: the old object of a committed move, the copy of
		// any other; both when the object itself was deleted meanwhile
		// (whether the move was committed before is unknown, and neither
		// copy is anyone's any more).
		type removal struct {
			what  string
			place metadata.Place
		}
		var (
			what     string
			removals []removal
		)
		switch {
		case p.Committed():
			what, removals = "finished", []removal{{"remove the old object", p.From}}
		case p.Current == nil:
			what, removals = "undone (the object was deleted meanwhile)", []removal{{"remove the copy", p.To}, {"remove the old object", p.From}}
		default:
			what, removals = "undone", []removal{{"remove the copy", p.To}}
		}
		left := ""
		for _, r := range removals {
			if !p.Committed() {
				inUse, err := m.Journal.RecordedAt(ctx, r.place)
				if err != nil {
					left = err.Error()
					break
				}
				if inUse {
					continue // an object recorded there is in use
				}
			}
			srv, ok := m.Locate(r.place.Endpoint)
			if !ok {
				left = fmt.Sprintf("%s: %s is not in storage.endpoints", r.what, r.place.Endpoint)
				break
			}
			if err := srv.Remove(ctx, r.place.Key); err != nil {
				left = fmt.Sprintf("%s: %v", r.what, err)
				break
			}
		}
		if left != "" {
			rec.Left = append(rec.Left, fmt.Sprintf("object %d (%s → %s): %s", p.BackupID, p.From, p.To, left))
			continue
		}
		if err := m.Journal.EndMove(ctx, p.BackupID); err != nil {
			rec.Left = append(rec.Left, fmt.Sprintf("object %d (%s → %s): %v", p.BackupID, p.From, p.To, err))
			continue
		}
		if p.Committed() {
			rec.Finished++
		} else {
			rec.Undone++
		}
		m.log().Info("move left by an earlier run: "+what, "reason", p.Reason, "object", p.BackupID,
			"from", p.From.String(), "to", p.To.String(), "started", p.Started.Format(time.DateTime), "host", p.Host)
	}
	for _, l := range rec.Left {
		m.log().Warn("move left by an earlier run could not be cleaned now; a later run tries again", "move", l)
	}
	return rec, nil
}

func (m *Mover) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}
