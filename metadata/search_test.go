package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// searchFixture syncs a small history of one wiki and backs every version
// up: A.png (two versions, the old one archived), B.png (same bytes as A's
// current version), D.png (deleted), and a version of another wiki with A's
// bytes. It returns the store, the wiki id and the sha256 of each content.
func searchFixture(t *testing.T) (*metadata.Store, int64, map[string]string) {
	t.Helper()
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	other, _ := s.EnsureWiki(ctx, "otherwiki", "public")
	loc, err := s.EnsureLocation(ctx, "http://127.0.0.1:9101")
	if err != nil {
		t.Fatal(err)
	}
	a1 := version("A.png", 1, sha(1), metadata.Archived)
	a1.ArchiveName, a1.ArchiveDate, a1.Path = "20250102100000!A.png", time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC), "archive/a/ab/20250102100000!A.png"
	a2 := version("A.png", 2, sha(2), metadata.Public)
	b := version("B.png", 3, sha(2), metadata.Public)
	d := version("D.png", 4, sha(4), metadata.Deleted)
	d.DeleteDate, d.Container, d.Path, d.SourceURL = time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), "wikipedia-test-local-deleted", "x/y/z/xyz.png", ""
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{a1, a2, b, d}, "inventory"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncVersions(ctx, other, []metadata.File{version("A.png", 2, sha(2), metadata.Public)}, "inventory"); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{sha(1): fmt.Sprintf("%064x", 1), sha(2): fmt.Sprintf("%064x", 2), sha(4): fmt.Sprintf("%064x", 4)}
	for _, w := range []int64{wiki, other} {
		files, err := s.Claim(ctx, w, "w", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var rs []metadata.Result
		for _, f := range files {
			sum := sums[f.SHA1]
			rs = append(rs, metadata.Result{FileID: f.ID, SHA1: f.SHA1, SHA256: sum, Size: 10, Backup: &metadata.Backup{
				SHA1: f.SHA1, Size: 10, LocationID: loc, Bucket: "mbtest", ObjectKey: fmt.Sprintf("w%d/%s", w, sum), StoredSize: 10}})
		}
		if _, err := s.Record(ctx, "w", rs); err != nil {
			t.Fatal(err)
		}
	}
	return s, wiki, sums
}

func titlesOf(files []metadata.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, fmt.Sprintf("%s@%d", f.Title, f.UploadDate.Day()))
	}
	sort.Strings(out)
	return out
}

func TestSearchEachMethod(t *testing.T) {
	ctx := context.Background()
	s, wiki, sums := searchFixture(t)
	day := func(d int) time.Time { return time.Date(2025, 1, d, 10, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		q    metadata.Query
		want string
	}{
		{"title", metadata.Query{Title: "A.png"}, "[A.png@1 A.png@2]"},
		{"title is byte-exact", metadata.Query{Title: "a.png"}, "[]"},
		{"sha1", metadata.Query{SHA1: sha(2)}, "[A.png@2 B.png@3]"},
		{"sha256", metadata.Query{SHA256: sums[sha(1)]}, "[A.png@1]"},
		{"production path", metadata.Query{Container: "wikipedia-test-local-deleted", Path: "x/y/z/xyz.png"}, "[D.png@4]"},
		{"upload date", metadata.Query{UploadDate: day(3)}, "[B.png@3]"},
		{"upload date in another zone", metadata.Query{UploadDate: day(3).In(time.FixedZone("x", 3600))}, "[B.png@3]"},
		{"archive date", metadata.Query{ArchiveDate: day(2)}, "[A.png@1]"},
		{"delete date", metadata.Query{DeleteDate: time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC)}, "[D.png@4]"},
		{"title + upload date + sha1 (batch)", metadata.Query{Title: "A.png", UploadDate: day(2), SHA1: sha(2)}, "[A.png@2]"},
		{"no match", metadata.Query{Title: "Nope.png"}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.WikiID = wiki
			got, err := s.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := fmt.Sprint(titlesOf(got)); g != tc.want && !(g == "[]" && tc.want == "[]") {
				t.Errorf("got %s, want %s", g, tc.want)
			}
			for _, f := range got {
				if f.Wiki != "testwiki" || f.Backup == nil || f.Backup.Location != "http://127.0.0.1:9101" {
					t.Errorf("%s: wiki %q, backup %+v", f.Title, f.Wiki, f.Backup)
				}
			}
		})
	}
	for _, q := range []metadata.Query{{}, {SHA1: "zz"}, {SHA256: sha(1)}, {Container: "c"}} {
		q.WikiID = wiki
		if _, err := s.Search(ctx, q); err == nil {
			t.Errorf("Search(%+v) succeeded, want an error", q)
		}
	}
	if _, err := s.Search(ctx, metadata.Query{WikiID: wiki}); !errors.Is(err, metadata.ErrEmptyQuery) {
		t.Errorf("empty query: %v, want ErrEmptyQuery", err)
	}
}

