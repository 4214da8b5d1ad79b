package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The queries of `mediabackups audit` (package audit): the walk of a
// wiki's versions container by container, in the order production lists
// objects, and the record of what each audit found (migration 0006).

// AuditStatus is what an audit found about a version in production.
type AuditStatus string

// Audit statuses. The empty AuditStatus means never audited.
const (
	// AuditOK: production holds the version's bytes at its place.
	AuditOK AuditStatus = "ok"
	// AuditMissing: production has no object at the version's place.
	AuditMissing AuditStatus = "missing"
	// AuditDamaged: production has an object there, with other bytes.
	AuditDamaged AuditStatus = "damaged"
)

// AuditVersion is a version as an audit walks it: what it compares with
// production's object, and what the last audit found.
type AuditVersion struct {
	ID     int64
	Title  string
	Status ProductionStatus // hard-deleted ones are walked too (see AuditVersions)
	Path   string
	SHA1   string // hex
	MD5    string // hex; "" when unknown
	Size   int64
	// BackupOK: the version's bytes are backed up (backup status backedup
	// or duplicate, linked to a stored object).
	BackupOK     bool
	BackupStatus BackupStatus
	// Audit and AuditDetail are what the last audit found ("": never),
	// and AuditSince since when.
	Audit       AuditStatus
	AuditDetail string
	AuditSince  time.Time
}

// AuditKey is where a walk of a container's versions is: after the version
// at Path with id ID (the zero key: from the start).
type AuditKey struct {
	Path string
	ID   int64
}

