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
		// ORDER BY lease_until, id is the order of files_claim (wiki_id,
		// backup_status, lease_until, then the primary key): MariaDB reads
		// the index and stops after n rows. The former "ORDER BY
		// backup_status, lease_until, id" made it pick files_upload_date
		// and sort every pending file: 500 000 at 1 M rows (see bench).
		// mediabackups bench EXPLAINs this query: keep bench/metascale.go
		// in step.
		if err := collect(`SELECT id FROM files WHERE `+claimablePending+` LIMIT ? FOR UPDATE SKIP LOCKED`, wikiID, n-len(ids)); err != nil {
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
	files, err := queryFiles(ctx, tx, "read claimed files", `SELECT `+fileColumns+` FROM `+fileFrom+` WHERE f.id IN `+in+` ORDER BY f.id`, ids...)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim files: commit: %w", err)
	}
	return files, nil
}

// claimablePending selects the pending files of one wiki (the ? is its id)
// that a claim may take, in the order claims take them: the order of the
// files_claim index (wiki_id, backup_status, lease_until, then the primary
// key), so that MariaDB reads the index and stops after the rows it needs.
// Pending files have no lease, so this is id order: the oldest first.
// OldestPending reads the first of them.
const claimablePending = `wiki_id = ? AND backup_status = 'pending' AND production_status <> 'hard-deleted' ORDER BY lease_until, id`

// RenewLease extends the lease of the given files that worker still holds,
// and notes the time in updated_at (see HeldClaims).
func (s *Store) RenewLease(ctx context.Context, worker string, ids []int64, lease time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{time.Now().UTC().Add(lease).Truncate(time.Second).Add(time.Second), worker}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE files SET lease_until = ?, updated_at = UTC_TIMESTAMP() WHERE worker = ?
		AND backup_status = 'processing' AND id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("renew lease of %d files: %w", len(ids), err)
	}
	return nil
}

// ReleaseClaims gives back every file of a wiki that worker still holds,
// as pending with no lease, so that another run can take them at once
// instead of waiting for the lease to end. A worker calls it when it stops
// (after recording what it finished); the attempt still counts. It returns
// how many files it released.
func (s *Store) ReleaseClaims(ctx context.Context, wikiID int64, worker string) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE files SET backup_status = 'pending', worker = NULL, lease_until = NULL,
		updated_at = UTC_TIMESTAMP() WHERE wiki_id = ? AND backup_status = 'processing' AND worker = ?`, wikiID, worker)
	if err != nil {
		return 0, fmt.Errorf("release the claims of %s: %w", worker, err)
	}
	return res.RowsAffected()
}

// WorkerClaims are the files of a wiki that one worker holds under a lease
// that has not ended yet.
type WorkerClaims struct {
	Worker string
	Files  int
	// FirstLeaseEnd and LastLeaseEnd bound when the leases end: from then
	// on, any backup takes the files over.
	FirstLeaseEnd, LastLeaseEnd time.Time
	// Renewed is the last time the worker claimed or renewed one of them.
	// A live worker renews every third of its lease, so a Renewed older
	// than that (LastLeaseEnd - Renewed is about one lease) means it
	// stopped.
	Renewed time.Time
}

// HeldClaims returns, per worker, the files of a wiki held under a lease
// that has not ended: files being backed up by another process, or left by
// one that died. It reads the files_claim index, so it costs what the
// number of files in processing costs.
func (s *Store) HeldClaims(ctx context.Context, wikiID int64) ([]WorkerClaims, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT worker, COUNT(*), MIN(lease_until), MAX(lease_until), MAX(updated_at)
		FROM files WHERE wiki_id = ? AND backup_status = 'processing' AND lease_until >= UTC_TIMESTAMP()
		GROUP BY worker ORDER BY MIN(lease_until), worker`, wikiID)
	if err != nil {
		return nil, fmt.Errorf("list the claims held on wiki %d: %w", wikiID, err)
	}
	defer rows.Close()
	var out []WorkerClaims
	for rows.Next() {
		var c WorkerClaims
		var worker sql.NullString
		if err := rows.Scan(&worker, &c.Files, &c.FirstLeaseEnd, &c.LastLeaseEnd, &c.Renewed); err != nil {
			return nil, fmt.Errorf("list the claims held on wiki %d: %w", wikiID, err)
		}
		c.Worker = worker.String
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the claims held on wiki %d: %w", wikiID, err)
	}
	return out, nil
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

