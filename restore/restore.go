package restore

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// Getter reads stored objects from one server.
type Getter interface {
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// Steps of a restore, named in FileError.
const (
	StepLocate   = "locate"   // find the recorded server among the configured ones
	StepDownload = "download" // GET from MinIO
	StepDecrypt  = "decrypt"  // age header and chunks
	StepWrite    = "write"    // the temporary file in the target directory
	StepVerify   = "verify"   // sha256 and sha1 of what was written, against the object's and the version's
	StepName     = "name"     // give it its production name

	// Steps of a restore into production (Production).
	StepStatus    = "status"    // the version's production status allows no restore
	StepPlace     = "place"     // its production container and path are not valid
	StepCheck     = "check"     // look at what production holds now
	StepContainer = "container" // its production container is missing
	StepJournal   = "journal"   // the session log did not take the line that must precede a write
	StepPut       = "put"       // write it into production
	StepReadBack  = "read-back" // what production holds after the write is not what was written
)

// FileError is the failure of one step for one file.
type FileError struct {
	File metadata.File
	Step string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s %s (id %d): %s: %v", e.File.Wiki, e.File.Title, e.File.ID, e.Step, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// StepError is how a Target says at which step it failed. A Target error
// that is not a *StepError counts as StepWrite.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

func stepErr(step string, err error) *StepError { return &StepError{Step: step, Err: err} }

// ErrNoBackup is the error of a file that has no stored object.
var ErrNoBackup = errors.New("the version has no backup")

// noBackup is ErrNoBackup for f, with its backup status and reason.
func noBackup(f metadata.File) error {
	if f.ErrorReason == "" {
		return fmt.Errorf("%w: backup status %s", ErrNoBackup, f.BackupStatus)
	}
	return fmt.Errorf("%w: backup status %s: %s", ErrNoBackup, f.BackupStatus, f.ErrorReason)
}

// ErrHashMismatch is the error of a file whose restored bytes do not have
// the recorded hash.
var ErrHashMismatch = errors.New("hash mismatch")

// ErrWrongVersion is the error of a file whose stored object is intact but
// holds other bytes than the version (its sha1 is not the version's): the
// backup recorded the version with another version's bytes, or with bytes
// production served corrupt. Nothing is written.
var ErrWrongVersion = errors.New("the backup does not hold this version's bytes")

// Progress hears about restores as they finish. Its methods are called
// from several goroutines.
type Progress interface {
	Done(f metadata.File, name string, err error)
}

type noProgress struct{}

func (noProgress) Done(metadata.File, string, error) {}

// Sums describe the bytes a restore read from a backup, after decryption.
type Sums struct {
	Size   int64
	SHA1   string // lower-case hex
	SHA256 string // lower-case hex
}

// Opener reads a version's bytes from its backup once more, decrypted,
// from the start. A *StepError says which step failed.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// Target is where a restore puts the versions it reads from the backups.
// The Restorer does the reading, the decrypting and the checking against
// the metadata; a Target decides where the checked bytes go and how they
// become visible there. Two implement it: Dir, a local directory, and
// Production, the wiki's own production store.
type Target interface {
	// Prepare is called for every version, one at a time and in the order
	// of the files, before any bytes are read. It refuses a version the
	// target will not take (with a *StepError), reserves what the version
	// needs, and returns the name the version gets there. It does no slow
	// I/O.
	Prepare(f metadata.File) (name string, err error)
	// Stage returns where the version's bytes go while they are read from
	// the backup and checked. It is called from several goroutines at once.
	Stage(ctx context.Context, f metadata.File, name string) (Stage, error)
	// Finish is called once, after every version was committed or
	// discarded. An error means that nothing committed can be trusted to
	// stay: the Target has undone it, and the Restorer reports every
	// committed version as failed at StepWrite.
	Finish(ctx context.Context) error
}

// Stage holds one version's bytes while the Restorer reads and checks them.
type Stage interface {
	// Write receives the bytes, in order. They are not checked yet.
	io.Writer
	// Commit is called once everything written is proven to be the
	// backup's bytes (sums match the backup's record), and makes them part
	// of the target. A stage that did not keep the bytes reads them again
	// through again. Commit cleans up after itself when it fails: Discard
	// is not called after it.
	Commit(ctx context.Context, sums Sums, again Opener) (Restored, error)
	// Discard drops what was written. It is called instead of Commit when
	// anything failed before.
	Discard()
}

// Actions a restore took for a version (Restored.Action).
const (
	// Written: the version's bytes were written to a name that had none
	// (a missing production object, or a new file in a directory).
	Written = "written"
	// Replaced: a damaged production object was replaced
	// (Production.ReplaceDamaged).
	Replaced = "replaced"
	// Skipped: production already holds the version's bytes; nothing was
	// written.
	Skipped = "skipped"
	// KeptDamaged: production holds other bytes under the version's name,
	// and they were left as they are (no Production.ReplaceDamaged).
	KeptDamaged = "kept-damaged"
	// WouldWrite and WouldReplace: what a dry run would have done.
	WouldWrite   = "would-write"
	WouldReplace = "would-replace"
)

// Restorer reads backed-up versions from the MinIO servers their backups
// are recorded on, decrypts them and checks them against the metadata, and
// hands them to a Target.
type Restorer struct {
	// Locate returns the server recorded as an object's location
	// (storage.Sharded.ByEndpoint), false when it is not configured.
	Locate func(endpoint string) (Getter, bool)
	// Reload, when set, reads an object's record again by its id. When
	// the recorded server answers that the object is not there, Restore
	// reloads the record and, if the object has moved since it was read
	// (`rebalance`, `rekey` run beside restores), fetches it from its new
	// place.
	Reload func(ctx context.Context, backupID int64) (*metadata.Backup, error)
	// Identities decrypt encrypted objects.
	Identities []age.Identity
	// Target receives the checked bytes.
	Target Target
	// Parallel is how many files are restored at once (at least 1).
	Parallel int
	// Progress hears about every file (optional).
	Progress Progress
}

// Restored is a version a restore dealt with.
type Restored struct {
	File metadata.File
	// Name is where it went: a file name inside the target directory, or
	// "container/path" in production.
	Name string
	// Action is what was done: Written, Replaced, Skipped, KeptDamaged,
	// WouldWrite or WouldReplace.
	Action string
}

// Restore hands every file to the Target, Parallel at a time, and returns
// those it dealt with (in the order of files) and one *FileError per
// failed file. A failed file leaves nothing behind in the Target. Memory
// use does not depend on file sizes: each file streams GET → decrypt →
// hash → Stage; only once its sha256 and sha1 match the backup's record is
// it committed.
func (r *Restorer) Restore(ctx context.Context, files []metadata.File) ([]Restored, []*FileError) {
	n := max(1, r.Parallel)
	p := r.Progress
	if p == nil {
		p = noProgress{}
	}
	names := make([]string, len(files))
	errs := make([]*FileError, len(files))
	done := make([]Restored, len(files))
	fail := func(f metadata.File, err error, def string) *FileError {
		step := def
		var se *StepError
		if errors.As(err, &se) {
			step, err = se.Step, se.Err
		}
		return &FileError{File: f, Step: step, Err: err}
	}
	// Targets prepare in order, so that names do not depend on which
	// download ends first.
	for i, f := range files {
		if f.Backup == nil {
			errs[i] = &FileError{File: f, Step: StepLocate, Err: noBackup(f)}
			continue
		}
		name, err := r.Target.Prepare(f)
		if err != nil {
			errs[i] = fail(f, err, StepName)
			continue
		}
		names[i] = name
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, n)
	for i, f := range files {
		if errs[i] != nil {
			p.Done(f, "", errs[i])
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := r.one(ctx, f, names[i])
			if err != nil {
				errs[i] = fail(f, err, StepWrite)
				p.Done(f, "", errs[i])
				return
			}
			done[i] = res
			p.Done(f, res.Name, nil)
		}()
	}
	wg.Wait()
	if err := r.Target.Finish(ctx); err != nil {
		// Not durable: the target took back what this run wrote.
		for i, f := range files {
			if errs[i] == nil {
				errs[i] = &FileError{File: f, Step: StepWrite, Err: err}
			}
		}
	}
	var ok []Restored
	var failed []*FileError
	for i := range files {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		ok = append(ok, done[i])
	}
	return ok, failed
}

// open reads f's backup from its recorded server, decrypted. When that
// server answers that it does not have the object, it reads the record
// again (Reload) and, if the object has moved meanwhile (`rebalance`,
// `rekey` run beside restores), reads it at its new place.
func (r *Restorer) open(ctx context.Context, f metadata.File) (io.ReadCloser, error) {
	get := func(b *metadata.Backup) (io.ReadCloser, error) {
		g, ok := r.Locate(b.Location)
		if !ok {
			return nil, stepErr(StepLocate, fmt.Errorf("object %s is recorded on %s, which is not in storage.endpoints of the config", b.ObjectKey, b.Location))
		}
		rc, _, err := g.Get(ctx, b.ObjectKey)
		if err != nil {
			return nil, stepErr(StepDownload, err)
		}
		return rc, nil
	}
	b := f.Backup
	rc, err := get(b)
	if err != nil && errors.Is(err, storage.ErrNotFound) && r.Reload != nil {
		if nb, rerr := r.Reload(ctx, b.ID); rerr == nil && (nb.Location != b.Location || nb.ObjectKey != b.ObjectKey) {
			b = nb
			rc, err = get(b)
		}
	}
	if err != nil {
		return nil, err
	}
	if !b.Encrypted {
		return &stepReader{rc: rc, r: rc, step: StepDownload}, nil
	}
	if len(r.Identities) == 0 {
		rc.Close()
		return nil, stepErr(StepDecrypt, errors.New("the object is encrypted and no identity is configured (encryption.identity_file)"))
	}
	src, err := encryption.Decrypt(rc, r.Identities...)
	if err != nil {
		rc.Close()
		return nil, stepErr(StepDecrypt, err)
	}
	return &stepReader{rc: rc, r: src, step: StepDecrypt}, nil
}

// stepReader tags the errors of reading a backup with the step that
// failed: download, or decrypt for an encrypted object (whose chunks fail
// to authenticate when the download went wrong).
type stepReader struct {
	rc   io.Closer
	r    io.Reader
	step string
}

func (s *stepReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = stepErr(s.step, err)
	}
	return n, err
}

func (s *stepReader) Close() error { return s.rc.Close() }

// stageWriter tags the errors of a Stage's Write with StepWrite.
type stageWriter struct{ w io.Writer }

func (s stageWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = stepErr(StepWrite, err)
	}
	return n, err
}

