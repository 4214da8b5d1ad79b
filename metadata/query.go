package metadata

import (
	"context"
	"fmt"
	"sort"
)

// Summary counts a wiki's file versions by backup status and its objects
// by location. Making one reads every row of the wiki (a scan of minutes
// at Commons' size): it is for `status`, not for every scrape.
type Summary struct {
	Wiki string `json:"wiki"`
	// ByBackupStatus has every status of BackupStatuses, 0 included.
	ByBackupStatus map[string]int64 `json:"by_backup_status"`
	// BytesByBackupStatus adds up the sizes production gives (or, once
	// downloaded, the downloaded size) of the versions in each status.
	BytesByBackupStatus map[string]int64 `json:"bytes_by_backup_status"`
	// Reasons has, for each status of ReasonStatuses that some versions
	// have, their most frequent reasons (at most MaxReasons), most
	// frequent first.
	Reasons           map[string][]ReasonCount `json:"reasons"`
	ObjectsByLocation map[string]int64         `json:"objects_by_location"`
	BytesByLocation   map[string]int64         `json:"bytes_by_location"`
	SHA1Mismatches    int64                    `json:"sha1_mismatches"`
	// Versions is the number of versions, whatever their status.
	Versions int64 `json:"versions"`
	// Verify is what `mediabackups verify` last found about the objects.
	Verify VerifySummary `json:"verify"`
}

// ReasonCount is how many versions of a status have one reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// ReasonStatuses are the backup statuses whose versions carry a reason
// worth showing: why they failed or cannot be backed up.
var ReasonStatuses = []BackupStatus{Error, Unavailable, Unreadable, Gone}

// reasonGroupBytes is how much of a reason Reasons groups by: reasons
// that differ only past it count as one.
const reasonGroupBytes = 512

// MaxReasons bounds the reasons Summarize returns per status.
const MaxReasons = 5

// Reasons returns how many versions of the wiki with id wikiID have status
// st, by reason, most frequent first, at most limit of them (0: all).
func (s *Store) Reasons(ctx context.Context, wikiID int64, st BackupStatus, limit int) ([]ReasonCount, error) {
	// Grouped by the reason's first reasonGroupBytes bytes, not by the BLOB:
	// a BLOB key sends the grouping to an on-disk Aria temporary table (and
	// MariaDB 10.11 once crashed dropping one under this query).
	q := fmt.Sprintf(`SELECT COALESCE(LEFT(error_reason, %d), '') AS r, COUNT(*) AS n FROM files
		WHERE wiki_id = ? AND backup_status = ? GROUP BY r ORDER BY n DESC, r`, reasonGroupBytes)
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, wikiID, string(st))
	if err != nil {
		return nil, fmt.Errorf("count the reasons of %s versions: %w", st, err)
	}
	defer rows.Close()
	var out []ReasonCount
	for rows.Next() {
		var rc ReasonCount
		if err := rows.Scan(&rc.Reason, &rc.Count); err != nil {
			return nil, fmt.Errorf("count the reasons of %s versions: %w", st, err)
		}
		out = append(out, rc)
	}
	return out, rows.Err()
}

// NewSummary returns the Summary of a wiki without any version: every
// status counted 0.
func NewSummary(wiki string) Summary {
	sum := Summary{Wiki: wiki, ByBackupStatus: map[string]int64{}, BytesByBackupStatus: map[string]int64{},
		Reasons: map[string][]ReasonCount{}, ObjectsByLocation: map[string]int64{}, BytesByLocation: map[string]int64{}}
	for _, st := range BackupStatuses {
		sum.ByBackupStatus[string(st)] = 0
		sum.BytesByBackupStatus[string(st)] = 0
	}
	return sum
}

// Summarize returns the Summary of the wiki with id wikiID.
func (s *Store) Summarize(ctx context.Context, wikiID int64, wiki string) (Summary, error) {
	sum := NewSummary(wiki)
	rows, err := s.db.QueryContext(ctx, `SELECT backup_status, COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE wiki_id = ? GROUP BY backup_status`, wikiID)
	if err != nil {
		return sum, fmt.Errorf("summarize %s: %w", wiki, err)
	}
	for rows.Next() {
		var st string
		var n, bytes int64
		if err := rows.Scan(&st, &n, &bytes); err != nil {
			rows.Close()
			return sum, fmt.Errorf("summarize %s: %w", wiki, err)
		}
		sum.ByBackupStatus[st] = n
		sum.BytesByBackupStatus[st] = bytes
		sum.Versions += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("summarize %s: %w", wiki, err)
	}
	for _, st := range ReasonStatuses {
		if sum.ByBackupStatus[string(st)] == 0 {
			continue
		}
		rs, err := s.Reasons(ctx, wikiID, st, MaxReasons)
		if err != nil {
			return sum, fmt.Errorf("summarize %s: %w", wiki, err)
		}
		sum.Reasons[string(st)] = rs
	}
	rows, err = s.db.QueryContext(ctx, `SELECT l.endpoint, COUNT(*), COALESCE(SUM(b.stored_size), 0) FROM backups AS b
		JOIN locations AS l ON l.id = b.location_id WHERE b.wiki_id = ? GROUP BY l.endpoint`, wikiID)
	if err != nil {
		return sum, fmt.Errorf("summarize %s: %w", wiki, err)
	}
	for rows.Next() {
		var ep string
		var n, bytes int64
		if err := rows.Scan(&ep, &n, &bytes); err != nil {
			rows.Close()
			return sum, fmt.Errorf("summarize %s: %w", wiki, err)
		}
		sum.ObjectsByLocation[ep] = n
		sum.BytesByLocation[ep] = bytes
	}
	rows.Close()
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE wiki_id = ? AND downloaded_sha1 IS NOT NULL`, wikiID).Scan(&sum.SHA1Mismatches); err != nil {
		return sum, fmt.Errorf("summarize %s: %w", wiki, err)
	}
	if sum.Verify, err = s.SummarizeVerify(ctx, wikiID); err != nil {
		return sum, fmt.Errorf("summarize %s: %w", wiki, err)
	}
	return sum, nil
}

// Filter selects file versions of one wiki for List. Empty fields match all.
type Filter struct {
	WikiID         int64
	BackupStatus   BackupStatus
	SHA1Mismatches bool // only versions whose downloaded sha1 differed from production's
	Limit          int  // 0: no limit
}

// List returns the file versions of a wiki that match f, ordered by id.
func (s *Store) List(ctx context.Context, f Filter) ([]File, error) {
	q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.wiki_id = ?`
	args := []any{f.WikiID}
	if f.BackupStatus != "" {
		q += ` AND f.backup_status = ?`
		args = append(args, string(f.BackupStatus))
	}
	if f.SHA1Mismatches {
		q += ` AND f.downloaded_sha1 IS NOT NULL`
	}
	q += ` ORDER BY f.id`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return s.files(ctx, "list files", q, args...)
}

// SortedKeys returns the keys of m in order, for stable output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
