package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SourceRecoverServer is the history source of changes made by
// `mediabackups recover-server`.
const SourceRecoverServer = "recover-server"

// ErrObjectMoved is returned by ForgetLostObject when the object is no
// longer recorded on the lost server: it was moved meanwhile.
var ErrObjectMoved = errors.New("the object is no longer recorded on that server")

// ObjectsAt returns up to limit objects recorded at location locationID
// with an id greater than after, in id order (the backups_location index).
func (s *Store) ObjectsAt(ctx context.Context, locationID, after int64, limit int) ([]StoredObject, error) {
	rows, err := s.db.QueryContext(ctx, storedObjectSelect+` WHERE b.location_id = ? AND b.id > ? ORDER BY b.id LIMIT ?`, locationID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list the objects of location %d: %w", locationID, err)
	}
	out, err := scanStoredObjects(rows)
	if err != nil {
		return nil, fmt.Errorf("list the objects of location %d: %w", locationID, err)
	}
	return out, nil
}

// FilesOfObject returns every version whose bytes are the stored object
// backupID (whatever their status), in id order.
func (s *Store) FilesOfObject(ctx context.Context, backupID int64) ([]File, error) {
	return s.files(ctx, fmt.Sprintf("read the versions of object %d", backupID),
		`SELECT `+fileColumns+` FROM `+fileFrom+` WHERE f.backup_id = ? ORDER BY f.id`, backupID)
}

// ForgetLostObject records that the stored object backupID, recorded at
// location locationID, is lost: every version linked to it goes back to
// pending without an object (so that the next backup stores its content
// again, wherever the servers send it today), each change written to the
// history with source SourceRecoverServer, and the object's backups row is
// deleted (so that the backup's dedup check does not find it). It is one
// transaction, and returns the number of versions reset. It returns an
// error wrapping ErrObjectMoved when the object is not recorded at
// locationID any more, and one wrapping ErrNotFound when it does not exist.
func (s *Store) ForgetLostObject(ctx context.Context, backupID, locationID int64) (int, error) {
	var n int
	err := retryDeadlock(ctx, func() error {
		var err error
		n, err = s.forgetLostObject(ctx, backupID, locationID)
		return err
	})
	return n, err
}

func (s *Store) forgetLostObject(ctx context.Context, backupID, locationID int64) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("forget lost object %d: %w", backupID, err)
	}
	defer tx.Rollback()
	var loc int64
	err = tx.QueryRowContext(ctx, `SELECT location_id FROM backups WHERE id = ? FOR UPDATE`, backupID).Scan(&loc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("forget lost object %d: %w", backupID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("forget lost object %d: %w", backupID, err)
	}
	if loc != locationID {
		return 0, fmt.Errorf("forget lost object %d: %w", backupID, ErrObjectMoved)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, backup_status FROM files WHERE backup_id = ? FOR UPDATE`, backupID)
	if err != nil {
		return 0, fmt.Errorf("forget lost object %d: lock its versions: %w", backupID, err)
	}
	type version struct {
		id     int64
		status string
	}
	var vs []version
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.id, &v.status); err != nil {
			rows.Close()
			return 0, fmt.Errorf("forget lost object %d: %w", backupID, err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("forget lost object %d: %w", backupID, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, v := range vs {
		cs := []change{{"backup_id", backupID, nil, fmt.Sprint(backupID), ""}}
		if v.status != string(Pending) {
			cs = append(cs, change{"backup_status", v.status, string(Pending), v.status, string(Pending)})
		}
		if err := applyChanges(ctx, tx, v.id, cs, SourceRecoverServer, now); err != nil {
			return 0, fmt.Errorf("forget lost object %d: %w", backupID, err)
		}
		// A claim on it is void: its worker's record is refused (lost claim).
		if _, err := tx.ExecContext(ctx, `UPDATE files SET worker = NULL, lease_until = NULL, error_reason = NULL WHERE id = ?`, v.id); err != nil {
			return 0, fmt.Errorf("forget lost object %d: %w", backupID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM backups WHERE id = ?`, backupID); err != nil {
		return 0, fmt.Errorf("forget lost object %d: remove its record: %w", backupID, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("forget lost object %d: commit: %w", backupID, err)
	}
	return len(vs), nil
}
