package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Query selects file versions of one wiki for Search. Every non-empty field
// must match (they are ANDed); at least one must be set. Container and Path
// go together. Hashes are lower- or upper-case hex of full length; Title is
// a DB key (underscores), compared byte for byte; dates are compared to the
// second, in UTC.
//
// Each single criterion is served by an index of the files table: Title by
// files_version, SHA1 by files_sha1, SHA256 by files_sha256, Container+Path
// by files_production, and the three dates by files_upload_date,
// files_archive_date and files_delete_date.
type Query struct {
	WikiID      int64
	Title       string
	SHA1        string
	SHA256      string
	Container   string
	Path        string
	UploadDate  time.Time
	ArchiveDate time.Time
	DeleteDate  time.Time
}

// ErrEmptyQuery is returned by Search for a Query without any criterion.
var ErrEmptyQuery = errors.New("search: no criterion given")

// SourceRecoveryDelete is the history source of changes made by the
// deletion tool.
const SourceRecoveryDelete = "recovery:delete"

// criteria is the one table of Query's criteria: the name the log and
// String use, and the SQL that matches it. Each is served by an index of
// the files table (see Query).
var criteria = []struct {
	name string
	// where returns the criterion's condition and arguments, "" when the
	// query does not use it; an error for a malformed value.
	where func(q Query) (string, []any, error)
}{
	{"title", func(q Query) (string, []any, error) { return eq("f.title", q.Title) }},
	{"sha1", func(q Query) (string, []any, error) { return hashEq("f.sha1", "sha1", q.SHA1, 20) }},
	{"sha256", func(q Query) (string, []any, error) { return hashEq("f.sha256", "sha256", q.SHA256, 32) }},
	{"container+path", func(q Query) (string, []any, error) {
		if (q.Container == "") != (q.Path == "") {
			return "", nil, fmt.Errorf("search: the production container and path must be given together")
		}
		if q.Container == "" {
			return "", nil, nil
		}
		return "f.production_container = ? AND f.production_path = ?", []any{q.Container, q.Path}, nil
	}},
	{"upload_date", func(q Query) (string, []any, error) { return dateEq("f.upload_date", q.UploadDate) }},
	{"archive_date", func(q Query) (string, []any, error) { return dateEq("f.archive_date", q.ArchiveDate) }},
	{"delete_date", func(q Query) (string, []any, error) { return dateEq("f.delete_date", q.DeleteDate) }},
}

func eq(col, v string) (string, []any, error) {
	if v == "" {
		return "", nil, nil
	}
	return col + " = ?", []any{v}, nil
}

func hashEq(col, name, v string, n int) (string, []any, error) {
	if v == "" {
		return "", nil, nil
	}
	b, err := unhex(strings.ToLower(v))
	if err != nil || len(b) != n {
		return "", nil, fmt.Errorf("search: %s %q is not %d hex digits", name, v, 2*n)
	}
	return col + " = ?", []any{b}, nil
}

func dateEq(col string, t time.Time) (string, []any, error) {
	if t.IsZero() {
		return "", nil, nil
	}
	return col + " = ?", []any{t.UTC().Truncate(time.Second)}, nil
}

// Where returns the SQL condition that selects q's versions from "files AS
// f" (the wiki included) and its arguments: what Search runs, for EXPLAIN.
// It returns ErrEmptyQuery when q has no criterion, and an error for a
// malformed hash or a Container without a Path (or the reverse).
func (q Query) Where() (string, []any, error) {
	where := []string{"f.wiki_id = ?"}
	args := []any{q.WikiID}
	for _, c := range criteria {
		w, a, err := c.where(q)
		if err != nil {
			return "", nil, err
		}
		if w != "" {
			where = append(where, w)
			args = append(args, a...)
		}
	}
	if len(where) == 1 {
		return "", nil, ErrEmptyQuery
	}
	return strings.Join(where, " AND "), args, nil
}

// String describes q's criteria for a log line: "title=A.png sha1=…".
func (q Query) String() string {
	var p []string
	for _, c := range criteria {
		_, a, err := c.where(q)
		if err != nil || len(a) == 0 {
			continue
		}
		vals := make([]string, len(a))
		for i, v := range a {
			switch v := v.(type) {
			case []byte:
				vals[i] = mustHex(v)
			case time.Time:
				vals[i] = fmtTime(v)
			default:
				vals[i] = fmt.Sprint(v)
			}
		}
		p = append(p, c.name+"="+strings.Join(vals, "/"))
	}
	return strings.Join(p, " ")
}

