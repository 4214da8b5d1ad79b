package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrMoveInProgress is returned by BeginMove when the object already has a
// move in the journal: an earlier one was interrupted, and must be
// finished or undone first (see PendingMoves).
var ErrMoveInProgress = errors.New("the object has a move in progress")

// ErrMovesLocked is returned by LockMoves when another process holds the
// lock.
var ErrMovesLocked = errors.New("another rebalance or rekey is running")

// Move reasons, as the journal records them.
const (
	MoveRebalance = "rebalance" // to another server, under the same key
	MoveRekey     = "rekey"     // on the same server, to a new key
)

// Place is where a stored object is: a server (location) and a key.
type Place struct {
	LocationID int64
	Endpoint   string
	Key        string
}

func (p Place) String() string { return p.Endpoint + "/" + p.Key }

// Move is a move of one stored object, as the journal (object_moves,
// migration 0007) records it while it is in progress.
type Move struct {
	BackupID int64
	Reason   string
	From, To Place
	Started  time.Time
	Host     string
}

// PendingMove is a move found in the journal, with where its object's
// backups row points now.
type PendingMove struct {
	Move
	// Current is the place the backups row records now; nil when the row
	// no longer exists (the object was deleted meanwhile).
	Current *Place
}

// Committed reports whether the backups row points at the move's target:
// the copy is in use and the old object is what is left to remove.
func (p PendingMove) Committed() bool {
	return p.Current != nil && p.Current.LocationID == p.To.LocationID && p.Current.Key == p.To.Key
}

// MovedObject is what CommitMove records for the object at its new place.
type MovedObject struct {
	StoredSize int64
	// RecipientsFP, when not nil, is the fingerprint of the recipients
	// the object's age header is now written for (rekey).
	RecipientsFP []byte
}

// movesLock names the lock of LockMoves, followed by the database's name:
// MariaDB's named locks are server-wide, and two databases are two
// deployments.
const movesLock = "mediabackups_moves:"

// LockMoves takes the lock that lets one process at a time move objects
// (rebalance, rekey) in this database: a named MariaDB lock held by a
// connection of its own, released by the returned function or when the
// process dies. It returns ErrMovesLocked, at once, when another process
// holds it.
func (s *Store) LockMoves(ctx context.Context) (release func(), err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("take the lock %s: %w", movesLock, err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT(?, DATABASE()), 0)", movesLock).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("take the lock %s: %w", movesLock, err)
	}
	if got.Int64 != 1 {
		var holder sql.NullInt64
		conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(CONCAT(?, DATABASE()))", movesLock).Scan(&holder)
		conn.Close()
		return nil, fmt.Errorf("%w (MariaDB lock %s<database> is held by connection %d): wait for it to end, or stop it", ErrMovesLocked, movesLock, holder.Int64)
	}
	return func() {
		conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(CONCAT(?, DATABASE()))", movesLock)
		conn.Close()
	}, nil
}

// BeginMove writes m into the journal. It must be called before anything
// is written at m.To. It returns ErrMoveInProgress when the object already
// has a move in the journal.
func (s *Store) BeginMove(ctx context.Context, m Move) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO object_moves (backup_id, reason, from_location, from_key, to_location, to_key, started_at, host)
		VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(), ?)`, m.BackupID, m.Reason, m.From.LocationID, m.From.Key, m.To.LocationID, m.To.Key, m.Host)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return fmt.Errorf("begin the move of object %d (%s): %w", m.BackupID, m.From, ErrMoveInProgress)
	}
	if err != nil {
		return fmt.Errorf("begin the move of object %d (%s): %w", m.BackupID, m.From, err)
	}
	return nil
}

// CommitMove points the object's backups row at m.To, with what o says of
// it there, if the row still points at m.From; it reports whether it did.
// false means the object was deleted or changed meanwhile: the copy at
// m.To is not in use. The journal row stays until EndMove.
func (s *Store) CommitMove(ctx context.Context, m Move, o MovedObject) (bool, error) {
	q := `UPDATE backups SET location_id = ?, object_key = ?, stored_size = ?`
	args := []any{m.To.LocationID, m.To.Key, o.StoredSize}
	if o.RecipientsFP != nil {
		q += `, recipients_fp = ?`
		args = append(args, o.RecipientsFP)
	}
	q += ` WHERE id = ? AND location_id = ? AND object_key = ?`
	args = append(args, m.BackupID, m.From.LocationID, m.From.Key)
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("record object %d at %s: %w", m.BackupID, m.To, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record object %d at %s: %w", m.BackupID, m.To, err)
	}
	return n == 1, nil
}

// EndMove deletes the object's move from the journal: nothing is left to
// clean.
func (s *Store) EndMove(ctx context.Context, backupID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM object_moves WHERE backup_id = ?`, backupID); err != nil {
		return fmt.Errorf("end the move of object %d: %w", backupID, err)
	}
	return nil
}