// AuditContainers returns the production containers the wiki's versions
// are in, hard-deleted ones included, in byte order. One pass over the
// wiki's part of files_production, read as a loose index scan.
func (s *Store) AuditContainers(ctx context.Context, wikiID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT production_container FROM files WHERE wiki_id = ? ORDER BY production_container`, wikiID)
	if err != nil {
		return nil, fmt.Errorf("list the production containers of wiki %d: %w", wikiID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("list the production containers of wiki %d: %w", wikiID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the production containers of wiki %d: %w", wikiID, err)
	}
	return out, nil
}

// auditVersionsQuery reads one page of a container's versions in the order
// of files_production, (production_path, id): byte order of the path, as
// Swift and the filesystem store list objects. The condition on the key is
// written as a range on production_path (which the index serves) and a
// filter on id for the few rows at the boundary path; MariaDB does not turn
// a row comparison (path, id) > (?, ?) into a range. The index is forced:
// on a small wiki the optimiser would rather scan the table and sort.
const auditVersionsQuery = `SELECT id, title, production_status, production_path, sha1, md5, COALESCE(size, 0),
	backup_status, backup_id IS NOT NULL, audit_status, audit_detail, audit_date
	FROM files FORCE INDEX (files_production)
	WHERE wiki_id = ? AND production_container = ? AND production_path >= ? AND (production_path > ? OR id > ?)
	ORDER BY production_path, id LIMIT ?`

// AuditVersionsQuery returns the query AuditVersions runs and its
// arguments, for EXPLAIN.
func AuditVersionsQuery(wikiID int64, container string, after AuditKey, limit int) (string, []any) {
	return auditVersionsQuery, []any{wikiID, container, after.Path, after.Path, after.ID, limit}
}

// AuditVersions returns up to limit versions of the wiki in container, in
// (path, id) order, after the key after: every version, hard-deleted ones
// included (an audit reports an object left at a hard-deleted version's
// place). Memory and time are those of one page, whatever the size of the
// container.
func (s *Store) AuditVersions(ctx context.Context, wikiID int64, container string, after AuditKey, limit int) ([]AuditVersion, error) {
	q, args := AuditVersionsQuery(wikiID, container, after, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read the versions of wiki %d in %s: %w", wikiID, container, err)
	}
	defer rows.Close()
	out := make([]AuditVersion, 0, limit)
	for rows.Next() {
		var (
			v                  AuditVersion
			sha1, md5          []byte
			status, bstatus    string
			audit, auditDetail sql.NullString
			auditSince         sql.NullTime
		)
		if err := rows.Scan(&v.ID, &v.Title, &status, &v.Path, &sha1, &md5, &v.Size, &bstatus, &v.BackupOK, &audit, &auditDetail, &auditSince); err != nil {
			return nil, fmt.Errorf("read the versions of wiki %d in %s: %w", wikiID, container, err)
		}
		v.Status, v.BackupStatus = ProductionStatus(status), BackupStatus(bstatus)
		v.SHA1, v.MD5 = mustHex(sha1), mustHex(md5)
		v.BackupOK = v.BackupOK && (v.BackupStatus == BackedUp || v.BackupStatus == Duplicate)
		v.Audit, v.AuditDetail, v.AuditSince = AuditStatus(audit.String), auditDetail.String, auditSince.Time.UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the versions of wiki %d in %s: %w", wikiID, container, err)
	}
	return out, nil
}

// AuditRun is one audit of a wiki, as recorded in the audits table.
type AuditRun struct {
	ID       int64
	WikiID   int64
	Started  time.Time // UTC, whole seconds: the report's checked_at
	Finished time.Time // zero while it runs, or when it did not finish
	Host     string
	AuditCounts
}

// AuditCounts are the totals of an audit run, or of one container in it.
type AuditCounts struct {
	Containers int64 // containers walked
	Objects    int64 // production objects listed
	Versions   int64 // versions compared (not hard-deleted ones)
	Missing    int64
	Damaged    int64
	Unexpected int64
	// SizeOnly counts versions whose content could not be compared: no md5
	// known, and neither a sha1 header nor the bytes could be checked.
	SizeOnly int64
}

// Add adds o to c.
func (c *AuditCounts) Add(o AuditCounts) {
	c.Containers += o.Containers
	c.Objects += o.Objects
	c.Versions += o.Versions
	c.Missing += o.Missing
	c.Damaged += o.Damaged
	c.Unexpected += o.Unexpected
	c.SizeOnly += o.SizeOnly
}

// StartAudit records the start of an audit of the wiki at started (whole
// seconds, UTC) on host, and returns it with the last finished audit
// before it (nil when there is none).
func (s *Store) StartAudit(ctx context.Context, wikiID int64, started time.Time, host string) (AuditRun, *AuditRun, error) {
	started = started.UTC().Truncate(time.Second)
	prev, err := s.LastAudit(ctx, wikiID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return AuditRun{}, nil, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO audits (wiki_id, started_at, host) VALUES (?, ?, ?)`, wikiID, started, host)
	if err != nil {
		return AuditRun{}, nil, fmt.Errorf("record the start of an audit of wiki %d: %w", wikiID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return AuditRun{}, nil, fmt.Errorf("record the start of an audit of wiki %d: %w", wikiID, err)
	}
	return AuditRun{ID: id, WikiID: wikiID, Started: started, Host: host}, prev, nil
}

