package metadata

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// UndatedDeletions returns the versions of the given titles of a wiki
// that are deleted (list=filearchive rows: with a filearchive id) and have
// no delete date, by title, oldest upload first. The inventory dates them
// from the wiki's deletion log (SetDeleteDates).
func (s *Store) UndatedDeletions(ctx context.Context, wikiID int64, titles []string) (map[string][]File, error) {
	out := map[string][]File{}
	if len(titles) == 0 {
		return out, nil
	}
	args := []any{wikiID}
	for _, t := range titles {
		args = append(args, t)
	}
	q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.wiki_id = ? AND f.title IN (?` + strings.Repeat(",?", len(titles)-1) +
		`) AND f.production_status = 'deleted' AND f.filearchive_id IS NOT NULL AND f.delete_date IS NULL ORDER BY f.title, f.upload_date, f.id`
	files, err := s.files(ctx, fmt.Sprintf("find undated deleted versions of %d titles", len(titles)), q, args...)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		out[f.Title] = append(out[f.Title], f)
	}
	return out, nil
}

// DeleteDate is the delete date of one version, and where it was learned
// (the history source, e.g. "log:84").
type DeleteDate struct {
	FileID int64
	Date   time.Time
	Source string
}

// SetDeleteDates gives each version its delete date, unless it has one
// already: a known date is never replaced. Each change is written to the
// history with its source. All of it is one transaction. It returns how
// many versions got a date.
func (s *Store) SetDeleteDates(ctx context.Context, dates []DeleteDate) (int, error) {
	if len(dates) == 0 {
		return 0, nil
	}
	n := 0
	err := retryDeadlock(ctx, func() error {
		var err error
		n, err = s.setDeleteDates(ctx, dates)
		return err
	})
	return n, err
}

func (s *Store) setDeleteDates(ctx context.Context, dates []DeleteDate) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("set delete dates: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Second)
	n := 0
	for _, d := range dates {
		res, err := tx.ExecContext(ctx, `UPDATE files SET delete_date = ?, updated_at = ? WHERE id = ? AND delete_date IS NULL`,
			nullTime(d.Date), now, d.FileID)
		if err != nil {
			return 0, fmt.Errorf("set the delete date of file %d: %w", d.FileID, err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			continue
		}
		if err := writeHistory(ctx, tx, d.FileID, []change{{column: "delete_date", newText: fmtTime(d.Date)}}, d.Source, now); err != nil {
			return 0, err
		}
		n++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("set delete dates: commit: %w", err)
	}
	return n, nil
}