const backupSelect = `SELECT ` + backupColumns + ` FROM backups AS b JOIN locations AS l ON l.id = b.location_id`

// backupColumns is the SELECT list scanBackup scans, from backups AS b
// and locations AS l.
const backupColumns = `b.id, b.wiki_id, b.sha256, b.sha1, b.size, b.location_id, l.endpoint, b.bucket,
	b.object_key, b.encrypted, b.stored_size, b.backup_date, b.verified_at, b.verify_result, b.verify_detail`

func scanBackup(r scanner) (*Backup, error) {
	var b Backup
	var sha256, sha1 []byte
	var verified sql.NullTime
	var result, detail sql.NullString
	if err := r.Scan(&b.ID, &b.WikiID, &sha256, &sha1, &b.Size, &b.LocationID, &b.Location, &b.Bucket,
		&b.ObjectKey, &b.Encrypted, &b.StoredSize, &b.Date, &verified, &result, &detail); err != nil {
		return nil, err
	}
	b.SHA256, b.SHA1 = mustHex(sha256), mustHex(sha1)
	b.VerifiedAt, b.VerifyResult, b.VerifyDetail = verified.Time, VerifyResult(result.String), detail.String
	return &b, nil
}

// ErrUnavailable marks a Result.Err that is not a failure of the backup:
// production serves no bytes with the version's sha1 at the moment (it was
// overwritten, moved or hidden since it was listed, and no place the API
// names holds it). Record gives such a file the status Unavailable, with
// the error's text (where the worker looked) as its reason.
var ErrUnavailable = errors.New("production serves no bytes with this version's sha1")

// ErrUnreadable marks a Result.Err that is not a failure of the backup:
// the wiki refuses the version's bytes to the configured login. Record
// gives such a file the status Unreadable, with the error's text (the
// right it needs) as its reason. Mark it with Mark.
var ErrUnreadable = errors.New("the wiki refuses its bytes to the configured login")

// ErrGone marks a Result.Err that is not a failure of the backup:
// production erased the version's bytes although it still lists the
// version. Record gives such a file the status Gone, with the error's text
// as its reason. Mark it with Mark.
var ErrGone = errors.New("production no longer has its bytes")

// notFailures is the one table of the outcomes of a backup attempt that
// are not failures: the mark a Result.Err carries, and the status Record
// gives the file instead of Error.
var notFailures = []struct {
	mark   error
	status BackupStatus
}{
	{ErrUnavailable, Unavailable},
	{ErrUnreadable, Unreadable},
	{ErrGone, Gone},
}

// statusOf is the status Record gives a file whose attempt failed with err.
func statusOf(err error) BackupStatus {
	for _, n := range notFailures {
		if errors.Is(err, n.mark) {
			return n.status
		}
	}
	return Error
}

// Mark returns an error whose message is reason's and which is mark
// (errors.Is), for a Result.Err: Record then gives the file the status
// mark stands for (ErrUnreadable, ErrGone), with reason's text as its
// reason, the text alone.
func Mark(mark, reason error) error { return markedError{reason, mark} }

type markedError struct{ reason, mark error }

func (e markedError) Error() string   { return e.reason.Error() }
func (e markedError) Unwrap() []error { return []error{e.reason, e.mark} }

