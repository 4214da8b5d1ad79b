// Package search is what an operator can look file versions up by. One
// table, [Methods], drives every place a search method shows: the recovery
// tools' flags and --help, the interactive menu and its questions, the
// checking of typed values, the metadata query and the bench. Adding a
// method is one entry here plus its criterion in metadata.Query.
package search

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Method is one way to search for file versions.
type Method struct {
	// Name is the method's identifier and its flag (--Name).
	Name string
	// Placeholder stands for the value in help texts: T, HEX, D.
	Placeholder string
	// Help says what the value is, for --help and the flag's usage.
	Help string
	// Label is the method's entry in the interactive menu.
	Label string
	// Prompt asks for the value in interactive mode.
	Prompt string
	// WithContainer: the value is a path inside a production container,
	// which is given too (--container, or asked first).
	WithContainer bool
	// NoValue: the method takes no value (--all): its flag is a switch,
	// the menu asks nothing more, and Query is given "true".
	NoValue bool
	// Broad: the method may select a great many versions (a date range, a
	// whole wiki). The interactive tools then offer to narrow it with
	// another method.
	Broad bool

	// parse checks value (and container) and sets q's criterion; its
	// error explains what is wrong with the value.
	parse func(value, container string, q *metadata.Query) error
	// valueOf returns the value (and container) that finds f, and false
	// when f has none (a version never archived has no archive date).
	valueOf func(f metadata.File) (value, container string, ok bool)
}

// Methods lists every search method, in the order the interactive tools
// offer them.
var Methods = []Method{
	{
		Name: "title", Placeholder: "T", Label: "title on upload (or after rename)", Prompt: "Title",
		Help: "title on upload or after a rename (File: and spaces are fine; no automatic capitalisation)",
		parse: func(v, _ string, q *metadata.Query) (err error) {
			q.Title, err = NormalizeTitle(v)
			return err
		},
		valueOf: func(f metadata.File) (string, string, bool) { return f.Title, "", f.Title != "" },
	},
	{
		Name: "sha1", Placeholder: "HEX", Label: "sha1 in hexadecimal", Prompt: "sha1 (hex)",
		Help: "sha1 in hexadecimal (short values are zero-padded on the left)",
		parse: func(v, _ string, q *metadata.Query) (err error) {
			q.SHA1, err = ParseSHA1Hex(v)
			return err
		},
		valueOf: func(f metadata.File) (string, string, bool) { return f.SHA1, "", f.SHA1 != "" },
	},
	{
		Name: "sha1-base36", Placeholder: "B36", Label: "sha1 in MediaWiki's base 36", Prompt: "sha1 (base 36)",
		Help: "sha1 in MediaWiki's base 36 (the storage key without extension)",
		parse: func(v, _ string, q *metadata.Query) (err error) {
			q.SHA1, err = ParseSHA1Base36(v)
			return err
		},
		valueOf: func(f metadata.File) (string, string, bool) {
			b36, err := mediawiki.SHA1HexToBase36(f.SHA1)
			return b36, "", err == nil
		},
	},
	{
		Name: "path", Placeholder: "P", WithContainer: true,
		Label: "original production container and full path", Prompt: "Full path in the container",
		Help: "full path in the original production container (with --container C)",
		parse: func(v, c string, q *metadata.Query) (err error) {
			if q.Container, err = ParseContainer(c); err != nil {
				return err
			}
			q.Path, err = ParsePath(v)
			return err
		},
		valueOf: func(f metadata.File) (string, string, bool) {
			return f.Path, f.Container, f.Path != "" && f.Container != ""
		},
	},
	{
		Name: "sha256", Placeholder: "HEX", Label: "sha256 in hexadecimal", Prompt: "sha256 (hex)",
		Help: "sha256 in hexadecimal",
		parse: func(v, _ string, q *metadata.Query) (err error) {
			q.SHA256, err = ParseSHA256(v)
			return err
		},
		valueOf: func(f metadata.File) (string, string, bool) { return f.SHA256, "", f.SHA256 != "" },
	},
	dateMethod("upload-date", "upload", func(q *metadata.Query) *time.Time { return &q.UploadDate }, func(f metadata.File) time.Time { return f.UploadDate }),
	dateMethod("archive-date", "archive", func(q *metadata.Query) *time.Time { return &q.ArchiveDate }, func(f metadata.File) time.Time { return f.ArchiveDate }),
	dateMethod("delete-date", "delete", func(q *metadata.Query) *time.Time { return &q.DeleteDate }, func(f metadata.File) time.Time { return f.DeleteDate }),
	rangeMethod("upload-between", "upload", func(q *metadata.Query) *metadata.TimeRange { return &q.UploadRange }, func(f metadata.File) time.Time { return f.UploadDate }),
	rangeMethod("archive-between", "archive", func(q *metadata.Query) *metadata.TimeRange { return &q.ArchiveRange }, func(f metadata.File) time.Time { return f.ArchiveDate }),
	rangeMethod("delete-between", "delete", func(q *metadata.Query) *metadata.TimeRange { return &q.DeleteRange }, func(f metadata.File) time.Time { return f.DeleteDate }),
	{
		Name: "all", NoValue: true, Broad: true,
		Label: "every version of the wiki", Prompt: "Every version of the wiki",
		Help: "every version of the wiki (needs --wiki; other search flags narrow it)",
		parse: func(v, _ string, q *metadata.Query) error {
			if v != "true" {
				return fmt.Errorf("%q: --all takes no value", v)
			}
			q.All = true
			return nil
		},
		// Every version has this value: it is not a lookup of one.
		valueOf: func(metadata.File) (string, string, bool) { return "true", "", true },
	},
}

