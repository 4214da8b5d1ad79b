package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// SyncStats counts what SyncVersions did.
type SyncStats struct {
	Seen      int // versions passed in
	Added     int // new rows, pending backup
	Changed   int // existing rows whose metadata changed (one history row per field)
	Unchanged int
}

// Add adds o to s.
func (s *SyncStats) Add(o SyncStats) {
	s.Seen += o.Seen
	s.Added += o.Added
	s.Changed += o.Changed
	s.Unchanged += o.Unchanged
}

// versionKey identifies a version within a wiki: title, upload date and sha1.
func versionKey(title string, upload time.Time, sha1 string) string {
	return title + "\x00" + upload.UTC().Format("20060102150405") + "\x00" + sha1
}

// SyncVersions records versions of files of one wiki as production reports
// them. A version is known by its title, upload date and sha1: a new one is
// inserted as pending backup, or as Unreadable with its ErrorReason when
// its BackupStatus says so (the caller knows the login cannot read it); the
// backup fields of a known one are never changed here. A known one has
// every changed field updated,
// each change written to the history with source. Hard-deleted versions are
// never changed. Versions without a sha1 are refused. All of one call is one
// transaction: it is applied whole or not at all.
func (s *Store) SyncVersions(ctx context.Context, wikiID int64, versions []File, source string) (SyncStats, error) {
	st := SyncStats{Seen: len(versions)}
	if len(versions) == 0 {
		return st, nil
	}
	if err := checkVersions(versions); err != nil {
		return SyncStats{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return SyncStats{}, fmt.Errorf("sync versions: %w", err)
	}
	defer tx.Rollback()
	st, err = s.syncTx(ctx, tx, wikiID, versions, source)
	if err != nil {
		return SyncStats{}, err
	}
	if err := tx.Commit(); err != nil {
		return SyncStats{}, fmt.Errorf("sync versions: commit: %w", err)
	}
	return st, nil
}

// checkVersions refuses versions SyncVersions cannot key.
func checkVersions(versions []File) error {
	for i, v := range versions {
		if v.SHA1 == "" || v.Title == "" || v.UploadDate.IsZero() {
			return fmt.Errorf("sync versions: version %d (%q) lacks title, upload date or sha1", i, v.Title)
		}
	}
	return nil
}

// syncTx is SyncVersions within the transaction tx; versions are checked.
func (s *Store) syncTx(ctx context.Context, tx *sql.Tx, wikiID int64, versions []File, source string) (SyncStats, error) {
	st := SyncStats{Seen: len(versions)}
	if len(versions) == 0 {
		return st, nil
	}
	titles := map[string]bool{}
	for _, v := range versions {
		titles[v.Title] = true
	}
	existing, err := s.versionsByTitle(ctx, tx, wikiID, titles)
	if err != nil {
		return SyncStats{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	var inserts []File
	pending := map[string]bool{}
	for _, v := range versions {
		key := versionKey(v.Title, v.UploadDate, v.SHA1)
		old, ok := existing[key]
		if !ok {
			if pending[key] { // the same version twice in one batch
				st.Unchanged++
				continue
			}
			pending[key] = true
			inserts = append(inserts, v)
			continue
		}
		changes := diff(old, v)
		if len(changes) == 0 || old.Status == HardDeleted {
			st.Unchanged++
			continue
		}
		changes = append(changes, retryUnavailable(old, changes)...)
		if err := applyChanges(ctx, tx, old.ID, changes, source, now); err != nil {
			return SyncStats{}, err
		}
		st.Changed++
	}
	if err := insertVersions(ctx, tx, wikiID, inserts, now); err != nil {
		return SyncStats{}, err
	}
	st.Added = len(inserts)
	return st, nil
}

func (s *Store) versionsByTitle(ctx context.Context, tx *sql.Tx, wikiID int64, titles map[string]bool) (map[string]File, error) {
	args := []any{wikiID}
	for t := range titles {
		args = append(args, t)
	}
	q := `SELECT ` + fileColumns + ` FROM ` + fileFrom + ` WHERE f.wiki_id = ? AND f.title IN (?` +
		strings.Repeat(",?", len(titles)-1) + `) FOR UPDATE`
	known, err := queryFiles(ctx, tx, "sync versions: read known versions", q, args...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]File, len(known))
	for _, f := range known {
		out[versionKey(f.Title, f.UploadDate, f.SHA1)] = f
	}
	return out, nil
}

// change is one field of a files row that changes, with its column name.
type change struct {
	column   string
	old, new any
	oldText  string
	newText  string
}

func diff(old, v File) []change {
	var cs []change
	str := func(col, o, n string) {
		if o != n {
			cs = append(cs, change{col, nullString(o), nullString(n), o, n})
		}
	}
	tm := func(col string, o, n time.Time) {
		if !o.Equal(n) {
			cs = append(cs, change{col, nullTime(o), nullTime(n), fmtTime(o), fmtTime(n)})
		}
	}
	str("production_status", string(old.Status), string(v.Status))
	str("production_container", old.Container, v.Container)
	str("production_path", old.Path, v.Path)
	str("source_url", old.SourceURL, v.SourceURL)
	str("archive_name", old.ArchiveName, v.ArchiveName)
	str("storage_key", old.StorageKey, v.StorageKey)
	tm("archive_date", old.ArchiveDate, v.ArchiveDate)
	if !v.DeleteDate.IsZero() || v.Status != Deleted {
		// filearchive does not tell the delete date: keep a known one.
		tm("delete_date", old.DeleteDate, v.DeleteDate)
	}
	// A version that is no longer deleted (undeleted) loses its fa_id.
	if (v.FilearchiveID != 0 || v.Status != Deleted) && old.FilearchiveID != v.FilearchiveID {
		cs = append(cs, change{"filearchive_id", nullInt(old.FilearchiveID), nullInt(v.FilearchiveID),
			fmt.Sprint(old.FilearchiveID), fmt.Sprint(v.FilearchiveID)})
	}
	if v.Size != 0 && old.Size != v.Size {
		cs = append(cs, change{"size", old.Size, v.Size, fmt.Sprint(old.Size), fmt.Sprint(v.Size)})
	}
	if v.MIME != "" {
		str("mime", old.MIME, v.MIME)
	}
	if v.MediaType != "" {
		str("media_type", old.MediaType, v.MediaType)
	}
	// production_container/path must be NOT NULL: store "" not NULL.
	for i := range cs {
		if cs[i].column == "production_container" || cs[i].column == "production_path" {
			cs[i].old, cs[i].new = cs[i].oldText, cs[i].newText
		}
	}
	return cs
}

// retryUnavailable returns the change that puts an unavailable version
// back to pending when production now says it is somewhere else (a new
// status, URL, archive name, storage key or path): the next backup then
// looks for it there, without waiting for --retry-errors.
func retryUnavailable(old File, cs []change) []change {
	if old.BackupStatus != Unavailable {
		return nil
	}
	for _, c := range cs {
		switch c.column {
		case "production_status", "source_url", "archive_name", "storage_key", "filearchive_id",
			"production_container", "production_path":
			return []change{{"backup_status", string(Unavailable), string(Pending), string(Unavailable), string(Pending)}}
		}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func applyChanges(ctx context.Context, tx *sql.Tx, id int64, cs []change, source string, now time.Time) error {
	sets := make([]string, 0, len(cs)+2)
	args := make([]any, 0, len(cs)+2)
	moved := false
	for _, c := range cs {
		sets = append(sets, c.column+" = ?")
		args = append(args, c.new)
		moved = moved || c.column == "production_container" || c.column == "production_path"
	}
	if moved {
		// What an audit found was about the old place.
		sets = append(sets, "audit_status = NULL, audit_date = NULL, audit_detail = NULL")
	}
	sets = append(sets, "updated_at = ?")
	args = append(args, now, id)
	if _, err := tx.ExecContext(ctx, "UPDATE files SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...); err != nil {
		return fmt.Errorf("update file %d: %w", id, err)
	}
	return writeHistory(ctx, tx, id, cs, source, now)
}

func writeHistory(ctx context.Context, tx *sql.Tx, id int64, cs []change, source string, now time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	q := "INSERT INTO file_history (file_id, changed_at, source, field, old_value, new_value) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", len(cs)), ",")
	args := make([]any, 0, 6*len(cs))
	for _, c := range cs {
		args = append(args, id, now, source, c.column, nullString(clip(c.oldText, historyValueMax)), nullString(clip(c.newText, historyValueMax)))
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("write history of file %d: %w", id, err)
	}
	return nil
}

// historyValueMax is the size of file_history.old_value and new_value.
const historyValueMax = 2048

const insertColumns = `(wiki_id, title, production_container, production_path, source_url, archive_name,
	storage_key, filearchive_id, sha1, size, mime, media_type, production_status, upload_date,
	archive_date, delete_date, backup_status, error_reason, created_at, updated_at)`

// insertBatch bounds one multi-row INSERT (placeholders and packet size).
const insertBatch = 500

func insertVersions(ctx context.Context, tx *sql.Tx, wikiID int64, vs []File, now time.Time) error {
	for len(vs) > 0 {
		n := min(len(vs), insertBatch)
		chunk := vs[:n]
		vs = vs[n:]
		q := "INSERT INTO files " + insertColumns + " VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?),", n), ",")
		args := make([]any, 0, 20*n)
		for _, v := range chunk {
			sha1, err := unhex(v.SHA1)
			if err != nil {
				return fmt.Errorf("insert %s: sha1: %w", v.Title, err)
			}
			status := v.Status
			if status == "" {
				status = Public
			}
			bstatus, reason := Pending, ""
			if v.BackupStatus == Unreadable {
				bstatus, reason = Unreadable, v.ErrorReason
			}
			args = append(args, wikiID, v.Title, v.Container, v.Path, nullString(v.SourceURL),
				nullString(v.ArchiveName), nullString(v.StorageKey), nullInt(v.FilearchiveID), sha1,
				v.Size, nullString(v.MIME), nullString(v.MediaType), string(status),
				v.UploadDate.UTC(), nullTime(v.ArchiveDate), nullTime(v.DeleteDate), string(bstatus), nullString(reason), now, now)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert %d new versions: %w", n, err)
		}
	}
	return nil
}