// Result is what a worker learned about one claimed file.
type Result struct {
	FileID int64
	SHA1   string // of the downloaded bytes
	SHA256 string
	// MD5 is of the downloaded bytes; recorded only when DownloadedSHA1
	// is empty.
	MD5  string
	Size int64
	// DownloadedSHA1 is set only when production itself serves other bytes
	// for the version than its sha1 says (corruption in production: the
	// bytes match no version the wiki knows of the file). It is then
	// SHA1, and the bytes are kept under their own sha256.
	DownloadedSHA1 string
	// Backup is the object written for it (nil when it is a duplicate).
	Backup *Backup
	// Err is the failure, when the backup of the file failed; one that is
	// one of the marks of notFailures (ErrUnavailable, ErrUnreadable,
	// ErrGone) records that status instead of Error, with Err's text as
	// the reason.
	Err error
}

// Record stores the results of a worker's claimed files in one transaction:
// a result with a Backup inserts the object and marks the file backedup; a
// result whose content the wiki already has (inserted by another worker, or
// Backup == nil) marks it duplicate; a result with Err marks it error with
// the reason, or the status its mark stands for (see notFailures). A file
// the worker no longer holds is left alone and reported with ErrLostClaim.
// It returns the final status of each file by id.
//
// Record refuses (with an error, recording nothing) a result whose SHA1 is
// not the version's sha1 unless DownloadedSHA1 says so: a version is never
// recorded with bytes of another content by mistake.
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