func TestHardDeleteKeepsOrDropsSharedObjects(t *testing.T) {
	ctx := context.Background()
	s, wiki, sums := searchFixture(t)
	a, _ := s.Search(ctx, metadata.Query{WikiID: wiki, Title: "A.png", SHA1: sha(2)})
	if len(a) != 1 {
		t.Fatalf("A.png@2: %d matches", len(a))
	}
	shared, err := s.SharedContent(ctx, wiki, sums[sha(2)], []int64{a[0].ID})
	if err != nil || fmt.Sprint(titlesOf(shared)) != "[B.png@3]" {
		t.Fatalf("SharedContent = %v, %v; want B.png only (not the other wiki's copy)", titlesOf(shared), err)
	}
	// The object stays (B.png uses it): A.png@2 is unlinked and hard-deleted.
	if err := s.HardDelete(ctx, a[0].ID, false); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Search(ctx, metadata.Query{WikiID: wiki, SHA1: sha(2)})
	for _, f := range got {
		switch f.Title {
		case "A.png":
			if f.Status != metadata.HardDeleted || f.Backup != nil {
				t.Errorf("A.png: %s, backup %+v; want hard-deleted without backup", f.Status, f.Backup)
			}
			// A status says what is true: no bytes anywhere, not a failure.
			if f.BackupStatus != metadata.Gone || f.ErrorReason != metadata.HardDeletedReason(time.Now()) {
				t.Errorf("A.png: backup status %s (%q), want gone (%q)", f.BackupStatus, f.ErrorReason, metadata.HardDeletedReason(time.Now()))
			}
		case "B.png":
			if f.Status != metadata.Public || f.Backup == nil {
				t.Errorf("B.png: %s, backup %+v; want untouched", f.Status, f.Backup)
			}
		}
	}
	if shared, _ := s.SharedContent(ctx, wiki, sums[sha(2)], nil); len(shared) != 1 {
		t.Errorf("after the delete, %d versions share the content, want 1 (B.png)", len(shared))
	}
	// The object is removed with B.png's deletion: its record goes.
	if err := s.HardDelete(ctx, got[len(got)-1].ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindBackup(ctx, wiki, sums[sha(2)]); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("backup record after removing the object: %v, want ErrNotFound", err)
	}
	var n int
	// Per version: production_status, error_reason, backup_status, backup_id.
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM file_history WHERE source = ?`, metadata.SourceRecoveryDelete).Scan(&n); err != nil || n != 8 {
		t.Errorf("history rows from recovery:delete: %d (%v), want 8", n, err)
	}
	// Hard-deleted versions are never claimed again, even if made pending.
	s.DB().ExecContext(ctx, `UPDATE files SET backup_status = 'pending' WHERE production_status = 'hard-deleted'`)
	if c, err := s.Claim(ctx, wiki, "w2", 10, time.Minute); err != nil || len(c) != 0 {
		t.Errorf("claim after hard-delete: %d files, %v", len(c), err)
	}
	if err := s.HardDelete(ctx, 999999, false); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("HardDelete of an unknown id: %v", err)
	}
}

func TestHardDeleteRemovedObjectUnlinksOthers(t *testing.T) {
	ctx := context.Background()
	s, wiki, sums := searchFixture(t)
	a, _ := s.Search(ctx, metadata.Query{WikiID: wiki, Title: "A.png", SHA1: sha(2)})
	// --delete-shared: the object goes, B.png keeps its row but is pending again.
	if err := s.HardDelete(ctx, a[0].ID, true); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Search(ctx, metadata.Query{WikiID: wiki, Title: "B.png"})
	if len(b) != 1 || b[0].Backup != nil || b[0].BackupStatus != metadata.Pending || b[0].Status != metadata.Public ||
		b[0].ErrorReason != metadata.LostObjectReason(time.Now()) {
		t.Fatalf("B.png after its object was removed: %+v", b)
	}
	if _, err := s.FindBackup(ctx, wiki, sums[sha(2)]); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("backup record: %v, want ErrNotFound", err)
	}
}

func TestFindVersions(t *testing.T) {
	ctx := context.Background()
	s, wiki, _ := searchFixture(t)
	day := func(d int) time.Time { return time.Date(2025, 1, d, 10, 0, 0, 0, time.UTC) }
	keys := []metadata.VersionKey{
		{Title: "A.png", UploadDate: day(1), SHA1: sha(1)},
		{Title: "A.png", UploadDate: day(2), SHA1: sha(2)},
		{Title: "B.png", UploadDate: day(3).In(time.FixedZone("x", 3600)), SHA1: strings.ToUpper(sha(2))},
		{Title: "B.png", UploadDate: day(3), SHA1: sha(9)}, // wrong sha1
		{Title: "D.png", UploadDate: day(5), SHA1: sha(4)}, // wrong date
		{Title: "a.png", UploadDate: day(1), SHA1: sha(1)}, // byte-exact
	}
	got, err := s.FindVersions(ctx, wiki, keys)
	if err != nil {
		t.Fatal(err)
	}
	if g := fmt.Sprint(titlesOf(got)); g != "[A.png@1 A.png@2 B.png@3]" { // titlesOf sorts
		t.Errorf("FindVersions = %s", g)
	}
	want := map[metadata.VersionKey]bool{}
	for _, k := range keys[:2] {
		want[k] = true
	}
	for _, f := range got {
		if f.Backup == nil || f.Wiki != "testwiki" {
			t.Errorf("%s: no backup or wrong wiki: %+v", f.Title, f)
		}
		if k := f.Key(); f.Title == "A.png" && !want[k] {
			t.Errorf("Key() of %s = %+v is not the key asked for", f.Title, k)
		}
	}
	// The other wiki's copy of A.png@2 is not found from this wiki.
	if got, _ := s.FindVersions(ctx, wiki+1, keys[1:2]); len(got) != 1 || got[0].WikiID == wiki {
		t.Errorf("the other wiki: %+v", got)
	}
	if _, err := s.FindVersions(ctx, wiki, []metadata.VersionKey{{Title: "A.png", UploadDate: day(1), SHA1: "xyz"}}); err == nil {
		t.Error("a malformed sha1 was accepted")
	}
	if _, err := s.FindVersions(ctx, wiki, make([]metadata.VersionKey, metadata.MaxVersionKeys+1)); err == nil {
		t.Error("too many keys were accepted")
	}
	if got, err := s.FindVersions(ctx, wiki, nil); err != nil || len(got) != 0 {
		t.Errorf("no keys: %v, %v", got, err)
	}
}

func TestTitlesAround(t *testing.T) {
	ctx := context.Background()
	s, wiki, _ := searchFixture(t)
	for _, tc := range []struct {
		title string
		n     int
		want  string
	}{
		{"B.png", 1, "[A.png B.png]"},
		{"C.png", 2, "[B.png A.png D.png]"},
		{"a.png", 5, "[D.png B.png A.png]"}, // lower case sorts after capitals
		{"0", 1, "[A.png]"},
	} {
		got, err := s.TitlesAround(ctx, wiki, tc.title, tc.n)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("TitlesAround(%q, %d) = %v, %v; want %s", tc.title, tc.n, got, err, tc.want)
		}
	}
}

func TestFilesByID(t *testing.T) {
	s, wiki, _ := searchFixture(t)
	ctx := context.Background()
	all, err := s.Search(ctx, metadata.Query{WikiID: wiki, Title: "A.png"})
	if err != nil || len(all) != 2 {
		t.Fatalf("search: %d files, %v", len(all), err)
	}
	got, err := s.FilesByID(ctx, []int64{all[1].ID, all[0].ID, all[1].ID, 999999})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != all[0].ID || got[1].ID != all[1].ID {
		t.Fatalf("FilesByID = %v, want the ids %d and %d once each, in order", got, all[0].ID, all[1].ID)
	}
	if got[0].Backup == nil || got[0].Wiki != "testwiki" || got[0].Path != all[0].Path {
		t.Errorf("FilesByID did not read the whole row: %+v", got[0])
	}
	if none, err := s.FilesByID(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("FilesByID(nil) = %v, %v", none, err)
	}
}
