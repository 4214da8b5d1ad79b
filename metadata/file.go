package metadata

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// ProductionStatus is what production does with a file version.
type ProductionStatus string

// Production statuses.
const (
	// Public is the current version of a file.
	Public ProductionStatus = "public"
	// Archived is an older version of a file that still exists.
	Archived ProductionStatus = "archived"
	// Deleted is a version removed from view that an admin can restore.
	Deleted ProductionStatus = "deleted"
	// HardDeleted is a version erased on purpose (for legal reasons): it is
	// never backed up again.
	HardDeleted ProductionStatus = "hard-deleted"
)

// BackupStatus is where a file version is in the backup process.
type BackupStatus string

// Backup statuses.
const (
	// Pending: known, not backed up yet.
	Pending BackupStatus = "pending"
	// Processing: claimed by a worker until its lease ends.
	Processing BackupStatus = "processing"
	// BackedUp: its bytes were stored as a new object.
	BackedUp BackupStatus = "backedup"
	// Duplicate: the wiki already had an object with the same sha256.
	Duplicate BackupStatus = "duplicate"
	// Error: the last attempt failed; ErrorReason says why. It can be retried.
	Error BackupStatus = "error"
	// Unavailable: production serves no bytes with this version's sha1 at
	// the moment (it was overwritten and its bytes moved elsewhere);
	// ErrorReason says where it looked. It is retried like Error.
	Unavailable BackupStatus = "unavailable"
	// Unreadable: the configured login may not read the version;
	// ErrorReason names the right it lacks. It is backed up once the
	// credentials allow it.
	Unreadable BackupStatus = "unreadable"
	// Gone: production no longer has the version's bytes at all (erased),
	// although its API still lists it. Nothing to back up; not a failure.
	Gone BackupStatus = "gone"
)

// BackupStatuses lists every BackupStatus, in the order status reports
// show them.
var BackupStatuses = []BackupStatus{Pending, Processing, BackedUp, Duplicate, Error, Unavailable, Unreadable, Gone}

// File is one version of a file, as production knows it, with its backup state.
type File struct {
	ID            int64
	WikiID        int64
	Wiki          string
	Title         string // MediaWiki DB key (underscores), byte-exact
	Container     string // production container, e.g. wikipedia-commons-local-public.2e
	Path          string // production path in the container, e.g. 2/2e/Simple.png
	SourceURL     string // where production serves it (empty for deleted versions)
	ArchiveName   string // YYYYMMDDhhmmss!Title for archived versions
	StorageKey    string // <sha1 base36>.<ext> for deleted versions
	FilearchiveID int64  // fa_id for deleted versions
	SHA1          string // production's sha1, hex; empty when unknown
	SHA256        string // hex, known once downloaded
	Size          int64
	MIME          string
	MediaType     string
	Status        ProductionStatus
	UploadDate    time.Time
	ArchiveDate   time.Time // zero when not archived
	DeleteDate    time.Time // zero when not deleted (or unknown)

	// MD5 is the md5 of the bytes, hex: computed by the backup with SHA256,
	// or recorded by an audit that found the version's bytes in production
	// (see Audit); empty when unknown.
	MD5 string

	BackupStatus   BackupStatus
	BackupDate     time.Time
	Attempts       int
	ErrorReason    string
	DownloadedSHA1 string // set when the downloaded bytes' sha1 differed from SHA1

	// Backup is the object that holds this version's bytes, if any.
	Backup *Backup

	// Audit is what the last production audit found; its Status is empty
	// when none compared the version (or it moved since).
	Audit AuditState
}

// AuditState is what audits found about one version in production.
type AuditState struct {
	Status AuditStatus
	// Since is when an audit first found the version in Status.
	Since time.Time
	// Detail says what is wrong ("size 95, want 94"), or how an ok version
	// was checked when it was not by its md5.
	Detail string
	// Checked is when an audit last walked the version's container to its
	// end: the time of the version's last check. Zero: never.
	Checked time.Time
}

// FileError is the failure of one step of an operation (restore, delete,
// ...) on one file version.
type FileError struct {
	File File
	Step string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s %s (id %d): %s: %v", e.File.Wiki, e.File.Title, e.File.ID, e.Step, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Backup is one stored object: a distinct content of one wiki.
type Backup struct {
	ID         int64
	WikiID     int64
	SHA256     string
	SHA1       string
	Size       int64
	LocationID int64
	Location   string // endpoint of the MinIO server that holds it
	Bucket     string
	ObjectKey  string
	Encrypted  bool
	StoredSize int64
	Date       time.Time
	// VerifiedAt is when verify last read the object back (zero: never),
	// VerifyResult what it found and VerifyDetail what was wrong.
	VerifiedAt   time.Time
	VerifyResult VerifyResult
	VerifyDetail string
}

func unhex(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad hex %q: %w", s, err)
	}
	return b, nil
}

func mustHex(b []byte) string {
	if b == nil {
		return ""
	}
	return hex.EncodeToString(b)
}