// Search returns the file versions that match q, ordered by id, each with
// its Backup when it has one. It returns ErrEmptyQuery when q has no
// criterion, and an error for a malformed hash or a Container without a
// Path (or the reverse). No match is an empty result, not an error.
func (s *Store) Search(ctx context.Context, q Query) ([]File, error) {
	where, args, err := q.Where()
	if err != nil {
		return nil, err
	}
	return s.files(ctx, "search files", `SELECT `+fileColumns+` FROM `+fileFrom+` WHERE `+where+` ORDER BY f.id`, args...)
}

// VersionKey names one file version as an erase log does: its title (a
// DB key), upload date and sha1 (hex), the columns of the files_version
// index.
type VersionKey struct {
	Title      string
	UploadDate time.Time
	SHA1       string
}

// Key returns the VersionKey of f.
func (f File) Key() VersionKey {
	return VersionKey{Title: f.Title, UploadDate: f.UploadDate.UTC().Truncate(time.Second), SHA1: f.SHA1}
}

// MaxVersionKeys is the most keys FindVersions takes at once.
const MaxVersionKeys = 5000

// FindVersions returns the versions of the wiki with id wikiID that any of
// keys names, in no particular order, each with its Backup, in one query: the keys'
// sha1s are looked up through the files_sha1 index, and the versions that
// share a sha1 with a key but not its title and upload date are dropped.
// (Asking for the (title, upload date, sha1) tuples of files_version
// directly made MariaDB 10.11 spend more time planning than reading.) It
// returns an error for a malformed sha1 or more than MaxVersionKeys keys;
// no match is an empty result.
func (s *Store) FindVersions(ctx context.Context, wikiID int64, keys []VersionKey) ([]File, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if len(keys) > MaxVersionKeys {
		return nil, fmt.Errorf("find versions: %d keys, at most %d at once", len(keys), MaxVersionKeys)
	}
	// Compared by Unix seconds: time.Time values of one instant may differ.
	type cmp struct {
		title, sha1 string
		upload      int64
	}
	keyOf := func(title string, upload time.Time, sha1 string) cmp {
		return cmp{title, strings.ToLower(sha1), upload.Unix()}
	}
	want := make(map[cmp]bool, len(keys))
	args := make([]any, 0, 1+len(keys))
	args = append(args, wikiID)
	for _, k := range keys {
		b, err := unhex(strings.ToLower(k.SHA1))
		if err != nil || len(b) != 20 {
			return nil, fmt.Errorf("find versions: sha1 %q of %s is not 40 hex digits", k.SHA1, k.Title)
		}
		if c := keyOf(k.Title, k.UploadDate, k.SHA1); !want[c] {
			want[c] = true
			args = append(args, b)
		}
	}
	q := `SELECT ` + fileColumns + ` FROM files AS f FORCE INDEX (files_sha1) ` + fileJoins +
		` WHERE f.wiki_id = ? AND f.sha1 IN (?` + strings.Repeat(",?", len(args)-2) + `)`
	files, err := s.files(ctx, fmt.Sprintf("find %d versions", len(keys)), q, args...)
	if err != nil {
		return nil, err
	}
	out := files[:0]
	for _, f := range files {
		if want[keyOf(f.Title, f.UploadDate, f.SHA1)] {
			out = append(out, f)
		}
	}
	return out, nil
}

// TitlesAround returns up to n distinct titles of the wiki just before
// title in byte order, and up to n from title on: where the close matches
// of a mistyped title are (a wrong first-letter case aside, which the
// caller asks about separately). Both are range reads of the
// files_version index, so they cost the same on a wiki of any size.
func (s *Store) TitlesAround(ctx context.Context, wikiID int64, title string, n int) ([]string, error) {
	var out []string
	for _, q := range []string{
		`SELECT DISTINCT f.title FROM files AS f WHERE f.wiki_id = ? AND f.title < ? ORDER BY f.title DESC LIMIT ?`,
		`SELECT DISTINCT f.title FROM files AS f WHERE f.wiki_id = ? AND f.title >= ? ORDER BY f.title LIMIT ?`,
	} {
		rows, err := s.db.QueryContext(ctx, q, wikiID, title, n)
		if err != nil {
			return nil, fmt.Errorf("titles around %q: %w", title, err)
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return nil, fmt.Errorf("titles around %q: %w", title, err)
			}
			out = append(out, t)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("titles around %q: %w", title, err)
		}
	}
	return out, nil
}

