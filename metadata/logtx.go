package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// LogTx is one transaction of `update`: the events of a stretch of a
// wiki's log are applied in it, and the log cursor after them is saved in
// it, so that the rows and the cursor commit together (see ApplyLog). It
// is not safe for concurrent use.
type LogTx struct {
	s      *Store
	tx     *sql.Tx
	wikiID int64
}

// ApplyLog runs fn in one transaction of wiki wikiID, saves the log cursor
// c in the same transaction and commits. Either everything fn wrote and
// the cursor are recorded, or nothing is. When the transaction meets a
// deadlock or a lock wait timeout, ApplyLog rolls it back and runs fn
// again from the start (up to 8 times), so fn must derive what it writes
// from what it reads through the LogTx, and reset anything it counts.
func (s *Store) ApplyLog(ctx context.Context, wikiID int64, c LogCursor, fn func(*LogTx) error) error {
	return retryDeadlock(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("apply log events: %w", err)
		}
		defer tx.Rollback()
		if err := fn(&LogTx{s: s, tx: tx, wikiID: wikiID}); err != nil {
			return err
		}
		if err := saveCursor(ctx, tx, wikiID, c); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("apply log events: commit: %w", err)
		}
		return nil
	})
}

// VersionsOf returns every recorded version of the given titles (DB keys,
// byte-exact), in id order. It sees what the transaction wrote before;
// Reconcile locks the rows it reads again before changing them.
func (t *LogTx) VersionsOf(ctx context.Context, titles ...string) ([]File, error) {
	if len(titles) == 0 {
		return nil, nil
	}
	args := []any{t.wikiID}
	for _, title := range titles {
		args = append(args, title)
	}
	q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.wiki_id = ? AND f.title IN (?` +
		strings.Repeat(",?", len(titles)-1) + `) ORDER BY f.id`
	return queryFiles(ctx, t.tx, fmt.Sprintf("read versions of %q", titles), q, args...)
}

// Reconcile is Store.Reconcile inside the transaction.
func (t *LogTx) Reconcile(ctx context.Context, renames []Rename, versions []File, source string) (SyncStats, int, error) {
	if err := checkVersions(versions); err != nil {
		return SyncStats{}, 0, err
	}
	return t.s.reconcileTx(ctx, t.tx, t.wikiID, renames, versions, source)
}