// PendingMoves returns every move in the journal, oldest first, with where
// each object's backups row points now.
func (s *Store) PendingMoves(ctx context.Context) ([]PendingMove, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.backup_id, m.reason, m.from_location, lf.endpoint, m.from_key,
		m.to_location, lt.endpoint, m.to_key, m.started_at, m.host, b.location_id, lb.endpoint, b.object_key
		FROM object_moves AS m
		JOIN locations AS lf ON lf.id = m.from_location
		JOIN locations AS lt ON lt.id = m.to_location
		LEFT JOIN backups AS b ON b.id = m.backup_id
		LEFT JOIN locations AS lb ON lb.id = b.location_id
		ORDER BY m.started_at, m.backup_id`)
	if err != nil {
		return nil, fmt.Errorf("read the journal of moves: %w", err)
	}
	defer rows.Close()
	var out []PendingMove
	for rows.Next() {
		var (
			p      PendingMove
			curLoc sql.NullInt64
			curEP  sql.NullString
			curKey sql.NullString
		)
		if err := rows.Scan(&p.BackupID, &p.Reason, &p.From.LocationID, &p.From.Endpoint, &p.From.Key,
			&p.To.LocationID, &p.To.Endpoint, &p.To.Key, &p.Started, &p.Host, &curLoc, &curEP, &curKey); err != nil {
			return nil, fmt.Errorf("read the journal of moves: %w", err)
		}
		if curLoc.Valid {
			p.Current = &Place{LocationID: curLoc.Int64, Endpoint: curEP.String, Key: curKey.String}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the journal of moves: %w", err)
	}
	return out, nil
}

// RecordedAt reports whether a backups row records an object at place p
// (location and key): an object there is in use.
func (s *Store) RecordedAt(ctx context.Context, p Place) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backups WHERE location_id = ? AND object_key = ?`, p.LocationID, p.Key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for a backup recorded at %s: %w", p, err)
	}
	return n > 0, nil
}

// StoredObject is a backups row with the wiki it belongs to, as the movers
// read it.
type StoredObject struct {
	Backup
	Wiki         string
	RecipientsFP []byte // nil: written by a backup
}

const storedObjectSelect = `SELECT b.id, b.wiki_id, b.sha256, b.sha1, b.size, b.location_id, l.endpoint, b.bucket,
	b.object_key, b.encrypted, b.stored_size, b.backup_date, w.name, b.recipients_fp
	FROM backups AS b JOIN locations AS l ON l.id = b.location_id JOIN wikis AS w ON w.id = b.wiki_id`

func scanStoredObjects(rows *sql.Rows) ([]StoredObject, error) {
	defer rows.Close()
	var out []StoredObject
	for rows.Next() {
		var (
			o            StoredObject
			sha256, sha1 []byte
		)
		if err := rows.Scan(&o.ID, &o.WikiID, &sha256, &sha1, &o.Size, &o.LocationID, &o.Location, &o.Bucket,
			&o.ObjectKey, &o.Encrypted, &o.StoredSize, &o.Date, &o.Wiki, &o.RecipientsFP); err != nil {
			return nil, err
		}
		o.SHA256, o.SHA1 = mustHex(sha256), mustHex(sha1)
		out = append(out, o)
	}
	return out, rows.Err()
}

// ObjectsInRange returns up to limit objects of wiki wikiID whose sha256
// lies in [first, last] (raw, 32 bytes each) and is greater than after
// (nil: from first), that are NOT recorded at endpoint, in sha256 order.
// It reads the backups_wiki_sha256 index: rebalance walks a range of each
// server with it, a page at a time.
func (s *Store) ObjectsInRange(ctx context.Context, wikiID int64, first, last, after []byte, endpoint string, limit int) ([]StoredObject, error) {
	from, op := first, ">="
	if after != nil {
		from, op = after, ">"
	}
	rows, err := s.db.QueryContext(ctx, storedObjectSelect+` WHERE b.wiki_id = ? AND b.sha256 `+op+` ? AND b.sha256 <= ?
		AND l.endpoint <> ? ORDER BY b.sha256 LIMIT ?`, wikiID, from, last, endpoint, limit)
	if err != nil {
		return nil, fmt.Errorf("list the objects of a sha256 range not on %s: %w", endpoint, err)
	}
	out, err := scanStoredObjects(rows)
	if err != nil {
		return nil, fmt.Errorf("list the objects of a sha256 range not on %s: %w", endpoint, err)
	}
	return out, nil
}

// EncryptedObjects returns up to limit encrypted objects with an id greater
// than after whose header is not recorded as written for the recipients
// with fingerprint fp, in id order: what rekey has left to do.
func (s *Store) EncryptedObjects(ctx context.Context, fp []byte, after int64, limit int) ([]StoredObject, error) {
	rows, err := s.db.QueryContext(ctx, storedObjectSelect+` WHERE b.id > ? AND b.encrypted
		AND (b.recipients_fp IS NULL OR b.recipients_fp <> ?) ORDER BY b.id LIMIT ?`, after, fp, limit)
	if err != nil {
		return nil, fmt.Errorf("list encrypted objects to rekey: %w", err)
	}
	out, err := scanStoredObjects(rows)
	if err != nil {
		return nil, fmt.Errorf("list encrypted objects to rekey: %w", err)
	}
	return out, nil
}

// StoredObjectByID returns one object, or ErrNotFound.
func (s *Store) StoredObjectByID(ctx context.Context, id int64) (*StoredObject, error) {
	rows, err := s.db.QueryContext(ctx, storedObjectSelect+` WHERE b.id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("read object %d: %w", id, err)
	}
	out, err := scanStoredObjects(rows)
	if err != nil {
		return nil, fmt.Errorf("read object %d: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("object %d: %w", id, ErrNotFound)
	}
	return &out[0], nil
}