// RangeHelp explains the value of the range methods, for --help.
const RangeHelp = `A range FROM..TO takes the versions from FROM (included) up to TO
(excluded), in UTC; leave an end out for no bound: 2025-01-01..2025-02-01 is
January 2025, 2025-03-01.. is from March on, ..2025-01-01 is before 2025.
FROM and TO are dates (YYYY-MM-DD, at 00:00:00) or times as above.`

// dateMethod is the method that searches for an exact date of one kind.
func dateMethod(name, kind string, field func(*metadata.Query) *time.Time, of func(metadata.File) time.Time) Method {
	return Method{
		Name: name, Placeholder: "D", Label: "exact " + kind + " date",
		Prompt: strings.ToUpper(kind[:1]) + kind[1:] + " date (YYYY-MM-DD hh:mm:ss)",
		Help:   "exact " + kind + " date",
		parse: func(v, _ string, q *metadata.Query) (err error) {
			*field(q), err = ParseDate(v)
			return err
		},
		valueOf: func(f metadata.File) (string, string, bool) {
			t := of(f)
			return t.UTC().Format(DateLayouts[0]), "", !t.IsZero()
		},
	}
}

// rangeMethod is the method that searches for dates of one kind in a
// range, FROM..TO (see ParseRange).
func rangeMethod(name, kind string, field func(*metadata.Query) *metadata.TimeRange, of func(metadata.File) time.Time) Method {
	return Method{
		Name: name, Placeholder: "FROM..TO", Broad: true, Label: kind + " date in a range",
		Prompt: strings.ToUpper(kind[:1]) + kind[1:] + " dates FROM..TO (UTC; FROM included, TO excluded; an end may be left out)",
		Help:   kind + " date from FROM (included) up to TO (excluded)",
		parse: func(v, _ string, q *metadata.Query) (err error) {
			*field(q), err = ParseRange(v)
			return err
		},
		// The second of f's date: from it up to the next second.
		valueOf: func(f metadata.File) (string, string, bool) {
			t := of(f).UTC().Truncate(time.Second)
			return metadata.TimeRange{From: t, To: t.Add(time.Second)}.String(), "", !t.IsZero()
		},
	}
}

// Lookup returns the method called name, and false if there is none.
func Lookup(name string) (Method, bool) {
	for _, m := range Methods {
		if m.Name == name {
			return m, true
		}
	}
	return Method{}, false
}

// Query checks value (and, for a method WithContainer, container) and
// returns the metadata query that searches for it, WikiID left to the
// caller. The error explains what is wrong with the value.
func (m Method) Query(value, container string) (metadata.Query, error) {
	var q metadata.Query
	if m.parse == nil {
		return q, fmt.Errorf("unknown search method %q", m.Name)
	}
	err := m.parse(value, container, &q)
	return q, err
}

// Add checks value (and container) and adds m's criterion to q, ANDed with
// those q has. It is an error if q already has that criterion (as
// sha1-base36 after sha1 would); q is unchanged on any error.
func (m Method) Add(q *metadata.Query, value, container string) error {
	one, err := m.Query(value, container)
	if err != nil {
		return err
	}
	have := q.Criteria()
	for _, c := range one.Criteria() {
		if slices.Contains(have, c) {
			return fmt.Errorf("the search already has a %s: give it once", c)
		}
	}
	return m.parse(value, container, q)
}

// ValueOf returns the value (and container) that makes m find f, and false
// when f has nothing to find it by with m. Query(ValueOf(f)) matches f.
func (m Method) ValueOf(f metadata.File) (value, container string, ok bool) {
	if m.valueOf == nil {
		return "", "", false
	}
	return m.valueOf(f)
}

// DateLayouts are the accepted spellings of a date, always in UTC.
var DateLayouts = []string{"2006-01-02 15:04:05", "20060102150405", "2006-01-02T15:04:05Z"}

