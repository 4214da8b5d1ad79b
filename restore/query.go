package restore

import (
	"fmt"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Method is one way to search for file versions.
type Method string

// The eight search methods, in the order the interactive tools offer them.
const (
	ByTitle       Method = "title"
	BySHA1        Method = "sha1"
	BySHA1Base36  Method = "sha1-base36"
	ByPath        Method = "path" // production container and path
	BySHA256      Method = "sha256"
	ByUploadDate  Method = "upload-date"
	ByArchiveDate Method = "archive-date"
	ByDeleteDate  Method = "delete-date"
)

// Methods lists every Method in menu order.
var Methods = []Method{ByTitle, BySHA1, BySHA1Base36, ByPath, BySHA256, ByUploadDate, ByArchiveDate, ByDeleteDate}

// Describe returns the menu label of m.
func (m Method) Describe() string {
	switch m {
	case ByTitle:
		return "title on upload (or after rename)"
	case BySHA1:
		return "sha1 in hexadecimal"
	case BySHA1Base36:
		return "sha1 in MediaWiki's base 36"
	case ByPath:
		return "original production container and full path"
	case BySHA256:
		return "sha256 in hexadecimal"
	case ByUploadDate:
		return "exact upload date"
	case ByArchiveDate:
		return "exact archive date"
	case ByDeleteDate:
		return "exact delete date"
	}
	return string(m)
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

// QueryFor checks value for method m and returns the metadata query that
// searches for it (WikiID left to the caller). container is used only by
// ByPath. The error explains what is wrong with the value.
func QueryFor(m Method, value, container string) (metadata.Query, error) {
	var q metadata.Query
	var err error
	switch m {
	case ByTitle:
		q.Title, err = NormalizeTitle(value)
	case BySHA1:
		q.SHA1, err = ParseSHA1Hex(value)
	case BySHA1Base36:
		q.SHA1, err = ParseSHA1Base36(value)
	case ByPath:
		if q.Container, err = ParseContainer(container); err == nil {
			q.Path, err = ParsePath(value)
		}
	case BySHA256:
		q.SHA256, err = ParseSHA256(value)
	case ByUploadDate:
		q.UploadDate, err = ParseDate(value)
	case ByArchiveDate:
		q.ArchiveDate, err = ParseDate(value)
	case ByDeleteDate:
		q.DeleteDate, err = ParseDate(value)
	default:
		err = fmt.Errorf("unknown search method %q", m)
	}
	return q, err
}
