package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LogCursor is how far `update` has applied a wiki's log. MediaWiki can
// only resume list=logevents from a timestamp (inclusive, to the second),
// and several events can share one second, so the cursor is the timestamp
// of the last applied event plus the ids of every event applied at that
// second. The zero LogCursor means "from the beginning of the log".
type LogCursor struct {
	Timestamp time.Time // UTC, whole seconds
	SeenIDs   []int64   // log ids applied at Timestamp, ascending
}

// IsZero reports whether c is the start of the log.
func (c LogCursor) IsZero() bool { return c.Timestamp.IsZero() && len(c.SeenIDs) == 0 }

// Seen reports whether the event with log id id at timestamp ts was
// already applied: it is older than the cursor, or at the cursor's second
// with an id the cursor holds.
func (c LogCursor) Seen(id int64, ts time.Time) bool {
	ts = ts.UTC().Truncate(time.Second)
	if ts.Before(c.Timestamp) {
		return true
	}
	if ts.Equal(c.Timestamp) {
		_, found := slices.BinarySearch(c.SeenIDs, id)
		return found
	}
	return false
}

// Advance returns the cursor after applying the event id at ts. Events
// must be applied in log order (timestamp, then id); an event older than
// the cursor leaves it unchanged.
func (c LogCursor) Advance(id int64, ts time.Time) LogCursor {
	ts = ts.UTC().Truncate(time.Second)
	switch {
	case ts.After(c.Timestamp):
		return LogCursor{Timestamp: ts, SeenIDs: []int64{id}}
	case ts.Equal(c.Timestamp):
		i, found := slices.BinarySearch(c.SeenIDs, id)
		if found {
			return c
		}
		ids := slices.Insert(slices.Clone(c.SeenIDs), i, id)
		return LogCursor{Timestamp: c.Timestamp, SeenIDs: ids}
	default:
		return c
	}
}

// FormatLogIDs encodes log ids as ParseLogIDs reads them: decimal,
// comma-separated.
func FormatLogIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// ParseLogIDs decodes a comma-separated list of positive decimal log ids,
// as FormatLogIDs writes it, and returns them sorted without duplicates. An
// empty string is no ids. It never panics; anything else is an error.
func ParseLogIDs(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	ids := make([]int64, 0, len(parts))
	for _, p := range parts {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 || p[0] == '+' {
			return nil, fmt.Errorf("bad log id %q in cursor", p)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Cursor returns the log cursor of a wiki: the zero LogCursor when
// `update` never ran for it.
func (s *Store) Cursor(ctx context.Context, wikiID int64) (LogCursor, error) {
	var (
		ts  time.Time
		ids []byte
	)
	err := s.db.QueryRowContext(ctx, "SELECT log_timestamp, seen_ids FROM wiki_cursors WHERE wiki_id = ?", wikiID).Scan(&ts, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return LogCursor{}, nil
	}
	if err != nil {
		return LogCursor{}, fmt.Errorf("read log cursor of wiki %d: %w", wikiID, err)
	}
	seen, err := ParseLogIDs(string(ids))
	if err != nil {
		return LogCursor{}, fmt.Errorf("read log cursor of wiki %d: %w", wikiID, err)
	}
	return LogCursor{Timestamp: ts.UTC(), SeenIDs: seen}, nil
}

// SaveCursor records the log cursor of a wiki, replacing the previous one.
func (s *Store) SaveCursor(ctx context.Context, wikiID int64, c LogCursor) error {
	return saveCursor(ctx, s.db, wikiID, c)
}

// execer is what saveCursor writes through: the database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func saveCursor(ctx context.Context, db execer, wikiID int64, c LogCursor) error {
	var last int64
	if n := len(c.SeenIDs); n > 0 {
		last = c.SeenIDs[n-1]
	}
	_, err := db.ExecContext(ctx, `INSERT INTO wiki_cursors (wiki_id, log_timestamp, seen_ids, last_log_id, updated_at)
		VALUES (?, ?, ?, ?, UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE log_timestamp = VALUES(log_timestamp),
		seen_ids = VALUES(seen_ids), last_log_id = VALUES(last_log_id), updated_at = VALUES(updated_at)`,
		wikiID, c.Timestamp.UTC().Truncate(time.Second), FormatLogIDs(c.SeenIDs), last)
	if err != nil {
		return fmt.Errorf("save log cursor of wiki %d: %w", wikiID, err)
	}
	return nil
}