// ParseDate reads a date as "YYYY-MM-DD hh:mm:ss" or "YYYYMMDDhhmmss" (or
// ISO 8601 with a Z), in UTC. The error says which forms are accepted.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range DateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date: write it as YYYY-MM-DD hh:mm:ss or YYYYMMDDhhmmss (UTC), e.g. 2025-01-02 09:00:00", s)
}

// ParseRange reads a range of dates "FROM..TO": from FROM (included) up to
// TO (excluded), in UTC. Either end may be left out (open), not both; each
// is a date as ParseDate reads it, or a day YYYY-MM-DD (its 00:00:00). TO
// must come after FROM. The error says what is wrong and how to write it.
func ParseRange(s string) (metadata.TimeRange, error) {
	var r metadata.TimeRange
	from, to, ok := strings.Cut(strings.TrimSpace(s), "..")
	if !ok {
		return r, fmt.Errorf("%q is not a range: write FROM..TO, e.g. 2025-01-01..2025-02-01 (UTC; FROM included, TO excluded; an end may be left out)", s)
	}
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if from == "" && to == "" {
		return r, fmt.Errorf("%q has neither end: give FROM, TO or both (for every version of the wiki, search with --all)", s)
	}
	var err error
	if from != "" {
		if r.From, err = parseRangeEnd(from); err != nil {
			return metadata.TimeRange{}, fmt.Errorf("range %q, FROM: %w", s, err)
		}
	}
	if to != "" {
		if r.To, err = parseRangeEnd(to); err != nil {
			return metadata.TimeRange{}, fmt.Errorf("range %q, TO: %w", s, err)
		}
	}
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return metadata.TimeRange{}, fmt.Errorf("range %q is empty: TO is excluded and must come after FROM", s)
	}
	return r, nil
}

// parseRangeEnd reads one end of a range: a day or a date.
func parseRangeEnd(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		if t, err = ParseDate(s); err != nil {
			return t, fmt.Errorf("%q is not a day or a date: write YYYY-MM-DD, YYYY-MM-DD hh:mm:ss or YYYYMMDDhhmmss (UTC)", s)
		}
	}
	// The metadata keeps dates as DATETIME: years 1000 to 9999.
	if t.Year() < 1000 {
		return time.Time{}, fmt.Errorf("%q is before the year 1000: no version is that old", s)
	}
	return t.UTC(), nil
}

// NormalizeTitle turns what an operator typed into a DB key: surrounding
// white space is dropped, spaces become underscores and one leading "File:"
// (any case) is removed. The first letter is NOT capitalised: titles are
// matched byte for byte. It returns an error for an empty title.
func NormalizeTitle(s string) (string, error) {
	t := mediawiki.DBKey(strings.TrimSpace(s))
	if t == "" {
		return "", fmt.Errorf("the title is empty: type the file name, e.g. Example.jpg (a leading File: is optional)")
	}
	return t, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseSHA1Hex checks a sha1 in hexadecimal and returns it as 40 lower-case
// digits: a shorter value is zero-padded on the left, as MediaWiki pads.
func ParseSHA1Hex(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("the sha1 is empty: type 40 hexadecimal digits")
	case !isHex(s):
		return "", fmt.Errorf("%q is not hexadecimal: a sha1 in hex uses only 0-9 and a-f (for base 36 choose that method)", s)
	case len(s) > 40:
		return "", fmt.Errorf("%q has %d digits: a sha1 in hex has at most 40", s, len(s))
	}
	return strings.Repeat("0", 40-len(s)) + strings.ToLower(s), nil
}

// ParseSHA1Base36 checks a sha1 in MediaWiki's base 36 (at most 31
// characters 0-9a-z) and returns it as 40 lower-case hex digits.
func ParseSHA1Base36(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("the sha1 is empty: type up to 31 characters 0-9 and a-z")
	}
	h, err := mediawiki.SHA1Base36ToHex(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a sha1 in base 36 (up to 31 characters 0-9 and a-z): %w", s, err)
	}
	return h, nil
}

// ParseSHA256 checks a sha256 in hexadecimal: exactly 64 digits.
func ParseSHA256(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !isHex(s) || len(s) != 64 {
		return "", fmt.Errorf("%q is not a sha256: want exactly 64 hexadecimal digits (0-9, a-f), got %d characters", s, len(s))
	}
	return strings.ToLower(s), nil
}

// ParseContainer checks a production container name: not empty, no white
// space or slash.
func ParseContainer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t/") {
		return "", fmt.Errorf("%q is not a container name: type it whole, e.g. wikipedia-commons-local-public.2e", s)
	}
	return s, nil
}

// ParsePath checks a production path: not empty, without a leading slash.
func ParsePath(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("the path is empty: type the full path in the container, e.g. 2/2e/Simple.png")
	}
	return strings.TrimPrefix(s, "/"), nil
}
