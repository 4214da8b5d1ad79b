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
// second, in UTC. All selects every version of the wiki (and, with other
// criteria, adds nothing to them).
//
// Each single criterion is served by an index of the files table: Title by
// files_version, SHA1 by files_sha1, SHA256 by files_sha256, Container+Path
// by files_production, the three dates and the three date ranges by
// files_upload_date, files_archive_date and files_delete_date, and All by
// files_upload_date (every version has an upload date), along which
// SearchEach pages it.
type Query struct {
	WikiID       int64
	Title        string
	SHA1         string
	SHA256       string
	Container    string
	Path         string
	UploadDate   time.Time
	ArchiveDate  time.Time
	DeleteDate   time.Time
	UploadRange  TimeRange
	ArchiveRange TimeRange
	DeleteRange  TimeRange
	All          bool
}

// TimeRange is the times from From (included) up to To (excluded), compared
// to the second in UTC. A zero From or To leaves that end open; the zero
// TimeRange is no criterion at all.
type TimeRange struct {
	From, To time.Time
}

// IsZero reports whether r has neither end (is no criterion).
func (r TimeRange) IsZero() bool { return r.From.IsZero() && r.To.IsZero() }

// String is "FROM..TO" in UTC, an open end left empty: "2025-01-01
// 00:00:00..", as search.ParseRange reads it back.
func (r TimeRange) String() string {
	end := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return fmtTime(t)
	}
	return end(r.From) + ".." + end(r.To)
}

// ErrEmptyQuery is returned by Search for a Query without any criterion.
var ErrEmptyQuery = errors.New("search: no criterion given")

// SourceRecoveryDelete is the history source of changes made by the
// deletion tool.
const SourceRecoveryDelete = "recovery:delete"

// criterion is one row of the criteria table.
type criterion struct {
	// name is what the log and String use.
	name string
	// where returns the criterion's condition and arguments, "" when the
	// query does not use it; an error for a malformed value.
	where func(q Query) (string, []any, error)
	// show is the criterion's value in String; nil: its arguments.
	show func(q Query) string
	// order, when set, is the indexed column SearchEach pages the
	// criterion's matches along (with f.id), and index the index of
	// files that serves it: each page is then a range read of that index.
	// The criteria that can select a whole wiki have one.
	order, index string
}

