package metadata

import (
	"context"
	"fmt"
	"strings"
)

// filesByIDBatch is how many ids one query of FilesByID asks for.
const filesByIDBatch = 1000

// FilesByID returns the versions with the given ids, each with its Backup,
// ordered by id; an id that names no version is left out (compare the
// lengths), and an id given twice comes once. The ids are read through the
// primary key, a thousand per query.
func (s *Store) FilesByID(ctx context.Context, ids []int64) ([]File, error) {
	seen := make(map[int64]bool, len(ids))
	uniq := make([]any, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	var out []File
	for start := 0; start < len(uniq); start += filesByIDBatch {
		batch := uniq[start:min(start+filesByIDBatch, len(uniq))]
		q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.id IN (?` + strings.Repeat(",?", len(batch)-1) + `) ORDER BY f.id`
		files, err := s.files(ctx, fmt.Sprintf("read %d versions by id", len(batch)), q, batch...)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}
