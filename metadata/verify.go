package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// VerifyResult is what `mediabackups verify` found when it last read an
// object back (migration 0005).
type VerifyResult string

// Verify results, as recorded on an object.
const (
	// VerifyOK: the object was there and had the recorded hashes.
	VerifyOK VerifyResult = "ok"
	// VerifyMissing: the recorded server does not have the object.
	VerifyMissing VerifyResult = "missing"
	// VerifyDamaged: the object is there but its bytes (or its age header)
	// do not match the recorded hashes.
	VerifyDamaged VerifyResult = "damaged"
	// VerifyRepaired: it was missing or damaged, and a copy from
	// production was stored again and read back correct.
	VerifyRepaired VerifyResult = "repaired"
	// VerifyLost: it was missing or damaged, and production no longer
	// serves its content: the only copy is lost.
	VerifyLost VerifyResult = "lost"
)

// VerifyResults lists every VerifyResult, in the order reports show them.
var VerifyResults = []VerifyResult{VerifyOK, VerifyMissing, VerifyDamaged, VerifyRepaired, VerifyLost}

// VerifyCursor is a position in the order verify reads a wiki's objects:
// first those never checked, by id, then by the time of their last check
// and id. The zero VerifyCursor is the start.
type VerifyCursor struct {
	Checked bool      // past the never-checked objects
	At      time.Time // last check time of the last object read (when Checked)
	ID      int64     // id of the last object read
}

// ObjectsToVerify returns up to n objects of the wiki that come after
// cursor in verify's order (never checked first, then the longest
// unchecked) and whose last check, if any, is before checkedBefore, with
// the cursor after the last one. An object checked at or after
// checkedBefore (by this run, or another) is not returned again. It reads
// the backups_verify index.
func (s *Store) ObjectsToVerify(ctx context.Context, wikiID int64, checkedBefore time.Time, cursor VerifyCursor, n int) ([]Backup, VerifyCursor, error) {
	var out []Backup
	read := func(c VerifyCursor, n int) error {
		q, args := VerifyQuery(wikiID, checkedBefore, c, n)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("list objects to verify: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBackup(rows)
			if err != nil {
				return fmt.Errorf("list objects to verify: %w", err)
			}
			out = append(out, *b)
		}
		return rows.Err()
	}
	if !cursor.Checked {
		if err := read(cursor, n); err != nil {
			return nil, cursor, err
		}
		if len(out) == n {
			return out, VerifyCursor{ID: out[len(out)-1].ID}, nil
		}
		cursor = VerifyCursor{Checked: true}
	}
	if err := read(cursor, n-len(out)); err != nil {
		return nil, cursor, err
	}
	if len(out) > 0 {
		last := out[len(out)-1]
		if last.VerifiedAt.IsZero() {
			cursor = VerifyCursor{Checked: true} // only never-checked ones came: start the second part
		} else {
			cursor = VerifyCursor{Checked: true, At: last.VerifiedAt, ID: last.ID}
		}
	}
	return out, cursor, nil
}

// VerifyQuery returns the query, and its arguments, that ObjectsToVerify
// runs to read up to n objects after cursor within one part of verify's
// order (never checked, or checked before checkedBefore), for tests and
// benchmarks to EXPLAIN.
func VerifyQuery(wikiID int64, checkedBefore time.Time, cursor VerifyCursor, n int) (string, []any) {
	before := checkedBefore.UTC()
	switch {
	case !cursor.Checked:
		return verifySelect + ` WHERE b.wiki_id = ? AND b.verified_at IS NULL AND b.id > ? ORDER BY b.id LIMIT ?`,
			[]any{wikiID, cursor.ID, n}
	case cursor.At.IsZero():
		return verifySelect + ` WHERE b.wiki_id = ? AND b.verified_at IS NOT NULL AND b.verified_at < ? ORDER BY b.verified_at, b.id LIMIT ?`,
			[]any{wikiID, before, n}
	default:
		at := cursor.At.UTC()
		return verifySelect + ` WHERE b.wiki_id = ? AND b.verified_at >= ? AND b.verified_at < ? AND (b.verified_at > ? OR b.id > ?)
			ORDER BY b.verified_at, b.id LIMIT ?`, []any{wikiID, at, before, at, cursor.ID, n}
	}
}

// verifySelect reads objects in verify's order. The index is forced and
// the join order fixed: on a small table MariaDB would rather sort, and a
// sort of a wiki's objects is what the index is there to avoid at scale.
// mediabackups' metadata tests EXPLAIN it.
const verifySelect = `SELECT STRAIGHT_JOIN ` + backupColumns + ` FROM backups AS b FORCE INDEX (backups_verify)
	JOIN locations AS l ON l.id = b.location_id`

// VerifyOrderPlan returns the EXPLAIN rows of the query ObjectsToVerify
// runs past the never-checked objects, one line per table, for tests and
// benchmarks.
func (s *Store) VerifyOrderPlan(ctx context.Context, wikiID int64) ([]string, error) {
	now := time.Now().UTC()
	q, args := VerifyQuery(wikiID, now, VerifyCursor{Checked: true, At: now}, 256)
	return explain(ctx, s.db, `EXPLAIN `+q, args...)
}