func (s *Store) files(ctx context.Context, what, q string, args ...any) ([]File, error) {
	return queryFiles(ctx, s.db, what, q, args...)
}

// SharedContent returns the versions of the wiki with id wikiID whose
// content has the given sha256 (so whose bytes are the same stored object),
// leaving out those whose id is in excludeIDs and those already
// hard-deleted. It is what a deletion must not take away from under other
// titles or versions.
func (s *Store) SharedContent(ctx context.Context, wikiID int64, sha256 string, excludeIDs []int64) ([]File, error) {
	b, err := unhex(strings.ToLower(sha256))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("shared content: sha256 %q is not 64 hex digits", sha256)
	}
	q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.wiki_id = ? AND f.sha256 = ? AND f.production_status <> 'hard-deleted'`
	args := []any{wikiID, b}
	if len(excludeIDs) > 0 {
		q += ` AND f.id NOT IN (?` + strings.Repeat(",?", len(excludeIDs)-1) + `)`
		for _, id := range excludeIDs {
			args = append(args, id)
		}
	}
	return s.files(ctx, "find versions sharing content "+sha256, q+` ORDER BY f.id`, args...)
}

// HardDelete marks the file version id hard-deleted, so that no backup
// ever takes it again, and unlinks it from its stored object; each change
// is written to the history with source SourceRecoveryDelete. When
// objectRemoved is true the object itself is gone: its backups row is
// deleted too, and any other version still linked to it loses its link and
// goes back to pending (its bytes are no longer backed up), with history.
// Everything is one transaction. It returns an error wrapping ErrNotFound
// when there is no such file.
func (s *Store) HardDelete(ctx context.Context, id int64, objectRemoved bool) error {
	return retryDeadlock(ctx, func() error { return s.hardDelete(ctx, id, objectRemoved) })
}

func (s *Store) hardDelete(ctx context.Context, id int64, objectRemoved bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hard-delete file %d: %w", id, err)
	}
	defer tx.Rollback()
	var (
		status   string
		backupID sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT production_status, backup_id FROM files WHERE id = ? FOR UPDATE`, id).Scan(&status, &backupID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("hard-delete file %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("hard-delete file %d: %w", id, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var cs []change
	if status != string(HardDeleted) {
		cs = append(cs, change{"production_status", status, string(HardDeleted), status, string(HardDeleted)})
	}
	if backupID.Valid {
		cs = append(cs, change{"backup_id", backupID, nil, fmt.Sprint(backupID.Int64), ""})
	}
	if err := applyChanges(ctx, tx, id, cs, SourceRecoveryDelete, now); err != nil {
		return fmt.Errorf("hard-delete: %w", err)
	}
	if objectRemoved && backupID.Valid {
		others, err := idsOf(ctx, tx, `SELECT id FROM files WHERE backup_id = ? FOR UPDATE`, backupID.Int64)
		if err != nil {
			return fmt.Errorf("hard-delete file %d: find other versions of object %d: %w", id, backupID.Int64, err)
		}
		for _, o := range others {
			var bs string
			if err := tx.QueryRowContext(ctx, `SELECT backup_status FROM files WHERE id = ?`, o).Scan(&bs); err != nil {
				return fmt.Errorf("hard-delete file %d: read file %d: %w", id, o, err)
			}
			ocs := []change{{"backup_id", backupID, nil, fmt.Sprint(backupID.Int64), ""}}
			if bs != string(Pending) {
				ocs = append(ocs, change{"backup_status", bs, string(Pending), bs, string(Pending)})
			}
			if err := applyChanges(ctx, tx, o, ocs, SourceRecoveryDelete, now); err != nil {
				return fmt.Errorf("hard-delete file %d: unlink file %d: %w", id, o, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM backups WHERE id = ?`, backupID.Int64); err != nil {
			return fmt.Errorf("hard-delete file %d: remove backup record %d: %w", id, backupID.Int64, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hard-delete file %d: commit: %w", id, err)
	}
	return nil
}

func idsOf(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
