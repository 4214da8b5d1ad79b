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
	Wiki           string           `json:"wiki"`
	ByBackupStatus map[string]int64 `json:"by_backup_status"`
	// BytesByBackupStatus adds up the sizes production gives (or, once
	// downloaded, the downloaded size) of the versions in each status.
	BytesByBackupStatus map[string]int64 `json:"bytes_by_backup_status"`
	ObjectsByLocation   map[string]int64 `json:"objects_by_location"`
	BytesByLocation     map[string]int64 `json:"bytes_by_location"`
	SHA1Mismatches      int64            `json:"sha1_mismatches"`
	// Verify is what `mediabackups verify` last found about the objects.
	Verify VerifySummary `json:"verify"`
}

// Summarize returns the Summary of the wiki with id wikiID.
func (s *Store) Summarize(ctx context.Context, wikiID int64, wiki string) (Summary, error) {
	sum := Summary{Wiki: wiki, ByBackupStatus: map[string]int64{}, BytesByBackupStatus: map[string]int64{},
		ObjectsByLocation: map[string]int64{}, BytesByLocation: map[string]int64{}}
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
	}
	rows.Close()
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