func explain(ctx context.Context, db querier, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
		var parts []string
		for i, c := range cols {
			if vals[i].Valid {
				parts = append(parts, c+"="+vals[i].String)
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out, rows.Err()
}

// CountObjects returns how many objects the wiki has.
func (s *Store) CountObjects(ctx context.Context, wikiID int64) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backups WHERE wiki_id = ?`, wikiID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count objects: %w", err)
	}
	return n, nil
}

// VerifyRecord is the outcome of one object's check.
type VerifyRecord struct {
	BackupID int64
	At       time.Time
	Result   VerifyResult
	Detail   string // what was wrong; empty for ok
	// StoredSize, when positive, replaces the object's stored size (a
	// repaired object that was encrypted again).
	StoredSize int64
}

// RecordVerify writes the outcome of checked objects, in one statement.
func (s *Store) RecordVerify(ctx context.Context, recs []VerifyRecord) error {
	if len(recs) == 0 {
		return nil
	}
	q := `UPDATE backups AS b JOIN (` + strings.TrimSuffix(strings.Repeat(`SELECT ? AS id, ? AS at, ? AS res, ? AS detail, ? AS sz UNION ALL `, len(recs)), ` UNION ALL `) +
		`) AS v ON b.id = v.id SET b.verified_at = v.at, b.verify_result = v.res, b.verify_detail = v.detail,
		b.stored_size = IF(v.sz > 0, v.sz, b.stored_size)`
	args := make([]any, 0, 5*len(recs))
	for _, r := range recs {
		detail := r.Detail
		if len(detail) > 4000 {
			detail = detail[:4000]
		}
		args = append(args, r.BackupID, r.At.UTC(), string(r.Result), nullString(detail), r.StoredSize)
	}
	return retryDeadlock(ctx, func() error {
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("record the check of %d objects: %w", len(recs), err)
		}
		return nil
	})
}

// VersionsOfObject returns the file versions whose bytes the object with
// id backupID holds, ordered by id.
func (s *Store) VersionsOfObject(ctx context.Context, backupID int64) ([]File, error) {
	return s.files(ctx, fmt.Sprintf("list the versions of object %d", backupID),
		`SELECT `+fileColumns+` FROM `+fileFrom+` WHERE f.backup_id = ? ORDER BY f.id`, backupID)
}

// VersionsWithoutObject returns the versions of the wiki whose backup
// status says they are stored (backedup or duplicate) but that point to no
// object, ordered by id. It reads the files_backup index (backup_id NULL).
func (s *Store) VersionsWithoutObject(ctx context.Context, wikiID int64) ([]File, error) {
	return s.files(ctx, "list stored versions without an object",
		`SELECT `+fileColumns+` FROM `+fileFrom+` WHERE f.backup_id IS NULL AND f.wiki_id = ?
		AND f.backup_status IN ('backedup', 'duplicate') ORDER BY f.id`, wikiID)
}

// ObjectKeysAt returns up to n object keys recorded at the location, in
// byte order (the order S3 lists keys in), that are greater than after and
// start with prefix. It walks the backups_location_key index, so paging
// through every key of a server takes memory for one page only.
func (s *Store) ObjectKeysAt(ctx context.Context, locationID int64, prefix, after string, n int) ([]string, error) {
	q := `SELECT object_key FROM backups WHERE location_id = ? AND object_key > ?`
	args := []any{locationID, after}
	if prefix != "" {
		q += ` AND object_key >= ?`
		args = append(args, prefix)
		if end, ok := prefixEnd(prefix); ok {
			q += ` AND object_key < ?`
			args = append(args, end)
		}
	}
	q += ` ORDER BY object_key LIMIT ?`
	args = append(args, n)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list the object keys of location %d: %w", locationID, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list the object keys of location %d: %w", locationID, err)
		}
		keys = append(keys, string(k))
	}
	return keys, rows.Err()
}

// prefixEnd returns the smallest byte string greater than every string
// that starts with prefix, and false when there is none (prefix is all
// 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// VerifySummary counts a wiki's objects by the result of their last check
// ("never" for those not checked yet) and gives the oldest check.
type VerifySummary struct {
	ByResult    map[string]int64 `json:"by_result"`
	OldestCheck *time.Time       `json:"oldest_check"` // nil when none was ever checked
}

// SummarizeVerify returns the VerifySummary of the wiki.
func (s *Store) SummarizeVerify(ctx context.Context, wikiID int64) (VerifySummary, error) {
	sum := VerifySummary{ByResult: map[string]int64{}}
	rows, err := s.db.QueryContext(ctx, `SELECT COALESCE(verify_result, 'never'), COUNT(*), MIN(verified_at)
		FROM backups WHERE wiki_id = ? GROUP BY verify_result`, wikiID)
	if err != nil {
		return sum, fmt.Errorf("summarize checks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var res string
		var n int64
		var oldest sql.NullTime
		if err := rows.Scan(&res, &n, &oldest); err != nil {
			return sum, fmt.Errorf("summarize checks: %w", err)
		}
		sum.ByResult[res] = n
		if oldest.Valid && (sum.OldestCheck == nil || oldest.Time.Before(*sum.OldestCheck)) {
			t := oldest.Time
			sum.OldestCheck = &t
		}
	}
	return sum, rows.Err()
}