// LastAudit returns the newest finished audit of the wiki, or an error
// wrapping ErrNotFound.
func (s *Store) LastAudit(ctx context.Context, wikiID int64) (*AuditRun, error) {
	r := AuditRun{WikiID: wikiID}
	var fin sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT id, started_at, finished_at, host, containers, objects, versions, missing, damaged,
		unexpected, size_only FROM audits WHERE wiki_id = ? AND finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1`, wikiID).
		Scan(&r.ID, &r.Started, &fin, &r.Host, &r.Containers, &r.Objects, &r.Versions, &r.Missing, &r.Damaged, &r.Unexpected, &r.SizeOnly)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("last audit of wiki %d: %w", wikiID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read the last audit of wiki %d: %w", wikiID, err)
	}
	r.Started, r.Finished = r.Started.UTC(), fin.Time.UTC()
	return &r, nil
}

// FinishAudit records that the audit run ended at finished with counts.
func (s *Store) FinishAudit(ctx context.Context, run AuditRun, finished time.Time, c AuditCounts) error {
	_, err := s.db.ExecContext(ctx, `UPDATE audits SET finished_at = ?, containers = ?, objects = ?, versions = ?, missing = ?,
		damaged = ?, unexpected = ?, size_only = ? WHERE id = ?`,
		finished.UTC().Truncate(time.Second), c.Containers, c.Objects, c.Versions, c.Missing, c.Damaged, c.Unexpected, c.SizeOnly, run.ID)
	if err != nil {
		return fmt.Errorf("record the end of audit %d: %w", run.ID, err)
	}
	return nil
}

// AuditResult is what an audit found about one version, to be recorded.
type AuditResult struct {
	FileID int64
	Status AuditStatus
	Detail string
	// Changed: Status differs from what the last audit found, so the
	// version's audit_date becomes the run's start.
	Changed bool
	// MD5, when set, is the md5 the audit learned of the version's bytes;
	// it is recorded only where none is.
	MD5 string
}

// auditBatch bounds one multi-row UPDATE.
const auditBatch = 500

// RecordAudit writes the results of run, in statements of auditBatch rows.
// Callers pass only versions whose state changed (status, detail or a
// learned md5): an audit of an unchanged wiki writes nothing per version.
func (s *Store) RecordAudit(ctx context.Context, run AuditRun, results []AuditResult) error {
	for len(results) > 0 {
		n := min(len(results), auditBatch)
		chunk := results[:n]
		results = results[n:]
		q := `UPDATE files AS f JOIN (` +
			strings.TrimSuffix(strings.Repeat(`SELECT ? AS id, ? AS st, ? AS detail, ? AS since, ? AS md5 UNION ALL `, n), ` UNION ALL `) +
			`) AS v ON f.id = v.id SET f.audit_status = v.st, f.audit_detail = v.detail,
			f.audit_date = COALESCE(v.since, f.audit_date), f.md5 = COALESCE(f.md5, v.md5)`
		args := make([]any, 0, 5*n)
		for _, r := range chunk {
			md5, err := unhex(r.MD5)
			if err != nil || (md5 != nil && len(md5) != 16) {
				return fmt.Errorf("record audit results: file %d: md5 %q is not 32 hex digits", r.FileID, r.MD5)
			}
			var since any
			if r.Changed {
				since = run.Started
			}
			args = append(args, r.FileID, string(r.Status), nullString(clip(r.Detail, 255)), since, nullBytes(md5))
		}
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("record the audit results of %d versions: %w", n, err)
		}
	}
	return nil
}

// UnexpectedObject is an object an audit found where no version is.
type UnexpectedObject struct {
	Container string
	Path      string
	Size      int64
	MD5       string // hex; "" when the store lists none
	Modified  time.Time
	Detail    string
	// FirstSeen is when an audit first found it (set by RecordUnexpected).
	FirstSeen time.Time
}

// RecordUnexpected records that run found the objects (all of one
// container) where no version is, and returns, for each, whether an
// earlier audit had found it already (the time it did in FirstSeen).
func (s *Store) RecordUnexpected(ctx context.Context, run AuditRun, objs []UnexpectedObject) ([]bool, error) {
	seen := make([]bool, len(objs))
	for start := 0; start < len(objs); start += auditBatch {
		chunk := objs[start:min(len(objs), start+auditBatch)]
		args := []any{run.WikiID, chunk[0].Container}
		for _, o := range chunk {
			if o.Container != chunk[0].Container {
				return nil, fmt.Errorf("record unexpected objects: %s and %s are in different containers", chunk[0].Container, o.Container)
			}
			args = append(args, o.Path)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT path, first_seen FROM audit_unexpected WHERE wiki_id = ? AND container = ? AND path IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read the unexpected objects known in %s: %w", chunk[0].Container, err)
		}
		known := map[string]time.Time{}
		for rows.Next() {
			var p string
			var t time.Time
			if err := rows.Scan(&p, &t); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read the unexpected objects known in %s: %w", chunk[0].Container, err)
			}
			known[p] = t.UTC()
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the unexpected objects known in %s: %w", chunk[0].Container, err)
		}
		q := `INSERT INTO audit_unexpected (wiki_id, container, path, size, md5, modified, detail, first_audit, first_seen, last_audit) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?),", len(chunk)), ",") +
			` ON DUPLICATE KEY UPDATE size = VALUES(size), md5 = VALUES(md5), modified = VALUES(modified), detail = VALUES(detail),
			last_audit = VALUES(last_audit)`
		args = args[:0]
		for i := range chunk {
			o := &chunk[i]
			md5, err := unhex(o.MD5)
			if err != nil {
				return nil, fmt.Errorf("record unexpected object %s/%s: md5: %w", o.Container, o.Path, err)
			}
			if t, ok := known[o.Path]; ok {
				seen[start+i], o.FirstSeen = true, t
			} else {
				o.FirstSeen = run.Started
			}
			args = append(args, run.WikiID, o.Container, o.Path, o.Size, nullBytes(md5), nullTime(o.Modified),
				nullString(clip(o.Detail, 255)), run.ID, run.Started, run.ID)
		}
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("record %d unexpected objects in %s: %w", len(chunk), chunk[0].Container, err)
		}
	}
	return seen, nil
}

