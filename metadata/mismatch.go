package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MismatchKind says why a version's object does not hold the version's sha1.
type MismatchKind string

// Kinds of mismatch.
const (
	// WrongVersion: the object holds the bytes of another version the
	// metadata knows (of any title of the wiki). Backups made before
	// the fix of issue 8 recorded an overwritten version with the new
	// version's bytes this way. `mismatches --repair` fetches the right
	// bytes. A version the metadata does not know yet is found once
	// `inventory` (or `update`) has recorded it.
	WrongVersion MismatchKind = "wrong-version"
	// Corrupt: the object holds bytes that no recorded version has:
	// production served them for this version (corruption in
	// production), or the version that has them is not recorded yet.
	Corrupt MismatchKind = "corrupt"
)

// Mismatch is a version whose recorded object does not hold bytes with
// the version's sha1.
type Mismatch struct {
	File
	// ObjectSHA1 is the sha1 of the bytes the object holds.
	ObjectSHA1 string
	Kind       MismatchKind
}

// kindScanner scans fileColumns plus the columns of a Mismatch.
type kindScanner struct {
	r     scanner
	extra []any
}

func (k kindScanner) Scan(dest ...any) error { return k.r.Scan(append(dest, k.extra...)...) }

// Mismatches returns the versions of a wiki whose object's sha1 is not the
// version's (or whose downloaded sha1 was recorded as different), in id
// order, each with its kind.
func (s *Store) Mismatches(ctx context.Context, wikiID int64) ([]Mismatch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+fileColumns+`, COALESCE(b.sha1, f.downloaded_sha1),
		EXISTS (SELECT 1 FROM files AS g WHERE g.wiki_id = f.wiki_id AND g.id <> f.id AND g.sha1 = COALESCE(b.sha1, f.downloaded_sha1))
		FROM `+fileFrom+` WHERE f.wiki_id = ? AND ((b.id IS NOT NULL AND b.sha1 <> f.sha1) OR f.downloaded_sha1 IS NOT NULL)
		ORDER BY f.id`, wikiID)
	if err != nil {
		return nil, fmt.Errorf("list sha1 mismatches: %w", err)
	}
	defer rows.Close()
	var out []Mismatch
	for rows.Next() {
		var (
			objSHA1 []byte
			known   bool
		)
		f, err := scanFile(kindScanner{rows, []any{&objSHA1, &known}})
		if err != nil {
			return nil, fmt.Errorf("list sha1 mismatches: %w", err)
		}
		m := Mismatch{File: f, ObjectSHA1: mustHex(objSHA1), Kind: Corrupt}
		if known {
			m.Kind = WrongVersion
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ErrChanged means a row changed since it was read: nothing was written.
var ErrChanged = errors.New("the version changed meanwhile (another process worked on it): nothing was changed; run again")

// Relink points version fileID, whose object is oldBackupID, at the object
// b holds instead (b.ID == 0: a new object, inserted; else an existing
// one of the same wiki), or, when b is nil, at none: the version becomes
// unavailable with reason. Its downloaded sha1 is cleared: the version now
// holds its own bytes, or nothing. Each change is written to the history
// with source. When the old object is left with versions that are all
// duplicates, the first becomes backedup. It returns true when the old
// object is left with no version at all (see DropBackup), and ErrChanged
// when the version no longer points at oldBackupID. One transaction.
func (s *Store) Relink(ctx context.Context, fileID, oldBackupID int64, b *Backup, reason, source string) (bool, error) {
	var orphan bool
	err := retryDeadlock(ctx, func() error {
		var err error
		orphan, err = s.relink(ctx, fileID, oldBackupID, b, reason, source)
		return err
	})
	return orphan, err
}

func (s *Store) relink(ctx context.Context, fileID, oldBackupID int64, b *Backup, reason, source string) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("relink file %d: %w", fileID, err)
	}
	defer tx.Rollback()
	var (
		wikiID     int64
		backupID   sql.NullInt64
		status     string
		sha256, dl []byte
	)
	err = tx.QueryRowContext(ctx, `SELECT wiki_id, backup_id, backup_status, sha256, downloaded_sha1 FROM files WHERE id = ? FOR UPDATE`,
		fileID).Scan(&wikiID, &backupID, &status, &sha256, &dl)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("relink file %d: %w", fileID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("relink file %d: %w", fileID, err)
	}
	if !backupID.Valid || backupID.Int64 != oldBackupID {
		return false, fmt.Errorf("relink file %d: %w", fileID, ErrChanged)
	}
	now := time.Now().UTC().Truncate(time.Second)
	cs := []change{}
	if len(dl) > 0 {
		cs = append(cs, change{"downloaded_sha1", dl, nil, mustHex(dl), ""})
	}
	if b == nil {
		cs = append(cs,
			change{"backup_status", status, string(Unavailable), status, string(Unavailable)},
			change{"backup_id", backupID, nil, fmt.Sprint(oldBackupID), ""},
			change{"sha256", sha256, nil, mustHex(sha256), ""})
		if len(reason) > 4000 {
			reason = reason[:4000]
		}
		if _, err := tx.ExecContext(ctx, `UPDATE files SET error_reason = ?, backup_date = NULL WHERE id = ?`, reason, fileID); err != nil {
			return false, fmt.Errorf("relink file %d: %w", fileID, err)
		}
	} else {
		newSHA256, err := unhex(b.SHA256)
		if err != nil || len(newSHA256) != 32 {
			return false, fmt.Errorf("relink file %d: bad sha256 %q", fileID, b.SHA256)
		}
		id := b.ID
		newStatus := string(Duplicate)
		if id == 0 {
			sha1, err := unhex(b.SHA1)
			if err != nil || len(sha1) != 20 {
				return false, fmt.Errorf("relink file %d: bad sha1 %q", fileID, b.SHA1)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted,
				stored_size, backup_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, wikiID, newSHA256, sha1, b.Size, b.LocationID, b.Bucket,
				b.ObjectKey, b.Encrypted, b.StoredSize, now)
			if err != nil {
				return false, fmt.Errorf("relink file %d: record object %s: %w", fileID, b.ObjectKey, err)
			}
			if id, err = res.LastInsertId(); err != nil {
				return false, fmt.Errorf("relink file %d: %w", fileID, err)
			}
			newStatus = string(BackedUp)
		} else {
			var owners int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE backup_id = ? AND backup_status = 'backedup'`, id).
				Scan(&owners); err != nil {
				return false, fmt.Errorf("relink file %d: %w", fileID, err)
			}
			if owners == 0 {
				newStatus = string(BackedUp)
			}
		}
		if status != newStatus {
			cs = append(cs, change{"backup_status", status, newStatus, status, newStatus})
		}
		cs = append(cs,
			change{"backup_id", backupID, id, fmt.Sprint(oldBackupID), fmt.Sprint(id)},
			change{"sha256", sha256, newSHA256, mustHex(sha256), mustHex(newSHA256)})
		if _, err := tx.ExecContext(ctx, `UPDATE files SET error_reason = NULL, backup_date = ? WHERE id = ?`, now, fileID); err != nil {
			return false, fmt.Errorf("relink file %d: %w", fileID, err)
		}
	}
	if err := applyChanges(ctx, tx, fileID, cs, source, now); err != nil {
		return false, fmt.Errorf("relink: %w", err)
	}

	// The old object: still some version's? Then one of them owns it.
	rows, err := tx.QueryContext(ctx, `SELECT id, backup_status FROM files WHERE backup_id = ? ORDER BY id FOR UPDATE`, oldBackupID)
	if err != nil {
		return false, fmt.Errorf("relink file %d: versions of object %d: %w", fileID, oldBackupID, err)
	}
	var (
		first int64
		owned bool
	)
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			rows.Close()
			return false, fmt.Errorf("relink file %d: %w", fileID, err)
		}
		if first == 0 {
			first = id
		}
		owned = owned || st == string(BackedUp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("relink file %d: %w", fileID, err)
	}
	if first != 0 && !owned {
		if err := applyChanges(ctx, tx, first, []change{{"backup_status", string(Duplicate), string(BackedUp), string(Duplicate), string(BackedUp)}},
			source, now); err != nil {
			return false, fmt.Errorf("relink file %d: %w", fileID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("relink file %d: commit: %w", fileID, err)
	}
	return first == 0, nil
}

// UnreferencedBackups returns the objects of a wiki that no version points
// at (left by an interrupted repair or deletion): nothing can restore them.
func (s *Store) UnreferencedBackups(ctx context.Context, wikiID int64) ([]Backup, error) {
	rows, err := s.db.QueryContext(ctx, backupSelect+` WHERE b.wiki_id = ? AND NOT EXISTS (SELECT 1 FROM files AS f WHERE f.backup_id = b.id)
		ORDER BY b.id`, wikiID)
	if err != nil {
		return nil, fmt.Errorf("list objects of no version: %w", err)
	}
	defer rows.Close()
	var out []Backup
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, fmt.Errorf("list objects of no version: %w", err)
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// DropBackup removes the object backupID, if no version points at it: it
// locks the row (a version that would point at it meanwhile waits), calls
// remove to delete the stored object, then deletes the row, and returns
// true. It returns false, having done nothing, when the row is gone or
// some version points at it. An error from remove leaves the row.
func (s *Store) DropBackup(ctx context.Context, backupID int64, remove func(context.Context, Backup) error) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("drop object %d: %w", backupID, err)
	}
	defer tx.Rollback()
	b, err := scanBackup(tx.QueryRowContext(ctx, backupSelect+` WHERE b.id = ? FOR UPDATE`, backupID))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("drop object %d: %w", backupID, err)
	}
	var refs int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE backup_id = ?`, backupID).Scan(&refs); err != nil {
		return false, fmt.Errorf("drop object %d: %w", backupID, err)
	}
	if refs > 0 {
		return false, nil
	}
	if err := remove(ctx, *b); err != nil {
		return false, fmt.Errorf("drop object %s on %s: %w", b.ObjectKey, b.Location, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM backups WHERE id = ?`, backupID); err != nil {
		return false, fmt.Errorf("drop object %d: the object is removed, its record is not (the next repair finishes it): %w", backupID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("drop object %d: the object is removed, its record is not (the next repair finishes it): %w", backupID, err)
	}
	return true, nil
}
