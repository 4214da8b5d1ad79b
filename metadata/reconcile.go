package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// VersionsOf returns every recorded version of the given titles of a wiki
// (DB keys, byte-exact), in id order.
func (s *Store) VersionsOf(ctx context.Context, wikiID int64, titles ...string) ([]File, error) {
	if len(titles) == 0 {
		return nil, nil
	}
	args := []any{wikiID}
	for _, t := range titles {
		args = append(args, t)
	}
	q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.wiki_id = ? AND f.title IN (?` +
		strings.Repeat(",?", len(titles)-1) + `) ORDER BY f.id`
	return s.files(ctx, fmt.Sprintf("read versions of %q", titles), q, args...)
}

// Rename moves one recorded version to another title (a file move).
type Rename struct {
	FileID   int64
	NewTitle string
}

// Reconcile applies, in one transaction, the renames (each writes a
// "title" history row with the old and new title) and then SyncVersions of
// versions, all with source. A rename of a hard-deleted version, or to the
// title it already has, is skipped. It returns what the sync did plus the
// number of versions renamed.
func (s *Store) Reconcile(ctx context.Context, wikiID int64, renames []Rename, versions []File, source string) (SyncStats, int, error) {
	if err := checkVersions(versions); err != nil {
		return SyncStats{}, 0, err
	}
	var (
		st      SyncStats
		renamed int
	)
	err := retryDeadlock(ctx, func() error {
		var err error
		st, renamed, err = s.reconcile(ctx, wikiID, renames, versions, source)
		return err
	})
	return st, renamed, err
}

func (s *Store) reconcile(ctx context.Context, wikiID int64, renames []Rename, versions []File, source string) (SyncStats, int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return SyncStats{}, 0, fmt.Errorf("reconcile versions: %w", err)
	}
	defer tx.Rollback()
	st, renamed, err := s.reconcileTx(ctx, tx, wikiID, renames, versions, source)
	if err != nil {
		return SyncStats{}, 0, err
	}
	if err := tx.Commit(); err != nil {
		return SyncStats{}, 0, fmt.Errorf("reconcile versions: commit: %w", err)
	}
	return st, renamed, nil
}

// reconcileTx is the work of Reconcile inside tx, which the caller commits.
func (s *Store) reconcileTx(ctx context.Context, tx *sql.Tx, wikiID int64, renames []Rename, versions []File, source string) (SyncStats, int, error) {
	now := time.Now().UTC().Truncate(time.Second)
	renamed := 0
	for _, r := range renames {
		var (
			title  string
			status ProductionStatus
		)
		if err := tx.QueryRowContext(ctx, `SELECT title, production_status FROM files WHERE id = ? AND wiki_id = ? FOR UPDATE`,
			r.FileID, wikiID).Scan(&title, &status); err != nil {
			return SyncStats{}, 0, fmt.Errorf("rename file %d to %q: %w", r.FileID, r.NewTitle, err)
		}
		if title == r.NewTitle || status == HardDeleted {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files SET title = ?, updated_at = ? WHERE id = ?`, r.NewTitle, now, r.FileID); err != nil {
			return SyncStats{}, 0, fmt.Errorf("rename file %d from %q to %q: %w", r.FileID, title, r.NewTitle, err)
		}
		if err := writeHistory(ctx, tx, r.FileID, []change{{column: "title", oldText: title, newText: r.NewTitle}}, source, now); err != nil {
			return SyncStats{}, 0, err
		}
		renamed++
	}
	st, err := s.syncTx(ctx, tx, wikiID, versions, source)
	if err != nil {
		return SyncStats{}, 0, err
	}
	return st, renamed, nil
}
