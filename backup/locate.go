package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Finder is what the backup asks the wiki when the bytes at a version's
// recorded place do not have the version's sha1 (see fetchVersion).
type Finder interface {
	// Versions returns the current and archived versions of files, with
	// their URLs and sha1s (mediawiki.Client.Versions: redirects left by
	// a move are followed).
	Versions(ctx context.Context, titles []string) (map[string][]mediawiki.FileVersion, error)
	// DeletedVersionsOf returns the deleted versions of one file name.
	DeletedVersionsOf(ctx context.Context, title string) ([]mediawiki.DeletedVersion, error)
	// DeletedVersionsBySHA1 returns the deleted versions, under any name,
	// that hold the content with this sha1.
	DeletedVersionsBySHA1(ctx context.Context, sha1 string) ([]mediawiki.DeletedVersion, error)
}

// source is one place production serves bytes from.
type source struct {
	what string // for logs and reasons: a URL, "deleted file KEY of TITLE", ...
	// open starts the download; its errors name the place.
	open func(ctx context.Context) (io.ReadCloser, int64, error)
}

// recorded returns the place the metadata records for f.
func (r *runner) recorded(f metadata.File) (source, error) {
	switch {
	case f.Status == metadata.Deleted && f.FilearchiveID == 0 && f.ArchiveName != "":
		// A revision-deleted old version: still an oldimage row, not in
		// the file archive (see package update).
		return source{"hidden version " + f.ArchiveName, func(ctx context.Context) (io.ReadCloser, int64, error) {
			body, _, err := r.fetch.DownloadHidden(ctx, f.Title, f.ArchiveName)
			return body, -1, err
		}}, nil
	case f.Status == metadata.Deleted && f.StorageKey != "":
		return r.deletedSource(f.Title, f.StorageKey), nil
	case f.SourceURL != "":
		return r.urlSource(f.SourceURL), nil
	default:
		return source{}, fmt.Errorf("download %s: production gave no URL or storage key for it", f.Title)
	}
}

func (r *runner) urlSource(u string) source {
	return source{u, func(ctx context.Context) (io.ReadCloser, int64, error) { return r.fetch.Download(ctx, u) }}
}

func (r *runner) deletedSource(title, key string) source {
	return source{fmt.Sprintf("deleted file %s of %s", key, title), func(ctx context.Context) (io.ReadCloser, int64, error) {
		return r.fetch.DownloadDeleted(ctx, title, key)
	}}
}

// fetched is the outcome of fetchVersion: bytes to store, and where from.
type fetched struct {
	sp *spool
	// from is the place the bytes came from when it is not the recorded
	// one ("" when it is).
	from string
	// corrupt is set when production itself serves, for this version,
	// bytes that match no version the wiki knows of the file.
	corrupt bool
}

// fetchVersion downloads the bytes of f and makes sure they are f's: a
// version's content is stored only if its sha1 is the version's sha1. When
// the recorded place serves other bytes, or nothing (404: the file was
// overwritten, moved or deleted since it was listed), it asks the wiki
// where the version is now: the file's history (an archived or current URL
// whose sha1 is the version's; the redirect a move leaves is followed) and
// then the deleted zone (list=filearchive by sha1, under any name), and
// takes the first place whose bytes have the right sha1.
//
// When no place does, there are two cases. Bytes that production serves
// for the version (at its recorded place, or at a place the wiki gives for
// it), twice the same, and that match no version the wiki knows of the
// file (visible or deleted) are corruption in production: they are
// returned with corrupt set (kept under their own sha256 and listed by
// `mediabackups mismatches`). Otherwise the error wraps
// metadata.ErrUnavailable and says where it looked. A failure to download
// or to ask the API is returned as it is (status error).
func (r *runner) fetchVersion(ctx context.Context, f metadata.File) (fetched, error) {
	src, err := r.recorded(f)
	if err != nil {
		return fetched{}, err
	}
	sp, err := r.fetchFrom(ctx, src)
	switch {
	case errors.Is(err, mediawiki.ErrNotFound) && f.SHA1 != "":
		// Nothing there any more: moved, deleted or overwritten.
		r.opts.Logger.Info("the recorded place serves nothing; asking the wiki where the version is now",
			"title", f.Title, "uploaded", f.UploadDate.Format(time.RFC3339), "place", src.what)
		return r.relocate(ctx, f, src, nil)
	case err != nil || f.SHA1 == "" || sp.SHA1() == f.SHA1:
		return fetched{sp: sp}, err
	}
	r.opts.Logger.Info("the recorded place serves other bytes than this version's; asking the wiki where the version is now",
		"title", f.Title, "uploaded", f.UploadDate.Format(time.RFC3339), "place", src.what, "want_sha1", f.SHA1, "got_sha1", sp.SHA1())
	return r.relocate(ctx, f, src, sp)
}

