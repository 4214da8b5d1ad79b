package update

import (
	"slices"
	"time"

	"github.com/mediabackups/mediabackups/inventory"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Truth is what the API said, when a stretch of the log was read, about
// the titles of its events.
type Truth struct {
	// Visible holds the current and archived versions of each title
	// (newest first, hidden ones with Hidden set), by DB key. A title
	// that is missing, deleted or now a redirect has none.
	Visible map[string][]mediawiki.FileVersion
	// Deleted holds the list=filearchive rows of each title.
	Deleted map[string][]mediawiki.DeletedVersion

	titles []string // every title asked about, in the order of the events
}

// Hidden is a revision-deleted version the metadata does not know, whose
// sha1 must be learned by downloading it (inventory.LearnHidden).
type Hidden = inventory.Hidden

// Plan is what applying one event changes in the metadata.
type Plan struct {
	Renames  []metadata.Rename // rows a move carried to the new title
	Versions []metadata.File   // every version of the titles, as it must be recorded
	Hidden   []Hidden          // unknown hidden versions to download first
}

// Titles returns the DB keys an event is about: its title and, for a move,
// the target.
func Titles(ev mediawiki.LogEvent) []string {
	ts := []string{ev.Title}
	if ev.Type == "move" && ev.TargetTitle != "" && ev.TargetTitle != ev.Title {
		ts = append(ts, ev.TargetTitle)
	}
	return ts
}

// deletes reports whether an event can make versions deleted: a deletion
// of the file or of one version, or a revision deletion (also by
// suppression).
func deletes(ev mediawiki.LogEvent) bool {
	if ev.Type != "delete" && ev.Type != "suppress" {
		return false
	}
	return ev.Action == "delete" || ev.Action == "revision"
}

func key(f metadata.File) string {
	return f.Title + "\x00" + f.UploadDate.UTC().Format(time.RFC3339) + "\x00" + f.SHA1
}

// isHiddenRow reports whether a recorded row is a revision-deleted old
// version (deleted, but still an oldimage row: no fa_id, an archive name).
func isHiddenRow(f metadata.File) bool {
	return f.Status == metadata.Deleted && f.FilearchiveID == 0 && f.ArchiveName != ""
}

// MakePlan reconciles the recorded versions of an event's titles (known)
// with what the API says now (truth), as the package documentation
// describes. It is pure: the same inputs give the same plan, and a plan
// applied to the rows it was made from, when made again, changes nothing.
func MakePlan(ev mediawiki.LogEvent, known []metadata.File, truth Truth, c mediawiki.Containers) Plan {
	var p Plan
	titles := Titles(ev)
	known = slices.Clone(known)
	byKey := map[string]metadata.File{}
	for _, f := range known {
		byKey[key(f)] = f
	}

	desired := map[string][]metadata.File{} // by title
	wanted := map[string]bool{}             // keys of desired rows
	for _, t := range titles {
		for _, v := range truth.Visible[t] {
			if v.Hidden || v.SHA1 == "" {
				continue
			}
			f := inventory.FromVersion(v, c)
			desired[t] = append(desired[t], f)
			wanted[key(f)] = true
		}
		for _, d := range truth.Deleted[t] {
			if d.SHA1 == "" {
				continue
			}
			f := inventory.FromDeleted(d, c)
			desired[t] = append(desired[t], f)
			wanted[key(f)] = true
		}
	}

	// A move carries the rows of the old title that the old title no
	// longer has (current, archived and hidden old versions: filearchive
	// rows stay under the name they were deleted with).
	if len(titles) == 2 {
		oldT, newT := titles[0], titles[1]
		hiddenOld := map[time.Time]bool{}
		for _, v := range truth.Visible[oldT] {
			if v.Hidden {
				hiddenOld[v.Timestamp.UTC()] = true
			}
		}
		for i, f := range known {
			if f.Title != oldT || wanted[key(f)] || hiddenOld[f.UploadDate.UTC()] {
				continue
			}
			if f.Status != metadata.Public && f.Status != metadata.Archived && !isHiddenRow(f) {
				continue
			}
			p.Renames = append(p.Renames, metadata.Rename{FileID: f.ID, NewTitle: newT})
			known[i].Title = newT
			delete(byKey, key(f))
			byKey[key(known[i])] = known[i]
		}
	}

	for _, t := range titles {
		// Hidden versions: known ones move to the deleted zone; unknown
		// ones are to be downloaded.
		vs := truth.Visible[t]
		for i, v := range vs {
			if !v.Hidden {
				continue
			}
			var match *metadata.File
			for j := range known {
				f := known[j]
				if f.Title == t && f.UploadDate.Equal(v.Timestamp) && !wanted[key(f)] && f.Status != metadata.HardDeleted && f.SHA1 != "" &&
					(v.Size == 0 || f.Size == 0 || f.Size == v.Size) {
					match = &known[j]
					break
				}
			}
			if match == nil {
				p.Hidden = append(p.Hidden, Hidden{Title: t, UploadDate: v.Timestamp.UTC(), Size: v.Size, MIME: v.MIME,
					Candidates: archiveCandidates(ev, t, vs, i), DeleteDate: hiddenDeleteDate(ev, t)})
				continue
			}
			f := inventory.HiddenRow(t, match.ArchiveName, match.SHA1, *match, c)
			desired[t] = append(desired[t], f)
			wanted[key(f)] = true
		}
		// The delete date of versions this event deleted: not of those
		// uploaded after it (deleted later, when the log is read long
		// after the event).
		for i, f := range desired[t] {
			if f.Status != metadata.Deleted || !deletes(ev) || f.UploadDate.After(ev.Timestamp) {
				continue
			}
			old, ok := byKey[key(f)]
			if !ok || old.Status != metadata.Deleted || old.DeleteDate.IsZero() {
				desired[t][i].DeleteDate = ev.Timestamp.UTC()
			}
		}
		p.Versions = append(p.Versions, desired[t]...)
	}
	return p
}

func hiddenDeleteDate(ev mediawiki.LogEvent, title string) time.Time {
	if deletes(ev) && ev.Title == title {
		return ev.Timestamp.UTC()
	}
	return time.Time{}
}

// archiveCandidates guesses the archive name of the hidden version vs[i]:
// the ids of a delete/revision event about its title, and the upload time
// of the next newer version (an old version is archived when the next one
// is uploaded).
func archiveCandidates(ev mediawiki.LogEvent, title string, vs []mediawiki.FileVersion, i int) []string {
	var out []string
	add := func(ts string) {
		name := ts + "!" + title
		if len(ts) == 14 && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if i > 0 {
		add(vs[i-1].Timestamp.UTC().Format("20060102150405"))
	}
	if (ev.Type == "delete" || ev.Type == "suppress") && ev.RevisionType == "oldimage" && ev.Title == title {
		for _, id := range ev.RevisionIDs {
			add(id)
		}
	}
	return out
}
