package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The reads in this file serve monitoring: they run at every scrape of a
// process's /metrics, so each is an index lookup that reads a row or two,
// whatever the size of the wiki (Commons: over 100 M versions). Counting
// versions by status needs a scan and is left to `status` (Summarize).

// Success is the last successful run of a command for a wiki.
type Success struct {
	Command  string
	Started  time.Time // UTC, whole seconds, rounded down
	Finished time.Time // UTC, whole seconds, rounded down
	Host     string
}

// RecordSuccess records that command ran successfully for the wiki from
// started to finished on host. A record never moves back in time: a run
// that finished before the recorded one changes nothing. Primary-key upsert.
func (s *Store) RecordSuccess(ctx context.Context, wikiID int64, command string, started, finished time.Time, host string) error {
	st, fin := started.UTC().Truncate(time.Second), finished.UTC().Truncate(time.Second)
	// MariaDB assigns left to right, each assignment seeing the ones
	// before it: finished_at goes last so that the others compare with
	// the old value.
	_, err := s.db.ExecContext(ctx, `INSERT INTO last_success (wiki_id, command, started_at, finished_at, host)
		VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE
		host = IF(VALUES(finished_at) >= finished_at, VALUES(host), host),
		started_at = IF(VALUES(finished_at) >= finished_at, VALUES(started_at), started_at),
		finished_at = GREATEST(finished_at, VALUES(finished_at))`,
		wikiID, command, st, fin, host)
	if err != nil {
		return fmt.Errorf("record the success of %s for wiki %d: %w", command, wikiID, err)
	}
	return nil
}

// LastSuccess returns the last successful run of command for the wiki, or
// an error wrapping ErrNotFound when it never succeeded. Primary-key lookup.
func (s *Store) LastSuccess(ctx context.Context, wikiID int64, command string) (Success, error) {
	out := Success{Command: command}
	err := s.db.QueryRowContext(ctx, `SELECT started_at, finished_at, host FROM last_success WHERE wiki_id = ? AND command = ?`,
		wikiID, command).Scan(&out.Started, &out.Finished, &out.Host)
	if errors.Is(err, sql.ErrNoRows) {
		return Success{}, fmt.Errorf("last success of %s for wiki %d: %w", command, wikiID, ErrNotFound)
	}
	if err != nil {
		return Success{}, fmt.Errorf("read the last success of %s for wiki %d: %w", command, wikiID, err)
	}
	out.Started, out.Finished = out.Started.UTC(), out.Finished.UTC()
	return out, nil
}

// OldestPending returns when the oldest pending file version of the wiki
// that a backup can claim was recorded (its created_at); the zero time
// when none is pending. It reads the first row in claim order (see
// claimablePending): one entry of the files_claim index and its row, the
// same walk a claim makes.
func (s *Store) OldestPending(ctx context.Context, wikiID int64) (time.Time, error) {
	var t time.Time
	err := s.db.QueryRowContext(ctx, `SELECT created_at FROM files WHERE `+claimablePending+` LIMIT 1`, wikiID).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("find the oldest pending file of wiki %d: %w", wikiID, err)
	}
	return t.UTC(), nil
}