// criteria is the one table of Query's criteria: the name the log and
// String use, and the SQL that matches it. Each is served by an index of
// the files table (see Query).
var criteria = []criterion{
	{name: "title", where: func(q Query) (string, []any, error) { return eq("f.title", q.Title) }},
	{name: "sha1", where: func(q Query) (string, []any, error) { return hashEq("f.sha1", "sha1", q.SHA1, 20) }},
	{name: "sha256", where: func(q Query) (string, []any, error) { return hashEq("f.sha256", "sha256", q.SHA256, 32) }},
	{name: "container+path", where: func(q Query) (string, []any, error) {
		if (q.Container == "") != (q.Path == "") {
			return "", nil, fmt.Errorf("search: the production container and path must be given together")
		}
		if q.Container == "" {
			return "", nil, nil
		}
		return "f.production_container = ? AND f.production_path = ?", []any{q.Container, q.Path}, nil
	}},
	{name: "upload_date", where: func(q Query) (string, []any, error) { return dateEq("f.upload_date", q.UploadDate) }},
	{name: "archive_date", where: func(q Query) (string, []any, error) { return dateEq("f.archive_date", q.ArchiveDate) }},
	{name: "delete_date", where: func(q Query) (string, []any, error) { return dateEq("f.delete_date", q.DeleteDate) }},
	dateRange("upload_between", "f.upload_date", "files_upload_date", func(q Query) TimeRange { return q.UploadRange }),
	dateRange("archive_between", "f.archive_date", "files_archive_date", func(q Query) TimeRange { return q.ArchiveRange }),
	dateRange("delete_between", "f.delete_date", "files_delete_date", func(q Query) TimeRange { return q.DeleteRange }),
	{name: "all", order: "f.upload_date", index: "files_upload_date",
		where: func(q Query) (string, []any, error) {
			if !q.All {
				return "", nil, nil
			}
			return "TRUE", nil, nil
		},
		show: func(Query) string { return "yes" }},
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

// dateRange is the criterion of a TimeRange on the date column col: from
// (included) up to (excluded), either end open. A version without that
// date (NULL: never archived, never deleted) is outside every range.
func dateRange(name, col, index string, of func(Query) TimeRange) criterion {
	return criterion{name: name, order: col, index: index,
		where: func(q Query) (string, []any, error) {
			r := of(q)
			var w []string
			var args []any
			if !r.From.IsZero() {
				w, args = append(w, col+" >= ?"), append(args, r.From.UTC().Truncate(time.Second))
			}
			if !r.To.IsZero() {
				w, args = append(w, col+" < ?"), append(args, r.To.UTC().Truncate(time.Second))
			}
			if len(w) == 2 && !args[0].(time.Time).Before(args[1].(time.Time)) {
				return "", nil, fmt.Errorf("search: %s %s is empty: its start must come before its end", name, r)
			}
			return strings.Join(w, " AND "), args, nil
		},
		show: func(q Query) string { return of(q).String() }}
}

// Where returns the SQL condition that selects q's versions from "files AS
// f" (the wiki included) and its arguments: what Search runs, for EXPLAIN.
// It returns ErrEmptyQuery when q has no criterion, and an error for a
// malformed hash, a Container without a Path (or the reverse), or an empty
// date range.
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

// Criteria returns the names of the criteria q uses, in the order of
// String; a malformed one is left out.
func (q Query) Criteria() []string {
	var out []string
	for _, c := range criteria {
		if w, _, err := c.where(q); err == nil && w != "" {
			out = append(out, c.name)
		}
	}
	return out
}

// String describes q's criteria for a log line: "title=A.png sha1=…
// upload_between=2025-01-01 00:00:00..".
func (q Query) String() string {
	var p []string
	for _, c := range criteria {
		w, a, err := c.where(q)
		if err != nil || w == "" {
			continue
		}
		if c.show != nil {
			p = append(p, c.name+"="+c.show(q))
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
// Path (or the reverse). No match is an empty result, not an error. It
// holds every match in memory: for a search that may select many (a date
// range, All), use SearchEach.
func (s *Store) Search(ctx context.Context, q Query) ([]File, error) {
	where, args, err := q.Where()
	if err != nil {
		return nil, err
	}
	return s.files(ctx, "search files", `SELECT `+fileColumns+` FROM `+fileFrom+` WHERE `+where+` ORDER BY f.id`, args...)
}

// Page returns the SQL, and its arguments, of the query SearchEach runs
// for the page of at most size of q's matches that comes after the version
// after (nil: the first page), and the errors of Where. It is exported for
// EXPLAIN.
//
// Pages go along the column of q's first date range (or of All), then
// f.id; without one, by f.id. When q has only ranges (and All), its index
// is forced: MariaDB 10.11 otherwise reads an ORDER BY ... LIMIT on that
// index by its wiki_id prefix alone (access type ref), skipping through
// every entry before the page instead of starting at it. With a selective
// criterion too (a title, a hash), the choice is left to MariaDB.
func (q Query) Page(after *File, size int) (string, []any, error) {
	where, args, err := q.Where()
	if err != nil {
		return "", nil, err
	}
	col, index := q.pageOrder()
	order := "f.id"
	if col != "" {
		order = col + ", f.id"
	}
	from := fileFrom
	if index != "" {
		from = `files AS f FORCE INDEX (` + index + `) ` + fileJoins
	}
	if after != nil {
		if col == "" {
			where += " AND f.id > ?"
			args = append(args, after.ID)
		} else {
			// (col, id) > (v, id), spelled so that v bounds the range
			// read (MariaDB does not use a row comparison for it).
			v := after.dateOf(col)
			where += " AND " + col + " >= ? AND (" + col + " > ? OR f.id > ?)"
			args = append(args, v, v, after.ID)
		}
	}
	return `SELECT ` + fileColumns + ` FROM ` + from + ` WHERE ` + where + ` ORDER BY ` + order + fmt.Sprintf(` LIMIT %d`, size), args, nil
}

// pageOrder returns the column SearchEach pages q along: that of the first
// criterion of q that has one, else none (the id alone); and its index when
// every criterion of q has one (see Page), else "".
func (q Query) pageOrder() (col, index string) {
	all := true
	for _, c := range criteria {
		if w, _, err := c.where(q); err != nil || w == "" {
			continue
		}
		if c.order == "" {
			all = false
			continue
		}
		if col == "" {
			col, index = c.order, c.index
		}
	}
	if !all {
		index = ""
	}
	return col, index
}

// dateOf returns f's value of a paging column, UTC to the second.
func (f File) dateOf(col string) time.Time {
	var t time.Time
	switch col {
	case "f.upload_date":
		t = f.UploadDate
	case "f.archive_date":
		t = f.ArchiveDate
	case "f.delete_date":
		t = f.DeleteDate
	}
	return t.UTC().Truncate(time.Second)
}

// SearchPage is the number of versions SearchEach reads at once.
const SearchPage = 1000

// SearchEach passes the file versions that match q to fn, a page of at
// most size (SearchPage when 0) at a time, each with its Backup when it has
// one, and returns fn's first error. Memory does not grow with the number
// of matches, and no statement stays open while fn runs: each page is its
// own query, which starts where the last one ended (along the index of q's
// date range, or of All, else by id), so a page costs the same whatever its
// place. Versions added or changed while it runs may be seen or not; none
// is passed twice. Errors are those of Search.
func (s *Store) SearchEach(ctx context.Context, q Query, size int, fn func([]File) error) error {
	if size <= 0 {
		size = SearchPage
	}
	var after *File
	for {
		sql, args, err := q.Page(after, size)
		if err != nil {
			return err
		}
		files, err := s.files(ctx, "search files", sql, args...)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			if err := fn(files); err != nil {
				return err
			}
			last := files[len(files)-1]
			after = &last
		}
		if len(files) < size {
			return nil
		}
	}
}

// Count returns how many file versions match q (what SearchEach would
// pass), with the errors of Search.
func (s *Store) Count(ctx context.Context, q Query) (int64, error) {
	where, args, err := q.Where()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files AS f WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the matches of %s: %w", q, err)
	}
	return n, nil
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
// ever takes it again, and unlinks it from its stored object; its backup
// status becomes Gone, with a reason that says when and by what it was
// erased (a hard-deleted version has no bytes anywhere, and that is not a
// failure). Each change is written to the history with source
// SourceRecoveryDelete. When objectRemoved is true the object itself is
// gone: its backups row is deleted too, and any other version still linked
// to it loses its link and goes back to pending (its bytes are no longer
// backed up; the next backup takes them from production again), with a
// reason that says why, and history. Everything is one transaction. It
// returns an error wrapping ErrNotFound when there is no such file.
func (s *Store) HardDelete(ctx context.Context, id int64, objectRemoved bool) error {
	return retryDeadlock(ctx, func() error { return s.hardDelete(ctx, id, objectRemoved) })
}

// HardDeletedReason is the reason HardDelete records for the version it
// erases, given the day it does.
func HardDeletedReason(day time.Time) string {
	return fmt.Sprintf("hard-deleted on %s with delete-media-file: erased in production, unlinked from the backups, never backed up again",
		day.UTC().Format("2006-01-02"))
}

// LostObjectReason is the reason HardDelete records for a version whose
// stored object it removed although the version is not being deleted
// (delete-media-file --delete-shared).
func LostObjectReason(day time.Time) string {
	return fmt.Sprintf("its stored object was removed on %s by delete-media-file --delete-shared; it is backed up again from production",
		day.UTC().Format("2006-01-02"))
}

func (s *Store) hardDelete(ctx context.Context, id int64, objectRemoved bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hard-delete file %d: %w", id, err)
	}
	defer tx.Rollback()
	var (
		status, bstatus string
		reason          sql.NullString
		backupID        sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT production_status, backup_status, error_reason, backup_id FROM files WHERE id = ? FOR UPDATE`,
		id).Scan(&status, &bstatus, &reason, &backupID)
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
		why := HardDeletedReason(now)
		cs = append(cs, change{"error_reason", reason, why, reason.String, why})
	}
	if bstatus != string(Gone) {
		cs = append(cs, change{"backup_status", bstatus, string(Gone), bstatus, string(Gone)})
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
		why := LostObjectReason(now)
		for _, o := range others {
			var (
				bs      string
				oreason sql.NullString
			)
			if err := tx.QueryRowContext(ctx, `SELECT backup_status, error_reason FROM files WHERE id = ?`, o).Scan(&bs, &oreason); err != nil {
				return fmt.Errorf("hard-delete file %d: read file %d: %w", id, o, err)
			}
			ocs := []change{{"backup_id", backupID, nil, fmt.Sprint(backupID.Int64), ""},
				{"error_reason", oreason, why, oreason.String, why}}
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