// relocate is fetchVersion after the recorded place (rec) served first,
// bytes with another sha1 than f.SHA1 (nil: it served nothing). It owns
// first.
func (r *runner) relocate(ctx context.Context, f metadata.File, rec source, first *spool) (fetched, error) {
	// odd holds bytes, served for this version, that match no version of
	// the file; seen counts the downloads that gave them.
	var (
		odd  *fetched
		seen int
	)
	defer func() {
		if odd != nil {
			odd.sp.Close()
		}
	}()
	firstSHA := ""
	if first != nil {
		firstSHA = first.SHA1()
		defer func() {
			if first != nil {
				first.Close()
			}
		}()
	}
	vs, err := r.fetch.Versions(ctx, []string{f.Title})
	if err != nil {
		return fetched{}, fmt.Errorf("look up where production serves %s now: %w", f.Title, err)
	}
	known := map[string]string{} // sha1 → which version of the file has it
	var places []source
	seen1 := map[string]bool{}
	hidden := 0
	for title, list := range vs {
		for _, v := range list {
			if v.Hidden {
				hidden++
				continue
			}
			known[v.SHA1] = describeVersion(title, v)
			if v.SHA1 == f.SHA1 && v.URL != "" && !seen1[v.URL] {
				seen1[v.URL] = true
				places = append(places, r.urlSource(v.URL))
			}
		}
	}
	notes := []string{fmt.Sprintf("the recorded place %s served nothing (HTTP 404)", rec.what)}
	if first != nil {
		notes[0] = fmt.Sprintf("the recorded place %s served sha1 %s", rec.what, firstSHA)
		if k := known[firstSHA]; k != "" {
			notes[0] += " (" + k + ")"
		} else {
			odd, first, seen = &fetched{sp: first, from: rec.what, corrupt: true}, nil, 1
		}
	}
	// try downloads each place and returns the first with the version's
	// bytes (ok), noting what the others served.
	try := func(places []source) (fetched, bool, error) {
		for _, p := range places {
			sp, err := r.fetchFrom(ctx, p)
			if err != nil {
				if ctx.Err() != nil {
					return fetched{}, false, err
				}
				notes = append(notes, err.Error())
				continue
			}
			switch sha := sp.SHA1(); {
			case sha == f.SHA1:
				return fetched{sp: sp, from: p.what}, true, nil
			case known[sha] != "":
				notes = append(notes, fmt.Sprintf("%s served sha1 %s (%s)", p.what, sha, known[sha]))
				sp.Close()
			default:
				notes = append(notes, fmt.Sprintf("%s served sha1 %s, which no version of the file has", p.what, sha))
				if odd == nil {
					odd = &fetched{sp: sp, from: p.what, corrupt: true}
				} else {
					sp.Close()
				}
				seen++
			}
		}
		return fetched{}, false, nil
	}
	if res, ok, err := try(places); ok || err != nil {
		return res, err
	}

	// The deleted zone, by content: the version may have been deleted
	// (and its file moved before).
	filearchive := "the deleted zone holds no version with this sha1"
	dels, err := r.fetch.DeletedVersionsBySHA1(ctx, f.SHA1)
	switch {
	case errors.Is(err, mediawiki.ErrPermission):
		filearchive = fmt.Sprintf("the deleted zone could not be searched (%v)", err)
	case err != nil:
		return fetched{}, fmt.Errorf("look up %s in the deleted zone: %w", f.Title, err)
	}
	places = places[:0]
	for _, d := range dels {
		if d.StorageKey != "" && !seen1[d.Title+"\x00"+d.StorageKey] {
			seen1[d.Title+"\x00"+d.StorageKey] = true
			places = append(places, r.deletedSource(d.Title, d.StorageKey))
		}
	}
	if res, ok, err := try(places); ok || err != nil {
		return res, err
	}

	if odd != nil && seen < 2 {
		// Seen once: download the recorded place again before calling it
		// corruption (the bytes may have been damaged on the way).
		if res, ok, err := try([]source{rec}); ok || err != nil {
			if ok {
				res.from = "" // the recorded place, after all
			}
			return res, err
		}
	}
	if odd != nil && seen >= 2 {
		// Bytes that no visible version has: unless a deleted version of
		// the same name has them, production is corrupt.
		ds, err := r.fetch.DeletedVersionsOf(ctx, f.Title)
		if err != nil && !errors.Is(err, mediawiki.ErrPermission) {
			return fetched{}, fmt.Errorf("list the deleted versions of %s: %w", f.Title, err)
		}
		sha := odd.sp.SHA1()
		mine := true
		for _, d := range ds {
			if d.SHA1 == sha {
				mine = false
				notes = append(notes, fmt.Sprintf("(sha1 %s is a deleted version of the file, uploaded %s)", sha, d.Timestamp.Format(time.RFC3339)))
			}
		}
		if mine {
			out := *odd
			odd = nil
			return out, nil
		}
	}

	history := fmt.Sprintf("the file's history (%d versions) has no visible version with sha1 %s", len(known), f.SHA1)
	if hidden > 0 {
		history += fmt.Sprintf(" (%d versions have their content hidden)", hidden)
	}
	parts := append(notes, history, filearchive)
	return fetched{}, fmt.Errorf("%w: %s; it is tried again when `mediabackups update` records a new place for it, or with `backup --retry-errors`",
		metadata.ErrUnavailable, strings.Join(parts, "; "))
}

// describeVersion says which version of a file v is, for reasons.
func describeVersion(title string, v mediawiki.FileVersion) string {
	if v.IsCurrent() {
		return fmt.Sprintf("the current version of %s, uploaded %s", title, v.Timestamp.Format(time.RFC3339))
	}
	return fmt.Sprintf("the old version of %s uploaded %s", title, v.Timestamp.Format(time.RFC3339))
}

// fetchFrom downloads the bytes at s into a spool.
func (r *runner) fetchFrom(ctx context.Context, s source) (*spool, error) {
	body, size, err := s.open(ctx)
	if err != nil {
		return nil, err // it names the place already
	}
	defer body.Close()
	var sp *spool
	if len(r.opts.Recipients) > 0 {
		sp = newSealedSpool(r.opts.TmpDir, r.opts.MemoryLimit) // never plaintext on disk
	} else {
		sp = newSpool(r.opts.TmpDir, r.opts.MemoryLimit)
	}
	sp.expect(size)
	if _, err := io.Copy(sp, body); err != nil {
		sp.Close()
		return nil, fmt.Errorf("download %s: %w", s.what, err)
	}
	return sp, nil
}