// one restores f: stage, read, check, commit.
func (r *Restorer) one(ctx context.Context, f metadata.File, name string) (Restored, error) {
	b := f.Backup
	st, err := r.Target.Stage(ctx, f, name)
	if err != nil {
		return Restored{}, err
	}
	committed := false
	defer func() {
		if !committed {
			st.Discard()
		}
	}()
	rc, err := r.open(ctx, f)
	if err != nil {
		return Restored{}, err
	}
	h256, h1 := sha256.New(), sha1.New()
	n, err := io.CopyBuffer(io.MultiWriter(stageWriter{st}, h256, h1), rc, make([]byte, copyBufferSize(f.Size)))
	rc.Close()
	if err != nil {
		return Restored{}, err
	}
	sums := Sums{Size: n, SHA1: hex.EncodeToString(h1.Sum(nil)), SHA256: hex.EncodeToString(h256.Sum(nil))}
	if sums.SHA256 != b.SHA256 {
		return Restored{}, stepErr(StepVerify, fmt.Errorf("%w: wrote %d bytes with sha256 %s, the backup records %s", ErrHashMismatch, n, sums.SHA256, b.SHA256))
	}
	if b.SHA1 != "" && sums.SHA1 != b.SHA1 {
		return Restored{}, stepErr(StepVerify, fmt.Errorf("%w: wrote %d bytes with sha1 %s, the backup records %s", ErrHashMismatch, n, sums.SHA1, b.SHA1))
	}
	// The object is intact; it must also be this version's content.
	if f.SHA1 != "" && sums.SHA1 != f.SHA1 {
		return Restored{}, stepErr(StepVerify, fmt.Errorf("%w: the object holds sha1 %s, the version's sha1 is %s, so it was backed up with other bytes "+
			"(another version's, or production's own corrupt ones); refusing to write them under this version's name. "+
			"`mediabackups mismatches --wiki %s` lists such versions and `mismatches --wiki %s --repair` fetches their own bytes "+
			"while production still has them; the object itself is %s on %s",
			ErrWrongVersion, sums.SHA1, f.SHA1, f.Wiki, f.Wiki, b.ObjectKey, b.Location))
	}
	committed = true
	return st.Commit(ctx, sums, func(ctx context.Context) (io.ReadCloser, error) { return r.open(ctx, f) })
}

// copyBufferSize is the buffer a file of size bytes is copied through: the
// whole file when small, at most 256 KiB, so that a large file takes 8
// times fewer read and write calls than io.Copy's 32 KiB would make, and
// --parallel 1024 still holds no more than 256 MiB of buffers.
func copyBufferSize(size int64) int {
	return int(min(max(size, 4<<10), 256<<10))
}
