// Package eraselog reads the output of MediaWiki's eraseArchivedFile.php,
// as production operators keep it, into the file versions it erased: the
// recovery tools' batch mode.
//
// # What a log looks like
//
// Operators paste their terminal: the command line, with its shell prompt
// and however they started the script, followed by the script's output.
//
//	user@mwmaint2002:~$ mwscript eraseArchivedFile.php --wiki commonswiki --filename "X.jpg" --filekey "*" --delete
//	Purging all thumbnails for file 'X.jpg'...done.
//	Finding deleted versions of file 'X.jpg'...
//	Deleted version 'rjrzta2uecby71eo37q33rfc4bdtzyv.jpg' (20250101120000) of file 'X.jpg'
//	Done
//
// A command line is any line that runs eraseArchivedFile.php through a
// launcher: mwscript (or mwscript-k8s), php (any version, e.g. php8.1,
// with any path to the script), or MediaWiki's maintenance/run.php
// eraseArchivedFile. Whatever comes before the launcher (a shell prompt,
// sudo -u www-data, env VAR=x) is ignored. Its --wiki NAME or --wiki=NAME
// argument, quoted or not, sets the wiki of the lines after it; a command
// line that names no wiki keeps the current one.
//
// Lines may end in CRLF, the file may start with a byte order mark, words
// may be separated by tabs, and terminal colour codes are ignored. Lines
// longer than 64 KiB (binary data) are skipped.
package eraselog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
)

// Entry is one file version named by an eraseArchivedFile.php log.
type Entry struct {
	Line       int    // 1-based line number in the log
	Wiki       string // from the last command line before it that names one; "" if none
	Title      string // DB key (fa_name)
	StorageKey string // as printed: <sha1 base 36>.<ext>
	SHA1       string // hex, from the storage key
	UploadDate time.Time
}

// MaxLine is the longest line a Reader looks at; longer ones (binary data,
// never a line of the script) are skipped.
const MaxLine = 64 << 10

var (
	deletedLine = regexp.MustCompile(`(?:^|\s)Deleted\s+version\s+'([^']*)'\s+\((\d{14})\)\s+of\s+file\s+'(.*)'$`)
	// ansiEscape matches the colour and cursor codes a recorded terminal
	// session holds.
	ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
)

// Reader reads the entries of an erase log one at a time, in memory that
// does not grow with the log.
type Reader struct {
	br   *bufio.Reader
	line int
	wiki string
	err  error // sticky: once set, Next returns it
}

// NewReader returns a Reader of the log r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Lines returns how many lines have been read so far.
func (r *Reader) Lines() int { return r.line }

// Next returns the next version the log says was deleted, and io.EOF after
// the last one. Lines that are neither a command line nor a "Deleted
// version 'KEY.ext' (YYYYMMDDhhmmss) of file 'Title'" line ("Purging all
// thumbnails...", "Would delete ...", "Failed to delete ...", blank lines)
// are skipped. A "Deleted version" line whose key, date or title is
// malformed, and a command line with an empty --wiki, are errors that give
// the line number; reading stops at the first error, and Next returns it
// again.
func (r *Reader) Next() (Entry, error) {
	for r.err == nil {
		raw, err := r.readLine()
		if err != nil {
			r.err = err
			break
		}
		if raw == nil {
			continue // too long: skipped
		}
		e, ok, err := r.parseLine(raw)
		if err != nil {
			r.err = err
			break
		}
		if ok {
			return e, nil
		}
	}
	return Entry{}, r.err
}

// readLine returns the next line without its end, or nil for a line longer
// than MaxLine (which it skips); io.EOF after the last one.
func (r *Reader) readLine() ([]byte, error) {
	long := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			long = true
			continue
		case err == io.EOF && len(chunk) == 0 && !long:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			return nil, fmt.Errorf("read erase log: %w", err)
		}
		r.line++
		if long {
			return nil, nil
		}
		return bytes.TrimRight(chunk, "\r\n"), nil
	}
}

