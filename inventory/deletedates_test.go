package inventory

import (
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

func TestOldVersionDeleted(t *testing.T) {
	for _, tt := range []struct {
		title, comment, want string
	}{
		{"Old_version_deleted.png", "Deleted old revision 20250102090000!Old_version_deleted.png: populate: delete the oldest version only",
			"20250102090000!Old_version_deleted.png"},
		{"Wow!Amazing.png", "Alte Version 20250102090000!Wow!Amazing.png gelöscht", "20250102090000!Wow!Amazing.png"},
		{"A.png", "Deleted old revision 20250102090000!A.png", "20250102090000!A.png"},
		{"A.png", "populate: delete whole files", ""},
		{"A.png", "copyright violation, see 20250102090000!B.png", ""},
		{"A.png", "x 20250102090000!A.png.old", ""},                             // another name
		{"A.png", "x 120250102090000!A.png: y", ""},                             // 15 digits: not an archive name
		{"A.png", "x 2025010209000!A.png: y", ""},                               // 13 digits
		{"A.png", "!A.png and 20250102090000!A.png: y", "20250102090000!A.png"}, // the second occurrence
		{"Comma,_semicolon;_(parens).png", "Deleted old revision 20250102090000!Comma,_semicolon;_(parens).png: r",
			"20250102090000!Comma,_semicolon;_(parens).png"},
	} {
		ev := mediawiki.LogEvent{Type: "delete", Action: "delete", Title: tt.title, Comment: tt.comment}
		if got := OldVersionDeleted(ev); got != tt.want {
			t.Errorf("OldVersionDeleted(%q, %q) = %q, want %q", tt.title, tt.comment, got, tt.want)
		}
	}
}

func FuzzOldVersionDeleted(f *testing.F) {
	f.Add("A.png", "Deleted old revision 20250102090000!A.png: r")
	f.Add("Wow!Amazing.png", "20250102090000!Wow!Amazing.png")
	f.Add("", "!")
	f.Fuzz(func(t *testing.T, title, comment string) {
		got := OldVersionDeleted(mediawiki.LogEvent{Title: title, Comment: comment})
		if got == "" {
			return
		}
		ts, ok := archiveTimestamp(got)
		if !ok || got != ts+"!"+title || !strings.Contains(comment, got) || !allDigits(ts) {
			t.Fatalf("OldVersionDeleted(%q, %q) = %q: not an archive name of the title found in the comment", title, comment, got)
		}
	})
}

func at(day, hour int) time.Time { return time.Date(2025, 1, day, hour, 0, 0, 0, time.UTC) }

func TestDaterAndDateVersions(t *testing.T) {
	del := func(id int64, title string, ts time.Time, comment string) mediawiki.LogEvent {
		return mediawiki.LogEvent{ID: id, Type: "delete", Action: "delete", Title: title, Timestamp: ts, Comment: comment}
	}
	restore := func(title string, ts time.Time) mediawiki.LogEvent {
		return mediawiki.LogEvent{Type: "delete", Action: "restore", Title: title, Timestamp: ts}
	}
	row := func(id int64, title string, up time.Time, archive string) metadata.File {
		return metadata.File{ID: id, Title: title, UploadDate: up, ArchiveName: archive, Status: metadata.Deleted, FilearchiveID: id}
	}
	for _, tt := range []struct {
		name     string
		restores []mediawiki.LogEvent
		deletes  []mediawiki.LogEvent
		rows     []metadata.File
		want     map[int64]time.Time // file id -> date; absent: undated
	}{
		{
			name:    "a whole file: every version it had",
			deletes: []mediawiki.LogEvent{del(78, "A.png", at(5, 9), "populate: delete whole files")},
			rows:    []metadata.File{row(1, "A.png", at(1, 10), "20250102090000!A.png"), row(2, "A.png", at(2, 9), "")},
			want:    map[int64]time.Time{1: at(5, 9), 2: at(5, 9)},
		},
		{
			name:    "deleted, then a new file under the name, deleted again: each by its own deletion",
			deletes: []mediawiki.LogEvent{del(78, "A.png", at(5, 9), "r"), del(90, "A.png", at(7, 9), "r")},
			rows:    []metadata.File{row(1, "A.png", at(1, 10), ""), row(2, "A.png", at(6, 10), "")},
			want:    map[int64]time.Time{1: at(5, 9), 2: at(7, 9)},
		},
		{
			name: "one old version: only that one",
			deletes: []mediawiki.LogEvent{del(84, "A.png", at(5, 10), "Deleted old revision 20250102090000!A.png: r"),
				del(95, "A.png", at(8, 0), "r")},
			rows: []metadata.File{row(1, "A.png", at(1, 10), "20250102090000!A.png"), row(2, "A.png", at(2, 9), "20250103090000!A.png")},
			want: map[int64]time.Time{1: at(5, 10), 2: at(8, 0)},
		},
		{
			name:     "undeleted after the deletion: uncertain, also for later deletions",
			restores: []mediawiki.LogEvent{restore("A.png", at(5, 14))},
			deletes:  []mediawiki.LogEvent{del(87, "A.png", at(5, 13), "r"), del(99, "A.png", at(9, 0), "r")},
			rows:     []metadata.File{row(1, "A.png", at(1, 10), ""), row(2, "A.png", at(6, 0), "")},
			want:     map[int64]time.Time{2: at(9, 0)}, // uploaded after the uncertain deletion: certain
		},
		{
			name:     "an undeletion before the deletion changes nothing",
			restores: []mediawiki.LogEvent{restore("A.png", at(4, 0))},
			deletes:  []mediawiki.LogEvent{del(87, "A.png", at(5, 13), "r")},
			rows:     []metadata.File{row(1, "A.png", at(1, 10), "")},
			want:     map[int64]time.Time{1: at(5, 13)},
		},
		{
			name:     "another title's undeletion changes nothing",
			restores: []mediawiki.LogEvent{restore("B.png", at(6, 0))},
			deletes:  []mediawiki.LogEvent{del(87, "A.png", at(5, 13), "r")},
			rows:     []metadata.File{row(1, "A.png", at(1, 10), "")},
			want:     map[int64]time.Time{1: at(5, 13)},
		},
		{
			name:    "a deletion before the upload dates nothing",
			deletes: []mediawiki.LogEvent{del(70, "A.png", at(1, 0), "r")},
			rows:    []metadata.File{row(1, "A.png", at(1, 10), "")},
			want:    map[int64]time.Time{},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDater()
			for _, ev := range tt.restores {
				d.Restored(ev)
			}
			var ds []Deletion
			for _, ev := range tt.deletes {
				if x, ok := d.Deletion(ev); ok {
					ds = append(ds, x)
				}
			}
			undated := map[string][]metadata.File{}
			for _, r := range tt.rows {
				undated[r.Title] = append(undated[r.Title], r)
			}
			got := map[int64]time.Time{}
			for _, x := range DateVersions(ds, undated) {
				if _, dup := got[x.FileID]; dup {
					t.Errorf("file %d dated twice", x.FileID)
				}
				got[x.FileID] = x.Date
				if !strings.HasPrefix(x.Source, "log:") {
					t.Errorf("source %q", x.Source)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("dated %v, want %v", got, tt.want)
			}
			for id, w := range tt.want {
				if !got[id].Equal(w) {
					t.Errorf("file %d: %s, want %s", id, got[id], w)
				}
			}
		})
	}
}

func TestRevisionsNameHiddenVersions(t *testing.T) {
	r := Revisions{}
	hide := mediawiki.LogEvent{Type: "delete", Action: "revision", Title: "A.png", Timestamp: at(5, 11),
		RevisionType: "oldimage", RevisionIDs: []string{"20250102090000"}, NewBits: 1}
	show := hide
	show.NewBits, show.Timestamp = 0, at(6, 0)
	page := hide
	page.RevisionType = "revision"
	for _, ev := range []mediawiki.LogEvent{hide, show, page} {
		r.Add(ev)
	}
	if got := r.Candidates("A.png", at(3, 9)); strings.Join(got, " ") != "20250103090000!A.png 20250102090000!A.png" {
		t.Errorf("candidates = %q", got)
	}
	if got := r.Candidates("A.png", time.Time{}); strings.Join(got, " ") != "20250102090000!A.png" {
		t.Errorf("candidates without a next version = %q", got)
	}
	if got := r.HiddenAt("A.png", "20250102090000!A.png"); !got.Equal(at(5, 11)) {
		t.Errorf("HiddenAt = %s", got)
	}
	if got := r.HiddenAt("A.png", "20250103090000!A.png"); !got.IsZero() {
		t.Errorf("HiddenAt of a version the log does not name = %s", got)
	}
}
