package update_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/update"
)

var commons = mediawiki.Containers{Project: "wikipedia", Lang: "commons", PublicShards: true, DeletedShards: true}

func day(d int) time.Time { return time.Date(2025, 1, d, 9, 0, 0, 0, time.UTC) }
func sha(n int) string    { return fmt.Sprintf("%040x", n) }

func ev(id int64, typ, action, title string, ts time.Time) mediawiki.LogEvent {
	return mediawiki.LogEvent{ID: id, Type: typ, Action: action, Title: title, Timestamp: ts}
}

func current(title string, up time.Time, n int) mediawiki.FileVersion {
	return mediawiki.FileVersion{Title: title, Timestamp: up, SHA1: sha(n), Size: 10, URL: "http://w/" + title}
}

func archived(title string, up, arch time.Time, n int) mediawiki.FileVersion {
	v := current(title, up, n)
	v.ArchiveName = arch.Format("20060102150405") + "!" + title
	v.ArchiveTime = arch
	v.URL = "http://w/archive/" + v.ArchiveName
	return v
}

func deleted(id int64, title string, up time.Time, n int) mediawiki.DeletedVersion {
	sk, _ := mediawiki.StorageKey(sha(n), title)
	return mediawiki.DeletedVersion{ID: id, Title: title, Timestamp: up, SHA1: sha(n), Size: 10, StorageKey: sk}
}

func row(id int64, title string, up time.Time, n int, st metadata.ProductionStatus) metadata.File {
	return metadata.File{ID: id, Title: title, UploadDate: up, SHA1: sha(n), Size: 10, Status: st}
}

// brief is the part of a planned version a table states.
type brief struct {
	Title, Status, SHA1, Container, Path, ArchiveName, StorageKey string
	Archived, DeleteDate                                          time.Time
}

func briefs(fs []metadata.File) []brief {
	var out []brief
	for _, f := range fs {
		out = append(out, brief{f.Title, string(f.Status), f.SHA1, f.Container, f.Path, f.ArchiveName, f.StorageKey, f.ArchiveDate, f.DeleteDate})
	}
	return out
}

