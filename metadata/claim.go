package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrLostClaim means a worker tried to record a result for a file it no
// longer holds: its lease ran out and another worker took the file over.
var ErrLostClaim = errors.New("claim lost: the lease expired and another worker took the file over")

// Claim marks up to n files of a wiki as processing by worker until now +
// lease and returns them. It takes files that are pending, and files whose
// processing lease has expired (their worker died). Rows locked by a
// concurrent Claim are skipped (SELECT ... FOR UPDATE SKIP LOCKED), so any
// number of workers on any number of hosts can claim at once and no file is
// handed to two of them.
func (s *Store) Claim(ctx context.Context, wikiID int64, worker string, n int, lease time.Duration) ([]File, error) {
	if n <= 0 {
		return nil, nil
	}
	var files []File
	err := retryDeadlock(ctx, func() error {
		var err error
		files, err = s.claim(ctx, wikiID, worker, n, lease)
		return err
	})
	return files, err
}

// retryDeadlock runs fn again, a few times, when InnoDB chose its
// transaction as a deadlock victim or a lock wait timed out: both roll the
// transaction back whole, so running it again is safe.
func retryDeadlock(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 8 {
		err = fn()
		var me *mysql.MySQLError
		if !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return err
}

func (s *Store) claim(ctx context.Context, wikiID int64, worker string, n int, lease time.Duration) ([]File, error) {
	// READ COMMITTED: no gap locks, so concurrent claimers only meet on the
	// rows themselves, which SKIP LOCKED steps over.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("claim files: %w", err)
	}
	defer tx.Rollback()
	var ids []any
	collect := func(q string, args ...any) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	}
	// Expired leases first: they are the oldest work.
	if err := collect(`SELECT id FROM files WHERE wiki_id = ? AND backup_status = 'processing'
		AND lease_until < UTC_TIMESTAMP() LIMIT ? FOR UPDATE SKIP LOCKED`, wikiID, n); err != nil {
		return nil, fmt.Errorf("claim files with expired leases: %w", err)
	}
	if len(ids) < n {
		if err := collect(`SELECT id FROM files WHERE wiki_id = ? AND backup_status = 'pending'
			AND production_status <> 'hard-deleted' ORDER BY backup_status, lease_until, id LIMIT ? FOR UPDATE SKIP LOCKED`, wikiID, n-len(ids)); err != nil {
			return nil, fmt.Errorf("claim pending files: %w", err)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	in := "(?" + strings.Repeat(",?", len(ids)-1) + ")"
	until := time.Now().UTC().Add(lease).Truncate(time.Second).Add(time.Second)
	args := append([]any{worker, until}, ids...)
	if _, err := tx.ExecContext(ctx, `UPDATE files SET backup_status = 'processing', worker = ?, lease_until = ?,
		attempts = attempts + 1, updated_at = UTC_TIMESTAMP() WHERE id IN `+in, args...); err != nil {
		return nil, fmt.Errorf("mark %d files as processing: %w", len(ids), err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+fileColumns+` FROM `+fileFrom+` WHERE f.id IN `+in+` ORDER BY f.id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("read claimed files: %w", err)
	}
	var files []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read claimed files: %w", err)
		}
		files = append(files, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read claimed files: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim files: commit: %w", err)
	}
	return files, nil
}

// RenewLease extends the lease of the given files that worker still holds.
func (s *Store) RenewLease(ctx context.Context, worker string, ids []int64, lease time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{time.Now().UTC().Add(lease).Truncate(time.Second).Add(time.Second), worker}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE files SET lease_until = ? WHERE worker = ? AND backup_status = 'processing'
		AND id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("renew lease of %d files: %w", len(ids), err)
	}
	return nil
}

// FindBackup returns the object of a wiki that holds content sha256, or ErrNotFound.
func (s *Store) FindBackup(ctx context.Context, wikiID int64, sha256 string) (*Backup, error) {
	raw, err := unhex(sha256)
	if err != nil {
		return nil, err
	}
	b, err := scanBackup(s.db.QueryRowContext(ctx, backupSelect+` WHERE b.wiki_id = ? AND b.sha256 = ?`, wikiID, raw))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up backup of %s: %w", sha256, err)
	}
	return b, nil
}

const backupSelect = `SELECT b.id, b.wiki_id, b.sha256, b.sha1, b.size, b.location_id, l.endpoint, b.bucket,
	b.object_key, b.encrypted, b.stored_size, b.backup_date FROM backups AS b JOIN locations AS l ON l.id = b.location_id`

func scanBackup(r scanner) (*Backup, error) {
	var b Backup
	var sha256, sha1 []byte
	if err := r.Scan(&b.ID, &b.WikiID, &sha256, &sha1, &b.Size, &b.LocationID, &b.Location, &b.Bucket,
		&b.ObjectKey, &b.Encrypted, &b.StoredSize, &b.Date); err != nil {
		return nil, err
	}
	b.SHA256, b.SHA1 = mustHex(sha256), mustHex(sha1)
	return &b, nil
}

// Result is what a worker learned about one claimed file.
type Result struct {
	FileID         int64
	SHA1           string // of the downloaded bytes
	SHA256         string
	Size           int64
	DownloadedSHA1 string // non-empty when it differs from production's sha1
	// Backup is the object written for it (nil when it is a duplicate).
	Backup *Backup
	// Err is the failure, when the backup of the file failed.
	Err error
}

// Record stores the results of a worker's claimed files in one transaction:
// a result with a Backup inserts the object and marks the file backedup; a
// result whose content the wiki already has (inserted by another worker, or
// Backup == nil) marks it duplicate; a result with Err marks it error with
// the reason. A file the worker no longer holds is left alone and reported
// with ErrLostClaim. It returns the final status of each file by id.
func (s *Store) Record(ctx context.Context, worker string, results []Result) (map[int64]BackupStatus, error) {
	if len(results) == 0 {
		return map[int64]BackupStatus{}, nil
	}
	var out map[int64]BackupStatus
	err := retryDeadlock(ctx, func() error {
		var err error
		out, err = s.record(ctx, worker, results)
		return err
	})
	return out, err
}

func (s *Store) record(ctx context.Context, worker string, results []Result) (map[int64]BackupStatus, error) {
	out := make(map[int64]BackupStatus, len(results))
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("record results: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Second)
	var lost []int64
	for _, r := range results {
		status, err := recordOne(ctx, tx, worker, r, now)
		if errors.Is(err, ErrLostClaim) {
			lost = append(lost, r.FileID)
			continue
		}
		if err != nil {
			return nil, err
		}
		out[r.FileID] = status
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record results: commit: %w", err)
	}
	if len(lost) > 0 {
		return out, fmt.Errorf("files %v: %w", lost, ErrLostClaim)
	}
	return out, nil
}

func recordOne(ctx context.Context, tx *sql.Tx, worker string, r Result, now time.Time) (BackupStatus, error) {
	var wikiID int64
	err := tx.QueryRowContext(ctx, `SELECT wiki_id FROM files WHERE id = ? AND worker = ? AND backup_status = 'processing' FOR UPDATE`,
		r.FileID, worker).Scan(&wikiID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrLostClaim
	}
	if err != nil {
		return "", fmt.Errorf("record file %d: %w", r.FileID, err)
	}
	if r.Err != nil {
		reason := r.Err.Error()
		if len(reason) > 4000 {
			reason = reason[:4000]
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files SET backup_status = 'error', error_reason = ?, worker = NULL,
			lease_until = NULL, updated_at = ? WHERE id = ?`, reason, now, r.FileID); err != nil {
			return "", fmt.Errorf("record error of file %d: %w", r.FileID, err)
		}
		return Error, nil
	}
	sha256, err := unhex(r.SHA256)
	if err != nil || len(sha256) != 32 {
		return "", fmt.Errorf("record file %d: bad sha256 %q", r.FileID, r.SHA256)
	}
	dl, err := unhex(r.DownloadedSHA1)
	if err != nil {
		return "", fmt.Errorf("record file %d: %w", r.FileID, err)
	}
	status := Duplicate
	var backupID int64
	if r.Backup != nil {
		b := r.Backup
		sha1, err := unhex(b.SHA1)
		if err != nil {
			return "", fmt.Errorf("record file %d: %w", r.FileID, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key,
			encrypted, stored_size, backup_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			wikiID, sha256, sha1, b.Size, b.LocationID, b.Bucket, b.ObjectKey, b.Encrypted, b.StoredSize, now)
		var me *mysql.MySQLError
		switch {
		case errors.As(err, &me) && me.Number == 1062: // another worker stored the same content first
		case err != nil:
			return "", fmt.Errorf("record backup of file %d: %w", r.FileID, err)
		default:
			backupID, _ = res.LastInsertId()
			status = BackedUp
		}
	}
	if backupID == 0 {
		if err := tx.QueryRowContext(ctx, `SELECT id FROM backups WHERE wiki_id = ? AND sha256 = ?`, wikiID, sha256).Scan(&backupID); err != nil {
			return "", fmt.Errorf("record duplicate file %d: find the object holding %s: %w", r.FileID, r.SHA256, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE files SET backup_status = ?, sha256 = ?, backup_id = ?, backup_date = ?,
		downloaded_sha1 = ?, size = IF(size IS NULL OR size = 0, ?, size), error_reason = NULL, worker = NULL,
		lease_until = NULL, updated_at = ? WHERE id = ?`,
		string(status), sha256, backupID, now, dl, r.Size, now, r.FileID); err != nil {
		return "", fmt.Errorf("record file %d as %s: %w", r.FileID, status, err)
	}
	return status, nil
}

// RetryErrors puts a wiki's files in error back to pending and returns how many.
func (s *Store) RetryErrors(ctx context.Context, wikiID int64) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE files SET backup_status = 'pending', updated_at = UTC_TIMESTAMP()
		WHERE wiki_id = ? AND backup_status = 'error'`, wikiID)
	if err != nil {
		return 0, fmt.Errorf("retry errors: %w", err)
	}
	return res.RowsAffected()
}
