package restore

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mediabackups/mediabackups/metadata"
)

// ProductionName returns the name production gives a version's file: its
// title for current and deleted versions, and "YYYYMMDDhhmmss!Title" (the
// archive name) for archived ones.
func ProductionName(f metadata.File) string {
	if f.Status == metadata.Archived {
		if f.ArchiveName != "" {
			return f.ArchiveName
		}
		if !f.ArchiveDate.IsZero() {
			return f.ArchiveDate.UTC().Format("20060102150405") + "!" + f.Title
		}
	}
	return f.Title
}

// maxNameBytes keeps a name, with room for "~" suffixes and a temporary
// prefix, under the 255-byte limit of common file systems.
const maxNameBytes = 200

// maxExtBytes is the longest extension (with its dot) that a cut keeps.
const maxExtBytes = 32

// SafeName turns a production name into one plain file name: '/' and '\'
// become '_', control characters and invalid UTF-8 become '_', a name that
// is empty, "." or ".." (or starts with '.', which would hide it) gets a
// leading '_', and a name longer than 200 bytes is shortened on a rune
// boundary in the middle, keeping its extension (the last '.' and what
// follows, up to 32 bytes), so that the restored file still opens as what
// it is. The result never names another directory; restores still open the
// target as an os.Root, so that even a bug here cannot escape it.
func SafeName(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			b.WriteByte('_')
		case r == '/' || r == '\\' || unicode.IsControl(r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" || s[0] == '.' {
		s = "_" + s
	}
	if len(s) <= maxNameBytes {
		return s
	}
	ext := ""
	if dot := strings.LastIndexByte(s, '.'); dot > 0 && len(s)-dot <= maxExtBytes {
		ext = s[dot:]
	}
	return cutRunes(s[:len(s)-len(ext)], maxNameBytes-len(ext)) + ext
}

// cutRunes returns the longest prefix of s of at most n bytes that ends on
// a rune boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