func TestMakePlan(t *testing.T) {
	pubC, pubP := commons.Public("A.png")
	_, arP := commons.Archived("A.png", "20250102090000!A.png")
	sk1, _ := mediawiki.StorageKey(sha(1), "A.png")
	sk2, _ := mediawiki.StorageKey(sha(2), "A.png")
	delC1, delP1 := commons.Deleted(sk1)
	delC2, delP2 := commons.Deleted(sk2)
	sk3, _ := mediawiki.StorageKey(sha(3), "A.png")
	delC3, delP3 := commons.Deleted(sk3)
	newC, newP := commons.Public("B.png")
	_, newArP := commons.Archived("B.png", "20250102090000!B.png")
	move := ev(86, "move", "move", "A.png", day(5))
	move.TargetTitle = "B.png"
	revdel := ev(85, "delete", "revision", "A.png", day(5))
	revdel.RevisionType, revdel.RevisionIDs = "oldimage", []string{"20250102090000"}
	hidden := mediawiki.FileVersion{Title: "A.png", Timestamp: day(1), Size: 10, Hidden: true}
	restoredRow := row(2, "A.png", day(2), 2, metadata.Deleted)
	restoredRow.DeleteDate = day(4)

	tests := []struct {
		name        string
		ev          mediawiki.LogEvent
		known       []metadata.File
		truth       update.Truth
		want        []brief
		wantRenames []metadata.Rename
		wantHidden  []update.Hidden
	}{
		{
			name:  "first upload",
			ev:    ev(1, "upload", "upload", "A.png", day(1)),
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"A.png": {current("A.png", day(1), 1)}}},
			want:  []brief{{Title: "A.png", Status: "public", SHA1: sha(1), Container: pubC, Path: pubP}},
		},
		{
			name:  "overwrite archives the previous version",
			ev:    ev(2, "upload", "overwrite", "A.png", day(2)),
			known: []metadata.File{row(1, "A.png", day(1), 1, metadata.Public)},
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"A.png": {current("A.png", day(2), 2), archived("A.png", day(1), day(2), 1)}}},
			want: []brief{
				{Title: "A.png", Status: "public", SHA1: sha(2), Container: pubC, Path: pubP},
				{Title: "A.png", Status: "archived", SHA1: sha(1), Container: pubC, Path: arP, ArchiveName: "20250102090000!A.png", Archived: day(2)},
			},
		},
		{
			name:  "delete: every version deleted at the event's time",
			ev:    ev(3, "delete", "delete", "A.png", day(5)),
			known: []metadata.File{row(1, "A.png", day(1), 1, metadata.Archived), row(2, "A.png", day(2), 2, metadata.Public)},
			truth: update.Truth{Deleted: map[string][]mediawiki.DeletedVersion{"A.png": {deleted(7, "A.png", day(2), 2)}}},
			want:  []brief{{Title: "A.png", Status: "deleted", SHA1: sha(2), Container: delC2, Path: delP2, StorageKey: sk2, DeleteDate: day(5)}},
		},
		{
			name: "read long after: a delete does not date versions uploaded after it",
			ev:   ev(3, "delete", "delete", "A.png", day(5)),
			truth: update.Truth{Deleted: map[string][]mediawiki.DeletedVersion{"A.png": {deleted(7, "A.png", day(2), 2),
				deleted(8, "A.png", day(6), 3)}}},
			want: []brief{{Title: "A.png", Status: "deleted", SHA1: sha(2), Container: delC2, Path: delP2, StorageKey: sk2, DeleteDate: day(5)},
				{Title: "A.png", Status: "deleted", SHA1: sha(3), Container: delC3, Path: delP3, StorageKey: sk3}},
		},
		{
			name:  "a later delete keeps an earlier delete date",
			ev:    ev(4, "delete", "delete", "A.png", day(6)),
			known: []metadata.File{restoredRow},
			truth: update.Truth{Deleted: map[string][]mediawiki.DeletedVersion{"A.png": {deleted(7, "A.png", day(2), 2)}}},
			want:  []brief{{Title: "A.png", Status: "deleted", SHA1: sha(2), Container: delC2, Path: delP2, StorageKey: sk2}},
		},
		{
			name:  "an upload event sets no delete date",
			ev:    ev(5, "upload", "upload", "A.png", day(6)),
			truth: update.Truth{Deleted: map[string][]mediawiki.DeletedVersion{"A.png": {deleted(7, "A.png", day(2), 2)}}},
			want:  []brief{{Title: "A.png", Status: "deleted", SHA1: sha(2), Container: delC2, Path: delP2, StorageKey: sk2}},
		},
		{
			name:  "undelete",
			ev:    ev(6, "delete", "restore", "A.png", day(6)),
			known: []metadata.File{restoredRow},
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"A.png": {current("A.png", day(2), 2)}}},
			want:  []brief{{Title: "A.png", Status: "public", SHA1: sha(2), Container: pubC, Path: pubP}},
		},
		{
			name:  "move carries current and archived versions",
			ev:    move,
			known: []metadata.File{row(1, "A.png", day(1), 1, metadata.Archived), row(2, "A.png", day(2), 2, metadata.Public)},
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"B.png": {current("B.png", day(2), 2), archived("B.png", day(1), day(2), 1)}}},
			want: []brief{
				{Title: "B.png", Status: "public", SHA1: sha(2), Container: newC, Path: newP},
				{Title: "B.png", Status: "archived", SHA1: sha(1), Container: newC, Path: newArP, ArchiveName: "20250102090000!B.png", Archived: day(2)},
			},
			wantRenames: []metadata.Rename{{FileID: 1, NewTitle: "B.png"}, {FileID: 2, NewTitle: "B.png"}},
		},
		{
			name: "move leaves a later upload under the old name and deleted versions",
			ev:   move,
			known: []metadata.File{row(2, "A.png", day(2), 2, metadata.Public), row(3, "A.png", day(7), 3, metadata.Public),
				row(4, "A.png", day(1), 1, metadata.Deleted)},
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"A.png": {current("A.png", day(7), 3)}, "B.png": {current("B.png", day(2), 2)}}},
			want: []brief{
				{Title: "A.png", Status: "public", SHA1: sha(3), Container: pubC, Path: pubP},
				{Title: "B.png", Status: "public", SHA1: sha(2), Container: newC, Path: newP},
			},
			wantRenames: []metadata.Rename{{FileID: 2, NewTitle: "B.png"}},
		},
		{
			name:  "revision deletion of a known version",
			ev:    revdel,
			known: []metadata.File{row(1, "A.png", day(1), 1, metadata.Archived), row(2, "A.png", day(2), 2, metadata.Public)},
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"A.png": {current("A.png", day(2), 2), hidden}}},
			want: []brief{
				{Title: "A.png", Status: "public", SHA1: sha(2), Container: pubC, Path: pubP},
				{Title: "A.png", Status: "deleted", SHA1: sha(1), Container: delC1, Path: delP1, StorageKey: sk1, DeleteDate: day(5)},
			},
		},
		{
			name:  "revision deletion of an unknown version: download it",
			ev:    revdel,
			truth: update.Truth{Visible: map[string][]mediawiki.FileVersion{"A.png": {current("A.png", day(3), 2), hidden}}},
			want:  []brief{{Title: "A.png", Status: "public", SHA1: sha(2), Container: pubC, Path: pubP}},
			wantHidden: []update.Hidden{{Title: "A.png", UploadDate: day(1), Size: 10, DeleteDate: day(5),
				Candidates: []string{"20250103090000!A.png", "20250102090000!A.png"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := update.MakePlan(tt.ev, tt.known, tt.truth, commons)
			if got := briefs(p.Versions); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("versions:\n got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(p.Renames, tt.wantRenames) {
				t.Errorf("renames = %+v, want %+v", p.Renames, tt.wantRenames)
			}
			if !reflect.DeepEqual(p.Hidden, tt.wantHidden) {
				t.Errorf("hidden = %+v, want %+v", p.Hidden, tt.wantHidden)
			}
		})
	}
}

// A plan made again from the rows it describes changes nothing: the same
// versions come out, and no rename.
func TestMakePlanIsIdempotent(t *testing.T) {
	move := ev(86, "move", "move", "A.png", day(5))
	move.TargetTitle = "B.png"
	truth := update.Truth{Visible: map[string][]mediawiki.FileVersion{"B.png": {current("B.png", day(2), 2)}}}
	first := update.MakePlan(move, []metadata.File{row(2, "A.png", day(2), 2, metadata.Public)}, truth, commons)
	var after []metadata.File
	for i, f := range first.Versions {
		f.ID = int64(i + 1)
		after = append(after, f)
	}
	second := update.MakePlan(move, after, truth, commons)
	if len(second.Renames) != 0 || !reflect.DeepEqual(briefs(second.Versions), briefs(first.Versions)) {
		t.Errorf("second plan = %+v, first = %+v", second, first)
	}
}
