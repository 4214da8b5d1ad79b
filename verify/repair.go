package verify

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// source is one place production may still serve an object's content.
type source struct {
	what string // for messages: the URL, or the deleted file's storage key
	open func(ctx context.Context) (io.ReadCloser, int64, error)
}

// repaired is the outcome of a repair: the new stored size and where the
// content came from, or why it failed; lost says that production does not
// have the content any more (not that it could not be reached).
type repaired struct {
	stored int64
	source string
	bytes  int64 // read back from the object server
	lost   bool
	err    error
}

// repair stores b again from production, if production still serves its
// content, and reads it back. See the package documentation.
func (r *runner) repair(ctx context.Context, b metadata.Backup, versions []metadata.File) repaired {
	srv, ok := r.opts.Locate(b.Location)
	if !ok {
		return repaired{err: fmt.Errorf("%s is not in storage.endpoints of the config", b.Location)}
	}
	if b.Encrypted && len(r.opts.Recipients) == 0 {
		return repaired{err: errors.New("the object is encrypted and no recipients are configured (encryption.recipients or identity_file)")}
	}
	if len(versions) == 0 {
		return repaired{lost: true, err: errors.New("no file version refers to the object, so production cannot be asked for it")}
	}
	sources, transient := r.sources(ctx, b, versions)
	var gone []string // why each source does not give the content
	for _, src := range sources {
		f, err := r.fetch(ctx, b, src)
		var notSame *differentContentError
		switch {
		case errors.Is(err, mediawiki.ErrNotServed), errors.As(err, &notSame):
			gone = append(gone, err.Error())
			continue
		case err != nil:
			transient = append(transient, err)
			continue
		}
		stored, err := r.storeAgain(ctx, srv, b, f)
		f.Close()
		os.Remove(f.Name())
		if err != nil {
			return repaired{err: err}
		}
		// Read it back as any check would, before calling it repaired.
		again := b
		again.StoredSize = stored
		res, detail, n, err := r.check(ctx, again)
		switch {
		case err != nil:
			return repaired{bytes: n, err: fmt.Errorf("stored again from %s, but reading it back failed: %w", src.what, err)}
		case res != metadata.VerifyOK:
			return repaired{bytes: n, err: fmt.Errorf("stored again from %s, but reading it back found it %s: %s", src.what, res, detail)}
		}
		return repaired{stored: stored, source: src.what, bytes: n}
	}
	if len(transient) > 0 {
		return repaired{err: fmt.Errorf("production could not be asked for sha1 %s: %w", b.SHA1, errors.Join(transient...))}
	}
	why := fmt.Sprintf("production serves no version with sha1 %s", b.SHA1)
	if len(gone) > 0 {
		why += " (" + strings.Join(gone, "; ") + ")"
	}
	return repaired{lost: true, err: errors.New(why)}
}

// sources asks production where it still serves content with b's sha1,
// for each version the object holds: current and old versions through
// imageinfo, deleted ones through the file archive, revision-deleted old
// ones (which the API does not describe) by downloading them. It returns
// the places found and the errors that stopped it asking.
func (r *runner) sources(ctx context.Context, b metadata.Backup, versions []metadata.File) ([]source, []error) {
	var (
		out     []source
		errs    []error
		seen    = map[string]bool{}
		asked   = map[string]bool{}
		prod    = r.opts.Production
		addOnce = func(s source) {
			if !seen[s.what] {
				seen[s.what] = true
				out = append(out, s)
			}
		}
	)
	for _, v := range versions {
		title := v.Title
		switch {
		case v.Status == metadata.HardDeleted:
			continue
		case v.Status == metadata.Deleted && v.FilearchiveID == 0 && v.ArchiveName != "":
			name := v.ArchiveName
			addOnce(source{what: "hidden version " + name, open: func(ctx context.Context) (io.ReadCloser, int64, error) {
				return prod.DownloadHidden(ctx, title, name)
			}})
		case v.Status == metadata.Deleted:
			if asked["deleted|"+title] {
				continue
			}
			asked["deleted|"+title] = true
			rows, err := prod.DeletedVersionsOf(ctx, title)
			if err != nil {
				errs = append(errs, fmt.Errorf("ask for the deleted versions of %s: %w", title, err))
				continue
			}
			for _, d := range rows {
				if d.SHA1 == b.SHA1 && d.StorageKey != "" {
					key := d.StorageKey
					addOnce(source{what: "deleted file " + key, open: func(ctx context.Context) (io.ReadCloser, int64, error) {
						return prod.DownloadDeleted(ctx, title, key)
					}})
				}
			}
		default:
			if asked["file|"+title] {
				continue
			}
			asked["file|"+title] = true
			got, err := prod.Versions(ctx, []string{title})
			if err != nil {
				errs = append(errs, fmt.Errorf("ask for the versions of %s: %w", title, err))
				continue
			}
			for _, vs := range got {
				for _, fv := range vs {
					if fv.SHA1 == b.SHA1 && fv.URL != "" {
						u := fv.URL
						addOnce(source{what: u, open: func(ctx context.Context) (io.ReadCloser, int64, error) {
							return prod.Download(ctx, u)
						}})
					}
				}
			}
		}
	}
	return out, errs
}

