package inventory

import (
	"fmt"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Dating deleted versions
//
// list=filearchive does not give the time a version was deleted; the
// deletion log (delete/delete events) does, but not per version. A
// deletion of a whole file deleted every version it had then; a deletion
// of one old version names its archive name in the comment ("Deleted old
// revision 20250102090000!A.png: reason", in the wiki's language: only the
// archive name is looked for). So a deleted version was deleted by the
// first deletion of its title at or after its upload that can have
// deleted it, unless it was undeleted since and deleted again. An
// undeletion (delete/restore) may have brought back only some versions,
// and the log does not say which: a deletion of a title that was undeleted
// afterwards dates nothing, and the versions it may have deleted stay
// undated for good (`update`, which sees the deletions as they happen,
// dates them). Everything else is certain.

// Deletion is a delete/delete event as a rule to date versions by.
type Deletion struct {
	LogID int64
	Title string
	At    time.Time
	// ArchiveName is set when only this old version was deleted.
	ArchiveName string
	// After, when not zero, says that versions uploaded at or before it
	// may have been deleted by an earlier deletion and undeleted since:
	// their date is uncertain, and this deletion does not date them.
	After time.Time
}

// Dates reports whether the deletion dated version f: f is of its title,
// uploaded at or before it (and after After), and is its archive name
// when it deleted one old version only.
func (d Deletion) Dates(f metadata.File) bool {
	if f.Title != d.Title || f.UploadDate.After(d.At) {
		return false
	}
	if !d.After.IsZero() && !f.UploadDate.After(d.After) {
		return false
	}
	return d.ArchiveName == "" || f.ArchiveName == d.ArchiveName
}

// Dater turns a wiki's deletion log into Deletions. Feed it the
// undeletions first (Restored), then the deletions in log order.
type Dater struct {
	restores  map[string][]time.Time // by title
	uncertain map[string]time.Time   // latest deletion of the title followed by an undeletion
}

// NewDater returns a Dater that knows no undeletion yet.
func NewDater() *Dater {
	return &Dater{restores: map[string][]time.Time{}, uncertain: map[string]time.Time{}}
}

// Restored records a delete/restore event.
func (d *Dater) Restored(ev mediawiki.LogEvent) {
	if ev.Type == "delete" && ev.Action == "restore" {
		d.restores[ev.Title] = append(d.restores[ev.Title], ev.Timestamp.UTC())
	}
}

// Deletion returns the rule by which the delete/delete event ev dates
// versions, and false when it dates none for sure (the title was
// undeleted at or after it). Events must come in log order.
func (d *Dater) Deletion(ev mediawiki.LogEvent) (Deletion, bool) {
	if ev.Type != "delete" || ev.Action != "delete" {
		return Deletion{}, false
	}
	at := ev.Timestamp.UTC()
	for _, r := range d.restores[ev.Title] {
		if !r.Before(at) {
			if at.After(d.uncertain[ev.Title]) {
				d.uncertain[ev.Title] = at
			}
			return Deletion{}, false
		}
	}
	return Deletion{LogID: ev.ID, Title: ev.Title, At: at, ArchiveName: OldVersionDeleted(ev), After: d.uncertain[ev.Title]}, true
}

// OldVersionDeleted returns the archive name that the comment of a
// deletion of one old version names ("<14 digits>!<title>"), or "" for
// the deletion of a whole file.
func OldVersionDeleted(ev mediawiki.LogEvent) string {
	c, suffix := ev.Comment, "!"+ev.Title
	for off := 0; ; {
		i := strings.Index(c[off:], suffix)
		if i < 0 {
			return ""
		}
		i += off
		if i >= 14 && allDigits(c[i-14:i]) && (i == 14 || !isDigit(c[i-15])) {
			end := i + len(suffix)
			if end == len(c) || !isTitleByte(c[end]) {
				return c[i-14 : end]
			}
		}
		off = i + 1
	}
}

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// isTitleByte reports whether b can continue a DB key after the part
// matched: the comment names the archive name, then ":" or a space.
func isTitleByte(b byte) bool { return b != ':' && b != ' ' && b != ',' && b != ';' && b != ')' }

// DateVersions returns the delete date each undated version gets from the
// deletions (in log order): that of the first deletion that dates it.
// undated holds the versions by title.
func DateVersions(ds []Deletion, undated map[string][]metadata.File) []metadata.DeleteDate {
	var out []metadata.DeleteDate
	done := map[int64]bool{}
	for _, d := range ds {
		for _, f := range undated[d.Title] {
			if done[f.ID] || !d.Dates(f) {
				continue
			}
			done[f.ID] = true
			out = append(out, metadata.DeleteDate{FileID: f.ID, Date: d.At, Source: fmt.Sprintf("log:%d", d.LogID)})
		}
	}
	return out
}
