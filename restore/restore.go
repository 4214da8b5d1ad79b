package restore

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
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

// ErrNoBackup is the error of a file that has no stored object.
var ErrNoBackup = errors.New("the version has no backup (its backup status says why)")

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

// Restorer writes backed-up versions into a target directory.
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
	// Dir is the target directory. Nothing is written outside it.
	Dir *os.Root
	// Parallel is how many files are restored at once (at least 1).
	Parallel int
	// Progress hears about every file (optional).
	Progress Progress
}

// Restored is a file written by Restore.
type Restored struct {
	File metadata.File
	Name string // inside the target directory
}

// Restore writes every file into the target directory, Parallel at a time,
// and returns those written (in the order of files) and one *FileError per
// failed file. A failed file leaves nothing behind. Memory use does not
// depend on file sizes: each file streams GET → decrypt → hash → temporary
// file in the target directory → linked under the name reserved for it.
// Nothing is reported as written before the target's filesystem has been
// synced, once, at the end.
func (r *Restorer) Restore(ctx context.Context, files []metadata.File) ([]Restored, []*FileError) {
	n := max(1, r.Parallel)
	p := r.Progress
	if p == nil {
		p = noProgress{}
	}
	names := make([]string, len(files))
	errs := make([]*FileError, len(files))
	t, err := openTarget(r.Dir)
	if err != nil {
		for i, f := range files {
			errs[i] = &FileError{File: f, Step: StepWrite, Err: err}
			p.Done(f, "", errs[i])
		}
		return nil, errs
	}
	defer t.Close()
	// Names are reserved in order, so that they do not depend on which
	// download ends first.
	for i, f := range files {
		if f.Backup == nil {
			continue
		}
		name, err := t.reserve(SafeName(ProductionName(f)))
		if err != nil {
			errs[i] = &FileError{File: f, Step: StepName, Err: err}
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
			name, err := r.one(ctx, t, f, names[i])
			if err != nil {
				errs[i] = err
				p.Done(f, "", err)
				return
			}
			names[i] = name
			p.Done(f, name, nil)
		}()
	}
	wg.Wait()
	if err := t.sync(); err != nil {
		// Not durable: take back what this run wrote, as for any failure.
		for i, f := range files {
			if errs[i] == nil {
				t.remove(names[i])
				errs[i] = &FileError{File: f, Step: StepWrite, Err: err}
			}
		}
	}
	var ok []Restored
	var failed []*FileError
	for i, f := range files {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		ok = append(ok, Restored{File: f, Name: names[i]})
	}
	return ok, failed
}

// locateError is the failure to find an object's server among the
// configured ones.
type locateError struct{ err error }

func (e *locateError) Error() string { return e.err.Error() }

// open starts the download of b from its recorded server. When that
// server answers that it does not have the object, it reads the record
// again (Reload) and, if the object has moved meanwhile, opens it at its
// new place; it returns the record it read from.
func (r *Restorer) open(ctx context.Context, b *metadata.Backup) (io.ReadCloser, *metadata.Backup, error) {
	get := func(b *metadata.Backup) (io.ReadCloser, error) {
		g, ok := r.Locate(b.Location)
		if !ok {
			return nil, &locateError{fmt.Errorf("object %s is recorded on %s, which is not in storage.endpoints of the config", b.ObjectKey, b.Location)}
		}
		rc, _, err := g.Get(ctx, b.ObjectKey)
		return rc, err
	}
	rc, err := get(b)
	if err == nil || !errors.Is(err, storage.ErrNotFound) || r.Reload == nil {
		return rc, b, err
	}
	nb, rerr := r.Reload(ctx, b.ID)
	if rerr != nil || (nb.Location == b.Location && nb.ObjectKey == b.ObjectKey) {
		return nil, b, err
	}
	rc, err = get(nb)
	return rc, nb, err
}

// one restores f into a temporary file, then publishes it under name (the
// name reserved for it, or one with more "~" if something took it
// meanwhile) and returns the name it got.
func (r *Restorer) one(ctx context.Context, t *target, f metadata.File, name string) (string, *FileError) {
	fail := func(step string, err error) (string, *FileError) {
		return "", &FileError{File: f, Step: step, Err: err}
	}
	b := f.Backup
	if b == nil {
		return fail(StepLocate, ErrNoBackup)
	}
	rc, b, err := r.open(ctx, b)
	if err != nil {
		var le *locateError
		if errors.As(err, &le) {
			return fail(StepLocate, le.err)
		}
		return fail(StepDownload, err)
	}
	defer rc.Close()
	var src io.Reader = rc
	if b.Encrypted {
		if len(r.Identities) == 0 {
			return fail(StepDecrypt, errors.New("the object is encrypted and no identity is configured (encryption.identity_file)"))
		}
		if src, err = encryption.Decrypt(rc, r.Identities...); err != nil {
			return fail(StepDecrypt, err)
		}
	}
	tmp := ".restore-" + rand.Text() + ".tmp"
	// Restored content of non-public wikis stays readable by its owner only.
	mode := uint32(0o644)
	if b.Encrypted {
		mode = 0o600
	}
	out, err := t.create(tmp, mode)
	if err != nil {
		return fail(StepWrite, err)
	}
	keep := false
	defer func() {
		if !keep {
			out.Close()
			t.remove(tmp)
		}
	}()
	h256, h1 := sha256.New(), sha1.New()
	n, err := io.Copy(io.MultiWriter(out, h256, h1), src)
	if err != nil {
		step := StepDownload
		if b.Encrypted {
			step = StepDecrypt
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			step = StepWrite
		}
		return fail(step, err)
	}
	// No fsync per file: Restore syncs the target's filesystem once, after
	// every file is written (syncTarget), which costs one flush per run
	// instead of one per file.
	if err := out.Close(); err != nil {
		return fail(StepWrite, err)
	}
	want256 := b.SHA256
	if got := hex.EncodeToString(h256.Sum(nil)); got != want256 {
		return fail(StepVerify, fmt.Errorf("%w: wrote %d bytes with sha256 %s, the backup records %s", ErrHashMismatch, n, got, want256))
	}
	got1 := hex.EncodeToString(h1.Sum(nil))
	if b.SHA1 != "" && got1 != b.SHA1 {
		return fail(StepVerify, fmt.Errorf("%w: wrote %d bytes with sha1 %s, the backup records %s", ErrHashMismatch, n, got1, b.SHA1))
	}
	// The object is intact; it must also be this version's content.
	if f.SHA1 != "" && got1 != f.SHA1 {
		return fail(StepVerify, fmt.Errorf("%w: the object holds sha1 %s, the version's sha1 is %s, so it was backed up with other bytes "+
			"(another version's, or production's own corrupt ones); refusing to write them under this version's name. "+
			"`mediabackups mismatches --wiki %s` lists such versions and `mismatches --wiki %s --repair` fetches their own bytes "+
			"while production still has them; the object itself is %s on %s",
			ErrWrongVersion, got1, f.SHA1, f.Wiki, f.Wiki, b.ObjectKey, b.Location))
	}
	final, err := t.publish(tmp, name)
	if err != nil {
		return fail(StepName, err)
	}
	keep = true
	return final, nil
}