// FinishAuditContainer records that run walked container to its end at
// checked with counts (present: the container exists in production), and
// forgets the unexpected objects of the container that the run did not
// find again. It returns how many it forgot.
func (s *Store) FinishAuditContainer(ctx context.Context, run AuditRun, container string, present bool, checked time.Time, c AuditCounts) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM audit_unexpected WHERE wiki_id = ? AND container = ? AND last_audit <> ?`,
		run.WikiID, container, run.ID)
	if err != nil {
		return 0, fmt.Errorf("forget the unexpected objects gone from %s: %w", container, err)
	}
	gone, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("forget the unexpected objects gone from %s: %w", container, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO audit_containers (wiki_id, container, audit_id, checked_at, present, objects, versions,
		missing, damaged, unexpected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE audit_id = VALUES(audit_id),
		checked_at = VALUES(checked_at), present = VALUES(present), objects = VALUES(objects), versions = VALUES(versions),
		missing = VALUES(missing), damaged = VALUES(damaged), unexpected = VALUES(unexpected)`,
		run.WikiID, container, run.ID, checked.UTC().Truncate(time.Second), present, c.Objects, c.Versions, c.Missing, c.Damaged, c.Unexpected)
	if err != nil {
		return gone, fmt.Errorf("record the audit of %s: %w", container, err)
	}
	return gone, nil
}

// AuditContainerChecked is when an audit last walked a container of the
// wiki to its end; an error wrapping ErrNotFound when none did.
func (s *Store) AuditContainerChecked(ctx context.Context, wikiID int64, container string) (time.Time, error) {
	var t time.Time
	err := s.db.QueryRowContext(ctx, `SELECT checked_at FROM audit_containers WHERE wiki_id = ? AND container = ?`, wikiID, container).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("audit of %s: %w", container, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read the audit of %s: %w", container, err)
	}
	return t.UTC(), nil
}

// UnexpectedObjects returns the unexpected objects the audits of the wiki
// know of, by container and path.
func (s *Store) UnexpectedObjects(ctx context.Context, wikiID int64) ([]UnexpectedObject, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT container, path, size, md5, modified, detail, first_seen FROM audit_unexpected
		WHERE wiki_id = ? ORDER BY container, path`, wikiID)
	if err != nil {
		return nil, fmt.Errorf("list the unexpected objects of wiki %d: %w", wikiID, err)
	}
	defer rows.Close()
	var out []UnexpectedObject
	for rows.Next() {
		var (
			o      UnexpectedObject
			md5    []byte
			mod    sql.NullTime
			detail sql.NullString
		)
		if err := rows.Scan(&o.Container, &o.Path, &o.Size, &md5, &mod, &detail, &o.FirstSeen); err != nil {
			return nil, fmt.Errorf("list the unexpected objects of wiki %d: %w", wikiID, err)
		}
		o.MD5, o.Modified, o.Detail, o.FirstSeen = mustHex(md5), mod.Time.UTC(), detail.String, o.FirstSeen.UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}
