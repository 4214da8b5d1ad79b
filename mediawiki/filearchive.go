package mediawiki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// DeletedVersion is one row of list=filearchive: a version of a deleted
// file, or an old version deleted on its own.
type DeletedVersion struct {
	ID        int64     // fa_id
	Title     string    // DB key (fa_name)
	Timestamp time.Time // original upload time, UTC (the deletion time is not in the API)
	SHA1      string    // 40 lower-case hex digits; "" when Hidden and not visible to us
	Size      int64     // the API sends it as a JSON string; parsed
	MIME      string
	MediaType string
	// ArchiveName is set only for versions that were old when deleted.
	ArchiveName string
	// StorageKey is fa_storage_key, computed with StorageKey from SHA1
	// and Title (the API does not report it); "" when SHA1 is "".
	StorageKey string
	// Hidden marks a row whose content is revision-deleted
	// ("filehidden").
	Hidden bool
}

type rawFileArchive struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	NS          int     `json:"ns"`
	Title       string  `json:"title"`
	SHA1        string  `json:"sha1"`
	Timestamp   string  `json:"timestamp"`
	Size        flexInt `json:"size"`
	MIME        string  `json:"mime"`
	MediaType   string  `json:"mediatype"`
	ArchiveName string  `json:"archivename"`
	FileHidden  bool    `json:"filehidden"`
}

// ParseFileArchive parses one api.php response to list=filearchive
// (format=json, formatversion=2) and returns its rows and the
// continuation parameters for the next request (nil when done). An API
// error body is returned as *APIError. It never panics; malformed JSON,
// timestamps, sizes or sha1s are errors.
func ParseFileArchive(body []byte) ([]DeletedVersion, map[string]string, error) {
	var env envelope
	cont, err := parseEnvelope(body, &env)
	if err != nil {
		return nil, nil, err
	}
	var r struct {
		Query struct {
			FileArchive []rawFileArchive `json:"filearchive"`
		} `json:"query"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("parse filearchive response: %w", err)
	}
	out := make([]DeletedVersion, 0, len(r.Query.FileArchive))
	for i, fa := range r.Query.FileArchive {
		d, err := fa.deletedVersion()
		if err != nil {
			return nil, nil, fmt.Errorf("parse filearchive row %d (id %d): %w", i, fa.ID, err)
		}
		out = append(out, d)
	}
	return out, cont, nil
}

func (fa rawFileArchive) deletedVersion() (DeletedVersion, error) {
	name := fa.Name
	if name == "" && fa.Title != "" {
		name = stripNamespace(fa.Title)
	}
	if name == "" {
		return DeletedVersion{}, fmt.Errorf("no name")
	}
	ts, err := parseTime(fa.Timestamp)
	if err != nil {
		return DeletedVersion{}, err
	}
	sha1, err := checkSHA1(fa.SHA1)
	if err != nil {
		return DeletedVersion{}, err
	}
	if fa.Size < 0 {
		return DeletedVersion{}, fmt.Errorf("negative size %d", fa.Size)
	}
	d := DeletedVersion{ID: fa.ID, Title: name, Timestamp: ts, SHA1: sha1, Size: int64(fa.Size),
		MIME: fa.MIME, MediaType: fa.MediaType, ArchiveName: fa.ArchiveName, Hidden: fa.FileHidden}
	if sha1 != "" {
		if d.StorageKey, err = StorageKey(sha1, name); err != nil {
			return DeletedVersion{}, err
		}
	}
	return d, nil
}

// DeletedVersions calls fn for every row of list=filearchive (all
// versions of deleted files, and old versions deleted on their own), in
// the API's order (by name, then timestamp), following continuation to
// the end. It needs an account with deletedhistory (MediaWiki 1.39 shows
// sha1s to anyone on a public wiki, newer ones may not); a refusal wraps
// ErrPermission. An error from fn stops the listing and is returned as is.
func (c *Client) DeletedVersions(ctx context.Context, fn func(DeletedVersion) error) error {
	params := url.Values{
		"action":  {"query"},
		"list":    {"filearchive"},
		"falimit": {"max"},
		"faprop":  {"sha1|timestamp|size|mime|mediatype|archivename"},
	}
	return c.list(ctx, "list deleted file versions", params, func(body []byte) (map[string]string, error) {
		rows, next, err := ParseFileArchive(body)
		if err != nil {
			return nil, err
		}
		for _, d := range rows {
			if err := fn(d); err != nil {
				return nil, callbackError{err}
			}
		}
		return next, nil
	})
}
