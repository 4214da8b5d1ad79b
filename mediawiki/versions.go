package mediawiki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// imageInfoProps is the iiprop value of every imageinfo query.
const imageInfoProps = "timestamp|sha1|size|url|mime|mediatype|archivename"

// FileVersion is one current or archived version of a file, as
// prop=imageinfo reports it.
type FileVersion struct {
	Title     string    // DB key: underscores, no "File:" prefix, e.g. "File_with_spaces.png"
	Timestamp time.Time // upload time, UTC
	SHA1      string    // 40 lower-case hex digits; "" when Hidden
	Size      int64
	MIME      string
	MediaType string
	URL       string // download URL (for Download); "" when Hidden
	// ArchiveName is "" for the current version, else the oldimage name,
	// e.g. "20250102090000!Wow!Amazing.png". Also "" when Hidden: the
	// API does not give it (build it from the delete/revision log).
	ArchiveName string
	// ArchiveTime is the time before the FIRST '!' of ArchiveName (when
	// the version was archived, normally the next upload's time); zero
	// when ArchiveName is "".
	ArchiveTime time.Time
	// Hidden marks a revision-deleted old version ("filehidden"): only
	// Title, Timestamp, Size (and maybe MIME) are known.
	Hidden bool
}

// IsCurrent reports whether v is the current version of its file.
func (v FileVersion) IsCurrent() bool { return v.ArchiveName == "" && !v.Hidden }

// imageInfoPage is one parsed imageinfo response.
type imageInfoPage struct {
	versions      []FileVersion
	titles        []string // DB keys of every ns-6 page in the batch, missing ones too
	cont          map[string]string
	batchComplete bool
	limit         int // limits.imageinfo, 0 when absent
}

type rawImageInfo struct {
	Timestamp   string  `json:"timestamp"`
	SHA1        string  `json:"sha1"`
	Size        flexInt `json:"size"`
	MIME        string  `json:"mime"`
	MediaType   string  `json:"mediatype"`
	URL         string  `json:"url"`
	ArchiveName string  `json:"archivename"`
	FileHidden  bool    `json:"filehidden"`
}