// record writes a batch in a fixed number of statements, whatever its size
// (pprof of MariaDB-bound backups of small files: three statements per file
// were most of the metadata cost): one locks the files the worker still
// holds, one finds which contents the wikis already have, one inserts the
// new objects, one reads their ids and one updates every file. Errors are
// rare and written one by one.
func (s *Store) record(ctx context.Context, worker string, results []Result) (map[int64]BackupStatus, error) {
	out := make(map[int64]BackupStatus, len(results))
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("record results: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Truncate(time.Second)

	held, err := heldFiles(ctx, tx, worker, results)
	if err != nil {
		return nil, err
	}
	var lost []int64
	type done struct {
		r      Result
		wikiID int64
		sha256 []byte
		md5    []byte
		dl     []byte
		key    string // wiki id and sha256: the backups row it points to
	}
	var ok []done
	for _, r := range results {
		h, have := held[r.FileID]
		wikiID := h.wikiID
		if !have {
			lost = append(lost, r.FileID)
			continue
		}
		if r.Err != nil {
			reason := r.Err.Error()
			if len(reason) > 4000 {
				reason = reason[:4000]
			}
			status := statusOf(r.Err)
			if _, err := tx.ExecContext(ctx, `UPDATE files SET backup_status = ?, error_reason = ?, worker = NULL,
				lease_until = NULL, updated_at = ? WHERE id = ?`, string(status), reason, now, r.FileID); err != nil {
				return nil, fmt.Errorf("record %s of file %d: %w", status, r.FileID, err)
			}
			out[r.FileID] = status
			continue
		}
		if want := held[r.FileID].sha1; want != "" && r.SHA1 != want && r.DownloadedSHA1 != r.SHA1 {
			return nil, fmt.Errorf("record file %d: its bytes have sha1 %s, the version's is %s, and the result does not say "+
				"that production serves them: refusing to record a version with another version's bytes", r.FileID, r.SHA1, want)
		}
		sha256, err := unhex(r.SHA256)
		if err != nil || len(sha256) != 32 {
			return nil, fmt.Errorf("record file %d: bad sha256 %q", r.FileID, r.SHA256)
		}
		dl, err := unhex(r.DownloadedSHA1)
		if err != nil {
			return nil, fmt.Errorf("record file %d: %w", r.FileID, err)
		}
		if r.Backup != nil {
			if _, err := unhex(r.Backup.SHA1); err != nil {
				return nil, fmt.Errorf("record file %d: %w", r.FileID, err)
			}
		}
		var md5 []byte
		if len(dl) == 0 {
			if md5, err = unhex(r.MD5); err != nil || (md5 != nil && len(md5) != 16) {
				return nil, fmt.Errorf("record file %d: bad md5 %q", r.FileID, r.MD5)
			}
		}
		ok = append(ok, done{r: r, wikiID: wikiID, sha256: sha256, md5: md5, dl: dl, key: backupKey{wikiID, sha256}.String()})
	}
	if len(ok) > 0 {
		keys := make([]backupKey, 0, len(ok))
		for _, d := range ok {
			keys = append(keys, backupKey{d.wikiID, d.sha256})
		}
		// New contents: one row each, even if several files of the batch
		// have it; the first file with an object gets status backedup.
		var ids map[string]int64
		var inserting map[string]bool
		for attempt := 0; ; attempt++ {
			if ids, err = backupIDs(ctx, tx, keys, true); err != nil {
				return nil, err
			}
			var ins []done
			inserting = map[string]bool{}
			for _, d := range ok {
				if _, exists := ids[d.key]; !exists && d.r.Backup != nil && !inserting[d.key] {
					inserting[d.key] = true
					ins = append(ins, d)
				}
			}
			if len(ins) == 0 {
				break
			}
			q := `INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date) VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?),", len(ins)), ",")
			args := make([]any, 0, 10*len(ins))
			for _, d := range ins {
				b := d.r.Backup
				sha1, _ := unhex(b.SHA1)
				args = append(args, d.wikiID, d.sha256, sha1, b.Size, b.LocationID, b.Bucket, b.ObjectKey, b.Encrypted, b.StoredSize, now)
			}
			_, err := tx.ExecContext(ctx, q, args...)
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1062 && attempt < 5 {
				// Another worker stored one of these contents since the
				// check (READ COMMITTED takes no gap locks); the statement
				// was rolled back alone: look again, those are duplicates.
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("record %d new backups: %w", len(ins), err)
			}
			if ids, err = backupIDs(ctx, tx, keys, false); err != nil {
				return nil, err
			}
			break
		}
		q := `UPDATE files AS f JOIN (` + strings.TrimSuffix(strings.Repeat(`SELECT ? AS id, ? AS st, ? AS sha256, ? AS bid, ? AS dl, ? AS sz, ? AS md5 UNION ALL `, len(ok)), ` UNION ALL `) +
			`) AS v ON f.id = v.id SET f.backup_status = v.st, f.sha256 = v.sha256, f.md5 = COALESCE(v.md5, f.md5), f.backup_id = v.bid, f.backup_date = ?,
			f.downloaded_sha1 = v.dl, f.size = IF(f.size IS NULL OR f.size = 0, v.sz, f.size), f.error_reason = NULL,
			f.worker = NULL, f.lease_until = NULL, f.updated_at = ?`
		args := make([]any, 0, 7*len(ok)+2)
		for _, d := range ok {
			id, found := ids[d.key]
			if !found {
				return nil, fmt.Errorf("record duplicate file %d: no object holds %s", d.r.FileID, d.r.SHA256)
			}
			status := Duplicate
			if inserting[d.key] && d.r.Backup != nil {
				status = BackedUp
				delete(inserting, d.key) // later files with the same content are duplicates
			}
			out[d.r.FileID] = status
			args = append(args, d.r.FileID, string(status), d.sha256, id, nullBytes(d.dl), d.r.Size, nullBytes(d.md5))
		}
		args = append(args, now, now)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("record %d files: %w", len(ok), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record results: commit: %w", err)
	}
	if len(lost) > 0 {
		return out, fmt.Errorf("files %v: %w", lost, ErrLostClaim)
	}
	return out, nil
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// heldFile is a claimed file as Record needs it.
type heldFile struct {
	wikiID int64
	sha1   string // the version's, hex
}

// heldFiles locks the files of results that worker still holds and returns
// their wiki ids and sha1s.
func heldFiles(ctx context.Context, tx *sql.Tx, worker string, results []Result) (map[int64]heldFile, error) {
	args := make([]any, 0, len(results)+1)
	args = append(args, worker)
	for _, r := range results {
		args = append(args, r.FileID)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, wiki_id, sha1 FROM files WHERE worker = ? AND backup_status = 'processing'
		AND id IN (?`+strings.Repeat(",?", len(results)-1)+`) FOR UPDATE`, args...)
	if err != nil {
		return nil, fmt.Errorf("record results: lock the claimed files: %w", err)
	}
	defer rows.Close()
	held := make(map[int64]heldFile, len(results))
	for rows.Next() {
		var id, wiki int64
		var sha1 []byte
		if err := rows.Scan(&id, &wiki, &sha1); err != nil {
			return nil, fmt.Errorf("record results: lock the claimed files: %w", err)
		}
		held[id] = heldFile{wikiID: wiki, sha1: mustHex(sha1)}
	}
	return held, rows.Err()
}

type backupKey struct {
	wikiID int64
	sha256 []byte
}

func (k backupKey) String() string { return fmt.Sprint(k.wikiID, "/", mustHex(k.sha256)) }

// backupIDs returns the ids of the backups rows holding keys, by
// backupKey.String; lock takes them FOR UPDATE. It runs one query per wiki
// (a batch is normally of one wiki), each on the backups_wiki_sha256 index.
func backupIDs(ctx context.Context, tx *sql.Tx, keys []backupKey, lock bool) (map[string]int64, error) {
	byWiki := map[int64][]any{}
	for _, k := range keys {
		byWiki[k.wikiID] = append(byWiki[k.wikiID], k.sha256)
	}
	ids := make(map[string]int64, len(keys))
	for wiki, hashes := range byWiki {
		q := `SELECT id, sha256 FROM backups WHERE wiki_id = ? AND sha256 IN (?` + strings.Repeat(",?", len(hashes)-1) + `)`
		if lock {
			q += ` FOR UPDATE`
		}
		rows, err := tx.QueryContext(ctx, q, append([]any{wiki}, hashes...)...)
		if err != nil {
			return nil, fmt.Errorf("record results: find the objects of %d contents: %w", len(hashes), err)
		}
		for rows.Next() {
			var id int64
			var sha256 []byte
			if err := rows.Scan(&id, &sha256); err != nil {
				rows.Close()
				return nil, fmt.Errorf("record results: find the objects: %w", err)
			}
			ids[backupKey{wiki, sha256}.String()] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("record results: find the objects: %w", err)
		}
	}
	return ids, nil
}

// RetryErrors puts a wiki's files in error or unavailable back to pending
// and returns how many.
func (s *Store) RetryErrors(ctx context.Context, wikiID int64) (int64, error) {
	return s.requeue(ctx, wikiID, Error, Unavailable)
}

// Requeue puts a wiki's files in status from back to pending, keeping
// their reason until the next attempt, and returns how many. Only Error,
// Unavailable and Unreadable can be requeued: a Gone version has nothing
// to back up, and the other statuses are not at rest.
func (s *Store) Requeue(ctx context.Context, wikiID int64, from BackupStatus) (int64, error) {
	if from != Error && from != Unavailable && from != Unreadable {
		return 0, fmt.Errorf("requeue files in status %s: only error, unavailable and unreadable files can be tried again", from)
	}
	return s.requeue(ctx, wikiID, from)
}

func (s *Store) requeue(ctx context.Context, wikiID int64, from ...BackupStatus) (int64, error) {
	args := []any{wikiID}
	for _, st := range from {
		args = append(args, string(st))
	}
	res, err := s.db.ExecContext(ctx, `UPDATE files SET backup_status = 'pending', updated_at = UTC_TIMESTAMP()
		WHERE wiki_id = ? AND backup_status IN (?`+strings.Repeat(", ?", len(from)-1)+`) AND production_status <> 'hard-deleted'`, args...)
	if err != nil {
		return 0, fmt.Errorf("requeue %v files: %w", from, err)
	}
	return res.RowsAffected()
}