// parseLine reads one line: it sets the wiki from a command line, and
// returns the entry of a "Deleted version" line.
func (r *Reader) parseLine(raw []byte) (Entry, bool, error) {
	line := string(raw)
	if strings.ContainsRune(line, '\x1b') {
		line = ansiEscape.ReplaceAllString(line, "")
	}
	line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "\ufeff"))
	if line == "" {
		return Entry{}, false, nil
	}
	if !strings.Contains(line, "eleted") && !strings.Contains(line, "raseArchivedFile") {
		return Entry{}, false, nil // most lines: without a regular expression
	}
	if m := deletedLine.FindStringSubmatch(line); m != nil {
		e, err := r.entry(m[1], m[2], m[3])
		return e, err == nil, err
	}
	if args, ok := commandArgs(line); ok {
		wiki, named, err := wikiOf(args)
		if err != nil {
			return Entry{}, false, fmt.Errorf("erase log line %d: %w: %q", r.line, err, line)
		}
		if named {
			r.wiki = wiki
		}
	}
	return Entry{}, false, nil
}

func (r *Reader) entry(key, date, title string) (Entry, error) {
	e := Entry{Line: r.line, Wiki: r.wiki, StorageKey: key, Title: strings.ReplaceAll(title, " ", "_")}
	b36, _, _ := strings.Cut(key, ".")
	sha1, err := mediawiki.SHA1Base36ToHex(b36)
	if err != nil {
		return Entry{}, fmt.Errorf("erase log line %d: storage key %q: %w", r.line, key, err)
	}
	e.SHA1 = sha1
	if e.UploadDate, err = time.Parse("20060102150405", date); err != nil {
		return Entry{}, fmt.Errorf("erase log line %d: date %q: %w", r.line, date, err)
	}
	if e.Title == "" {
		return Entry{}, fmt.Errorf("erase log line %d: empty file name", r.line)
	}
	return e, nil
}

// Parse reads a whole erase log (see Reader.Next) and returns the versions
// it says were deleted, in order. Reader reads large logs in bounded
// memory.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	rd := NewReader(r)
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// commandArgs reports whether line runs eraseArchivedFile.php through a
// launcher, and returns the script's arguments.
func commandArgs(line string) ([]string, bool) {
	if !strings.Contains(line, "eraseArchivedFile") && !strings.Contains(line, "EraseArchivedFile") {
		return nil, false // the common case, without splitting the line
	}
	words := splitWords(line)
	launched := false
	for i, w := range words {
		base := path.Base(w)
		switch {
		case isLauncher(base):
			launched = true
		case launched && (base == "eraseArchivedFile.php" || base == "eraseArchivedFile" || base == "EraseArchivedFile"):
			return words[i+1:], true
		}
	}
	return nil, false
}

// isLauncher reports whether a command's base name runs maintenance
// scripts: mwscript, mwscript-k8s, php, php8.1, run.php.
func isLauncher(base string) bool {
	switch {
	case base == "mwscript" || strings.HasPrefix(base, "mwscript-"):
		return true
	case base == "run.php":
		return true
	case strings.HasPrefix(base, "php"):
		return strings.Trim(base[3:], "0123456789.") == ""
	}
	return false
}

// wikiOf returns the value of the --wiki argument in args, and false when
// there is none. An empty value is an error.
func wikiOf(args []string) (string, bool, error) {
	for i, a := range args {
		var v string
		switch {
		case a == "--wiki":
			if i+1 >= len(args) {
				return "", false, errors.New("--wiki without a value")
			}
			v = args[i+1]
		case strings.HasPrefix(a, "--wiki="):
			v = strings.TrimPrefix(a, "--wiki=")
		default:
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || strings.ContainsAny(v, " \t") {
			return "", false, fmt.Errorf("--wiki %q is not a wiki name", v)
		}
		return v, true, nil
	}
	return "", false, nil
}

// splitWords splits a command line as a POSIX shell would for words:
// white space separates them, single quotes keep everything literally,
// double quotes keep white space, a backslash outside single quotes keeps
// the next character. Unclosed quotes run to the end of the line.
func splitWords(line string) []string {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
		esc   bool
	)
	for _, c := range line {
		switch {
		case esc:
			cur.WriteRune(c)
			esc = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\\':
			esc, in = true, true
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
