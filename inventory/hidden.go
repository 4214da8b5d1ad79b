package inventory

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Hidden is a revision-deleted old version whose sha1 must be learned by
// downloading it: the API describes it only by its upload time and size.
type Hidden struct {
	Title      string
	UploadDate time.Time
	Size       int64
	MIME       string
	// Candidates are the archive names to try, most likely first.
	Candidates []string
	// DeleteDate is when it was hidden, when known, else zero.
	DeleteDate time.Time
}

// HiddenDownloader reads the bytes of a revision-deleted old version.
type HiddenDownloader interface {
	DownloadHidden(ctx context.Context, title, archiveName string) (io.ReadCloser, int64, error)
}

// ErrHiddenNotFound is returned by LearnHidden when no candidate archive
// name gave bytes of the expected size.
var ErrHiddenNotFound = errors.New("no candidate archive name gave its bytes")

// LearnHidden downloads h under each candidate archive name until one
// gives bytes of the expected size, and describes it with their sha1 (see
// HiddenRow). When none does it returns the wiki's refusal, if the wiki
// refused one (a *mediawiki.RightError, or an error wrapping
// mediawiki.ErrGone when the bytes were erased), else ErrHiddenNotFound.
// A cancelled ctx stops it with ctx's error.
func LearnHidden(ctx context.Context, dl HiddenDownloader, h Hidden, c mediawiki.Containers) (metadata.File, error) {
	var refused error
	for _, name := range h.Candidates {
		body, _, err := dl.DownloadHidden(ctx, h.Title, name)
		if err != nil {
			if ctx.Err() != nil {
				return metadata.File{}, ctx.Err()
			}
			if errors.Is(err, mediawiki.ErrPermission) || errors.Is(err, mediawiki.ErrGone) {
				refused = err
			}
			continue
		}
		hash := sha1.New()
		n, err := io.Copy(hash, body)
		body.Close()
		if err != nil {
			return metadata.File{}, fmt.Errorf("download hidden version %q: %w", name, err)
		}
		if h.Size > 0 && n != h.Size {
			continue
		}
		base := metadata.File{UploadDate: h.UploadDate, Size: n, MIME: h.MIME, DeleteDate: h.DeleteDate}
		return HiddenRow(h.Title, name, hex.EncodeToString(hash.Sum(nil)), base, c), nil
	}
	if refused != nil {
		return metadata.File{}, refused
	}
	return metadata.File{}, ErrHiddenNotFound
}

// HiddenRow describes a revision-deleted old version with the given
// archive name and sha1 as a metadata row: deleted, its bytes in the
// deleted zone under its storage key. base supplies the other fields
// (upload date, size, MIME type, and a known delete date).
func HiddenRow(title, archiveName, sha1 string, base metadata.File, c mediawiki.Containers) metadata.File {
	f := metadata.File{
		Title: title, SHA1: sha1, Size: base.Size, MIME: base.MIME, MediaType: base.MediaType,
		UploadDate: base.UploadDate.UTC(), Status: metadata.Deleted, ArchiveName: archiveName,
		ArchiveDate: base.ArchiveDate, DeleteDate: base.DeleteDate,
	}
	if t, err := mediawiki.ArchiveTime(archiveName); err == nil {
		f.ArchiveDate = t
	}
	if sk, err := mediawiki.StorageKey(sha1, title); err == nil {
		f.StorageKey = sk
		f.Container, f.Path = c.Deleted(sk)
	}
	return f
}

// Revisions is what a wiki's revision-deletion log (delete/revision
// events about old file versions) says, by title: the archive-name
// timestamps each event hid and when. It names the archive names of
// hidden versions, which the API does not give, and when they were hidden.
type Revisions map[string][]mediawiki.LogEvent

// Add records ev if it is a revision deletion of old file versions that
// hid their content.
func (r Revisions) Add(ev mediawiki.LogEvent) {
	if (ev.Type != "delete" && ev.Type != "suppress") || ev.Action != "revision" || ev.RevisionType != "oldimage" {
		return
	}
	if ev.NewBits&1 == 0 { // the content was shown again, not hidden
		return
	}
	r[ev.Title] = append(r[ev.Title], ev)
}

// Candidates returns the archive names to try for a hidden version of
// title, given the upload time of the next newer version (an old version
// is archived when the next one is uploaded; zero when unknown), most
// likely first: that time, then those of the revision deletions of the
// title.
func (r Revisions) Candidates(title string, next time.Time) []string {
	var out []string
	add := func(ts string) {
		name := ts + "!" + title
		if len(ts) == 14 && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if !next.IsZero() {
		add(next.UTC().Format("20060102150405"))
	}
	for _, ev := range r[title] {
		for _, id := range ev.RevisionIDs {
			add(id)
		}
	}
	return out
}

// HiddenAt returns when the version with archiveName was last hidden,
// zero when the log does not say.
func (r Revisions) HiddenAt(title, archiveName string) time.Time {
	var at time.Time
	ts, ok := archiveTimestamp(archiveName)
	if !ok {
		return at
	}
	for _, ev := range r[title] {
		if slices.Contains(ev.RevisionIDs, ts) && ev.Timestamp.After(at) {
			at = ev.Timestamp.UTC()
		}
	}
	return at
}

// archiveTimestamp returns the 14-digit timestamp before the first '!' of
// an archive name.
func archiveTimestamp(archiveName string) (string, bool) {
	if len(archiveName) < 15 || archiveName[14] != '!' {
		return "", false
	}
	return archiveName[:14], true
}