func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC().Truncate(time.Second), Valid: true}
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// clip cuts s to at most n bytes, at a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

func nullInt(i int64) sql.NullInt64 {
	return sql.NullInt64{Int64: i, Valid: i != 0}
}

// fileColumns is the SELECT list scanned by scanFile; it expects files AS f
// LEFT JOIN backups AS b LEFT JOIN locations AS l and wikis AS w.
const fileColumns = `f.id, f.wiki_id, w.name, f.title, f.production_container, f.production_path,
	f.source_url, f.archive_name, f.storage_key, f.filearchive_id, f.sha1, f.sha256, f.size, f.mime,
	f.media_type, f.production_status, f.upload_date, f.archive_date, f.delete_date, f.backup_status,
	f.backup_date, f.attempts, f.error_reason, f.downloaded_sha1,
	b.id, b.sha256, b.sha1, b.size, b.location_id, l.endpoint, b.bucket, b.object_key, b.encrypted,
	b.stored_size, b.backup_date, b.verified_at, b.verify_result, b.verify_detail, f.md5, f.audit_status, f.audit_date, f.audit_detail, ac.checked_at`

const fileFrom = `files AS f ` + fileJoins

// fileJoins are the tables fileColumns reads besides files AS f.
const fileJoins = `JOIN wikis AS w ON w.id = f.wiki_id
	LEFT JOIN backups AS b ON b.id = f.backup_id
	LEFT JOIN locations AS l ON l.id = b.location_id
	LEFT JOIN audit_containers AS ac ON ac.wiki_id = f.wiki_id AND ac.container = f.production_container`

type scanner interface{ Scan(dest ...any) error }

// querier runs a query: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryFiles runs q, a SELECT of fileColumns FROM fileFrom, and scans every
// row. Its errors start with what.
func queryFiles(ctx context.Context, db querier, what, q string, args ...any) ([]File, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func scanFile(r scanner) (File, error) {
	var (
		f                                            File
		sourceURL, archiveName, storageKey, mime, mt sql.NullString
		errReason                                    sql.NullString
		faID, size                                   sql.NullInt64
		sha1, sha256, dlSHA1                         []byte
		archiveDate, deleteDate, backupDate          sql.NullTime
		status, bstatus                              string
		bID, bSize, bLoc, bStored                    sql.NullInt64
		bSHA256, bSHA1                               []byte
		bEndpoint, bBucket, bKey                     sql.NullString
		bEnc                                         sql.NullBool
		bDate, bVerified                             sql.NullTime
		bResult, bDetail                             sql.NullString
		md5                                          []byte
		auditStatus, auditDetail                     sql.NullString
		auditDate, auditChecked                      sql.NullTime
	)
	err := r.Scan(&f.ID, &f.WikiID, &f.Wiki, &f.Title, &f.Container, &f.Path,
		&sourceURL, &archiveName, &storageKey, &faID, &sha1, &sha256, &size, &mime,
		&mt, &status, &f.UploadDate, &archiveDate, &deleteDate, &bstatus,
		&backupDate, &f.Attempts, &errReason, &dlSHA1,
		&bID, &bSHA256, &bSHA1, &bSize, &bLoc, &bEndpoint, &bBucket, &bKey, &bEnc, &bStored, &bDate,
		&bVerified, &bResult, &bDetail, &md5, &auditStatus, &auditDate, &auditDetail, &auditChecked)
	if err != nil {
		return File{}, err
	}
	f.SourceURL, f.ArchiveName, f.StorageKey = sourceURL.String, archiveName.String, storageKey.String
	f.FilearchiveID, f.Size = faID.Int64, size.Int64
	f.SHA1, f.SHA256, f.DownloadedSHA1 = mustHex(sha1), mustHex(sha256), mustHex(dlSHA1)
	f.MIME, f.MediaType, f.ErrorReason = mime.String, mt.String, errReason.String
	f.Status, f.BackupStatus = ProductionStatus(status), BackupStatus(bstatus)
	f.ArchiveDate, f.DeleteDate, f.BackupDate = archiveDate.Time, deleteDate.Time, backupDate.Time
	f.MD5 = mustHex(md5)
	f.Audit = AuditState{Status: AuditStatus(auditStatus.String), Since: auditDate.Time, Detail: auditDetail.String, Checked: auditChecked.Time}
	if bID.Valid {
		f.Backup = &Backup{
			ID: bID.Int64, WikiID: f.WikiID, SHA256: mustHex(bSHA256), SHA1: mustHex(bSHA1),
			Size: bSize.Int64, LocationID: bLoc.Int64, Location: bEndpoint.String, Bucket: bBucket.String,
			ObjectKey: bKey.String, Encrypted: bEnc.Bool, StoredSize: bStored.Int64, Date: bDate.Time,
			VerifiedAt: bVerified.Time, VerifyResult: VerifyResult(bResult.String), VerifyDetail: bDetail.String,
		}
	}
	return f, nil
}