// differentContentError is a download whose bytes are not the object's.
type differentContentError struct {
	what, got, want string
}

func (e *differentContentError) Error() string {
	return fmt.Sprintf("%s has other bytes (%s, the backup records %s)", e.what, e.got, e.want)
}

// fetch downloads src into a temporary file and checks its sha1 and
// sha256 against b's. The caller closes and removes the file.
func (r *runner) fetch(ctx context.Context, b metadata.Backup, src source) (*os.File, error) {
	body, _, err := src.open(ctx)
	if err != nil {
		return nil, err // it names what it downloaded
	}
	defer body.Close()
	f, err := os.CreateTemp(r.opts.TmpDir, "verify-repair-*")
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", src.what, err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h256, h1 := sha256.New(), sha1.New()
	n, err := io.Copy(io.MultiWriter(f, h256, h1), body)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", src.what, err)
	}
	got256, got1 := hex.EncodeToString(h256.Sum(nil)), hex.EncodeToString(h1.Sum(nil))
	if got256 != b.SHA256 || (b.SHA1 != "" && got1 != b.SHA1) || n != b.Size {
		return nil, &differentContentError{what: src.what,
			got:  fmt.Sprintf("%d bytes, sha1 %s, sha256 %s", n, got1, got256),
			want: fmt.Sprintf("%d bytes, sha1 %s, sha256 %s", b.Size, b.SHA1, b.SHA256)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("download %s: %w", src.what, err)
	}
	keep = true
	return f, nil
}

// storeAgain puts the verified plain content in f under b's key on srv,
// encrypted first when b is, with the checksum the server verifies.
func (r *runner) storeAgain(ctx context.Context, srv Server, b metadata.Backup, f *os.File) (int64, error) {
	body, size, want := f, b.Size, b.SHA256
	if b.Encrypted {
		cf, err := os.CreateTemp(r.opts.TmpDir, "verify-repair-*.age")
		if err != nil {
			return 0, fmt.Errorf("encrypt for %s: %w", b.ObjectKey, err)
		}
		defer func() { cf.Close(); os.Remove(cf.Name()) }()
		h := sha256.New()
		w, err := encryption.Encrypt(io.MultiWriter(cf, h), r.opts.Recipients...)
		if err == nil {
			_, err = io.Copy(w, f)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		var n int64
		if err == nil {
			n, err = cf.Seek(0, io.SeekCurrent)
		}
		if err == nil {
			_, err = cf.Seek(0, io.SeekStart)
		}
		if err != nil {
			return 0, fmt.Errorf("encrypt for %s: %w", b.ObjectKey, err)
		}
		body, size, want = cf, n, hex.EncodeToString(h.Sum(nil))
	}
	raw, _ := hex.DecodeString(want)
	stored, err := srv.Put(ctx, b.ObjectKey, body, size, raw)
	if err != nil {
		return 0, fmt.Errorf("store it again: %w", err)
	}
	return stored, nil
}
