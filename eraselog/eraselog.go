// Package eraselog reads the output of MediaWiki's eraseArchivedFile.php,
// as production operators keep it, into the file versions it erased: the
// recovery tools' batch mode.
package eraselog

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
)

// Entry is one file version named by an eraseArchivedFile.php log.
type Entry struct {
	Line       int    // 1-based line number in the log
	Wiki       string // from the last mwscript line before it; "" if none
	Title      string // DB key (fa_name)
	StorageKey string // as printed: <sha1 base 36>.<ext>
	SHA1       string // hex, from the storage key
	UploadDate time.Time
}

var (
	mwscriptLine = regexp.MustCompile(`^mwscript\s+\S*eraseArchivedFile\.php(?:\s|$)(.*)$`)
	wikiArg      = regexp.MustCompile(`(?:^|\s)--wiki(?:=|\s+)(?:'([^']*)'|"([^"]*)"|([^\s'"]+))`)
	deletedLine  = regexp.MustCompile(`^Deleted\s+version\s+'([^']*)'\s+\((\d{14})\)\s+of\s+file\s+'(.*)'$`)
)

// Parse reads the output of MediaWiki's eraseArchivedFile.php, as
// production operators keep it, and returns the versions it says were
// deleted, in order.
//
// A line "mwscript eraseArchivedFile.php --wiki=NAME ..." (or "--wiki NAME",
// the name quoted or not) sets the wiki of the lines after it. A line
// "Deleted version 'KEY.ext' (YYYYMMDDhhmmss) of file 'Title'" names a
// version by its storage key (the sha1 in base 36), upload date and title.
// Every other line ("Purging all thumbnails...", "Would delete ...",
// "Failed to delete ...", blank lines) and white space around and between
// words is ignored. A "Deleted version" line whose key or date is malformed
// is an error that gives its line number; so is a mwscript line without a
// wiki. Reading stops at the first error.
func Parse(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var (
		out  []Entry
		wiki string
		n    int
	)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if m := mwscriptLine.FindStringSubmatch(line); m != nil {
			w := wikiArg.FindStringSubmatch(m[1])
			if w == nil {
				return nil, fmt.Errorf("erase log line %d: a mwscript line without --wiki: %q", n, line)
			}
			wiki = strings.TrimSpace(w[1] + w[2] + w[3])
			if wiki == "" {
				return nil, fmt.Errorf("erase log line %d: empty --wiki: %q", n, line)
			}
			continue
		}
		m := deletedLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		e := Entry{Line: n, Wiki: wiki, StorageKey: m[1], Title: strings.ReplaceAll(m[3], " ", "_")}
		b36, _, _ := strings.Cut(m[1], ".")
		sha1, err := mediawiki.SHA1Base36ToHex(b36)
		if err != nil {
			return nil, fmt.Errorf("erase log line %d: storage key %q: %w", n, m[1], err)
		}
		e.SHA1 = sha1
		if e.UploadDate, err = time.Parse("20060102150405", m[2]); err != nil {
			return nil, fmt.Errorf("erase log line %d: date %q: %w", n, m[2], err)
		}
		if e.Title == "" {
			return nil, fmt.Errorf("erase log line %d: empty file name", n)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read erase log: %w", err)
	}
	return out, nil
}