// parseImageInfo parses a prop=imageinfo response (with titles= or a
// generator). Pages that are missing, invalid or from another repository
// (imagerepository other than "local") contribute no versions.
func parseImageInfo(body []byte) (imageInfoPage, error) {
	var env envelope
	cont, err := parseEnvelope(body, &env)
	if err != nil {
		return imageInfoPage{}, err
	}
	var r struct {
		Query struct {
			Pages []struct {
				NS              int            `json:"ns"`
				Title           string         `json:"title"`
				Missing         bool           `json:"missing"`
				Invalid         bool           `json:"invalid"`
				ImageRepository string         `json:"imagerepository"`
				ImageInfo       []rawImageInfo `json:"imageinfo"`
			} `json:"pages"`
		} `json:"query"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return imageInfoPage{}, fmt.Errorf("parse imageinfo response: %w", err)
	}
	p := imageInfoPage{cont: cont, batchComplete: env.BatchComplete}
	if raw, ok := env.Limits["imageinfo"]; ok {
		var n flexInt
		if json.Unmarshal(raw, &n) == nil {
			p.limit = int(n)
		}
	}
	for _, pg := range r.Query.Pages {
		if pg.NS != 6 || pg.Invalid || pg.Title == "" {
			continue
		}
		title := stripNamespace(pg.Title)
		p.titles = append(p.titles, title)
		if pg.Missing || pg.ImageRepository != "local" {
			continue
		}
		for i, ii := range pg.ImageInfo {
			v, err := ii.version(title)
			if err != nil {
				return imageInfoPage{}, fmt.Errorf("parse imageinfo of %q, version %d: %w", title, i, err)
			}
			p.versions = append(p.versions, v)
		}
	}
	return p, nil
}

func (ii rawImageInfo) version(title string) (FileVersion, error) {
	ts, err := parseTime(ii.Timestamp)
	if err != nil {
		return FileVersion{}, err
	}
	v := FileVersion{Title: title, Timestamp: ts, Size: int64(ii.Size), MIME: ii.MIME,
		MediaType: ii.MediaType, Hidden: ii.FileHidden}
	if v.Size < 0 {
		return FileVersion{}, fmt.Errorf("negative size %d", v.Size)
	}
	if ii.FileHidden {
		return v, nil
	}
	if v.SHA1, err = checkSHA1(ii.SHA1); err != nil {
		return FileVersion{}, err
	}
	v.URL = ii.URL
	if ii.ArchiveName != "" {
		if v.ArchiveTime, err = ArchiveTime(ii.ArchiveName); err != nil {
			return FileVersion{}, err
		}
		v.ArchiveName = ii.ArchiveName
	}
	return v, nil
}

// ParseAllVersions parses one api.php response to a prop=imageinfo query
// (generator=allimages or titles=), as AllVersions and Versions send it
// (format=json, formatversion=2). It returns the versions in response
// order and the continuation parameters to add to the next request (nil
// when done). An API error body is returned as *APIError. It never panics;
// malformed JSON, timestamps, sha1s or archive names are errors.
//
// Beware: for a multi-title batch, MediaWiki 1.39 silently drops a file's
// versions beyond iilimit instead of continuing; AllVersions and Versions
// detect that and ask for such a file alone.
func ParseAllVersions(body []byte) ([]FileVersion, map[string]string, error) {
	p, err := parseImageInfo(body)
	if err != nil {
		return nil, nil, err
	}
	return p.versions, p.cont, nil
}

// AllVersions calls fn for every current and archived version (hidden
// ones included, with Hidden set) of every local file of the wiki, file
// by file in title order within each batch of the allimages generator,
// following every continuation to the end. A file with more versions
// than fit in one answer is fetched again on its own, so no version is
// lost. Deleted files and redirects are not listed (see DeletedVersions).
// An error from fn stops the listing and is returned as is.
func (c *Client) AllVersions(ctx context.Context, fn func(FileVersion) error) error {
	params := url.Values{
		"action":    {"query"},
		"generator": {"allimages"},
		"gailimit":  {c.gaiLimit},
		"prop":      {"imageinfo"},
		"iilimit":   {c.iiLimit},
		"iiprop":    {imageInfoProps},
	}
	return c.imageInfo(ctx, "list all file versions", params, false, func(_ string, vs []FileVersion) error {
		for _, v := range vs {
			if err := fn(v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Versions returns every version (newest first, hidden ones included) of
// the given files, keyed by the wiki's DB key of each title. Titles may be
// DB keys or "File:" titles, with spaces or underscores; the wiki
// normalises them (it may capitalise the first letter, and then so does
// the key). Missing and deleted titles are absent from the map. Redirects are followed: a title that is now a
// redirect (e.g. after a move) is absent, and its target is present under
// its own DB key, so the map can hold keys that were not asked for.
func (c *Client) Versions(ctx context.Context, titles []string) (map[string][]FileVersion, error) {
	seen := make(map[string]bool, len(titles))
	var keys []string
	for _, t := range titles {
		k := DBKey(t)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	out := make(map[string][]FileVersion)
	per := max(c.titlesPerQuery, 1)
	for start := 0; start < len(keys); start += per {
		batch := keys[start:min(start+per, len(keys))]
		var ts []string
		for _, k := range batch {
			ts = append(ts, "File:"+k)
		}
		params := url.Values{
			"action":    {"query"},
			"titles":    {strings.Join(ts, "|")},
			"redirects": {"1"},
			"prop":      {"imageinfo"},
			"iilimit":   {c.iiLimit},
			"iiprop":    {imageInfoProps},
		}
		what := fmt.Sprintf("get versions of %d files starting with %q", len(batch), batch[0])
		err := c.imageInfo(ctx, what, params, len(batch) == 1, func(title string, vs []FileVersion) error {
			out[title] = vs // a redirect target can come up in two batches: same versions
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// imageInfo runs an imageinfo query to the end of its continuation and
// calls fn once per file with all its versions, when the batch holding
// the file is complete. single says the query names one title, for which
// MediaWiki continues properly within the file; otherwise files whose
// version count reached the per-file limit are fetched again alone,
// because MediaWiki 1.39 drops the excess of multi-title batches.
func (c *Client) imageInfo(ctx context.Context, what string, params url.Values, single bool, fn func(title string, vs []FileVersion) error) error {
	batch := map[string][]FileVersion{}
	seen := map[string]map[FileVersion]bool{}
	batchTitles := map[string]bool{}
	limit := 0
	if n, err := strconv.Atoi(params.Get("iilimit")); err == nil {
		limit = n
	}

	flush := func() error {
		titles := make([]string, 0, len(batch))
		for t := range batch {
			titles = append(titles, t)
		}
		sort.Strings(titles)
		multi := !single && len(batchTitles) > 1
		for _, t := range titles {
			vs := batch[t]
			if multi && limit > 0 && len(vs) >= limit {
				p := url.Values{
					"action":  {"query"},
					"titles":  {"File:" + t},
					"prop":    {"imageinfo"},
					"iilimit": {params.Get("iilimit")},
					"iiprop":  {params.Get("iiprop")},
				}
				if err := c.imageInfo(ctx, what+": all versions of "+strconv.Quote(t), p, true, fn); err != nil {
					return err
				}
				continue
			}
			if err := fn(t, vs); err != nil {
				return err
			}
		}
		clear(batch)
		clear(seen)
		clear(batchTitles)
		return nil
	}

	return c.list(ctx, what, params, func(body []byte) (map[string]string, error) {
		page, err := parseImageInfo(body)
		if err != nil {
			return nil, err
		}
		if page.limit > 0 {
			limit = page.limit
		}
		for _, t := range page.titles {
			batchTitles[t] = true
		}
		for _, v := range page.versions {
			// A version cut off by the result size limit is sent again
			// after continuation; never report one twice.
			if !v.Hidden {
				if seen[v.Title] == nil {
					seen[v.Title] = map[FileVersion]bool{}
				}
				if seen[v.Title][v] {
					continue
				}
				seen[v.Title][v] = true
			}
			batch[v.Title] = append(batch[v.Title], v)
		}
		if page.batchComplete || page.cont == nil {
			if err := flush(); err != nil {
				return nil, callbackError{err}
			}
		}
		return page.cont, nil
	})
}

func sameCont(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
