package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// Versions that cannot be backed up are recorded as what they are, with a
// reason, counted by Summarize, and only the right ones come back.
func TestUnreadableAndGoneVersions(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	const why = "needs a login with the deletedtext right (no main-account login)"
	del := func(title string, n int) metadata.File {
		v := version(title, 1, sha(n), metadata.Deleted)
		v.FilearchiveID, v.StorageKey = int64(n), fmt.Sprintf("key%d.png", n)
		return v
	}
	a, b, c := del("A.png", 1), del("B.png", 2), version("C.png", 1, sha(3), metadata.Public)
	a.BackupStatus, a.ErrorReason = metadata.Unreadable, why
	b.BackupStatus, b.ErrorReason = metadata.Unreadable, why
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{a, b, c}, "inventory"); err != nil {
		t.Fatal(err)
	}
	// Inserted as unreadable; a second sync with another status changes nothing.
	a2 := a
	a2.BackupStatus, a2.ErrorReason = "", ""
	if st, err := s.SyncVersions(ctx, wiki, []metadata.File{a2}, "inventory"); err != nil || st.Unchanged != 1 {
		t.Fatalf("second sync = %+v, %v", st, err)
	}
	un, _ := s.List(ctx, metadata.Filter{WikiID: wiki, BackupStatus: metadata.Unreadable})
	if len(un) != 2 || un[0].ErrorReason != why {
		t.Fatalf("unreadable = %+v", un)
	}
	// Unreadable versions are never claimed.
	got, err := s.Claim(ctx, wiki, "w", 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].Title != "C.png" {
		t.Fatalf("claim = %+v, %v; want C.png only", got, err)
	}
	// A worker records gone: not an error, never retried.
	st, err := s.Record(ctx, "w", []metadata.Result{{FileID: got[0].ID, Err: metadata.Mark(metadata.ErrGone, errors.New("erased in production"))}})
	if err != nil || st[got[0].ID] != metadata.Gone {
		t.Fatalf("record gone = %v, %v", st, err)
	}
	if n, err := s.RetryErrors(ctx, wiki); err != nil || n != 0 {
		t.Errorf("RetryErrors = %d, %v; want nothing retried", n, err)
	}
	if _, err := s.Requeue(ctx, wiki, metadata.Gone); err == nil {
		t.Errorf("Requeue of gone versions succeeded, want an error")
	}

	sum, err := s.Summarize(ctx, wiki, "testwiki")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range metadata.BackupStatuses {
		if _, ok := sum.ByBackupStatus[string(st)]; !ok {
			t.Errorf("summary lacks status %s", st)
		}
	}
	if sum.ByBackupStatus["unreadable"] != 2 || sum.ByBackupStatus["gone"] != 1 || sum.Versions != 3 {
		t.Errorf("summary counts = %v (%d versions)", sum.ByBackupStatus, sum.Versions)
	}
	if r := sum.Reasons["unreadable"]; len(r) != 1 || r[0] != (metadata.ReasonCount{Reason: why, Count: 2}) {
		t.Errorf("unreadable reasons = %+v", r)
	}
	if r := sum.Reasons["gone"]; len(r) != 1 || r[0].Reason != "erased in production" {
		t.Errorf("gone reasons = %+v", r)
	}

	// The credentials now allow it: unreadable versions become pending.
	if n, err := s.Requeue(ctx, wiki, metadata.Unreadable); err != nil || n != 2 {
		t.Fatalf("Requeue(unreadable) = %d, %v", n, err)
	}
	if got, _ := s.Claim(ctx, wiki, "w", 10, time.Minute); len(got) != 2 {
		t.Errorf("claim after requeue: %d files, want 2", len(got))
	}
}

func TestDeleteDatesNeverReplaceKnownOnes(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	mk := func(title string, n int, known time.Time) metadata.File {
		v := version(title, n, sha(n), metadata.Deleted)
		v.FilearchiveID, v.StorageKey, v.DeleteDate = int64(n), fmt.Sprintf("key%d.png", n), known
		return v
	}
	known := time.Date(2025, 1, 4, 0, 0, 0, 0, time.UTC)
	hidden := version("A.png", 3, sha(3), metadata.Deleted) // revision-deleted: no filearchive id
	hidden.ArchiveName = "20250105000000!A.png"
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{mk("A.png", 1, time.Time{}), mk("A.png", 2, known), hidden,
		version("B.png", 1, sha(4), metadata.Public)}, "inventory"); err != nil {
		t.Fatal(err)
	}
	undated, err := s.UndatedDeletions(ctx, wiki, []string{"A.png", "B.png"})
	if err != nil || len(undated) != 1 || len(undated["A.png"]) != 1 || undated["A.png"][0].SHA1 != sha(1) {
		t.Fatalf("UndatedDeletions = %+v, %v; want A.png's first version only", undated, err)
	}
	all, _ := s.VersionsOf(ctx, wiki, "A.png")
	at := time.Date(2025, 1, 5, 9, 0, 0, 0, time.UTC)
	var ds []metadata.DeleteDate
	for _, f := range all {
		ds = append(ds, metadata.DeleteDate{FileID: f.ID, Date: at, Source: "log:78"})
	}
	if n, err := s.SetDeleteDates(ctx, ds); err != nil || n != 2 {
		t.Fatalf("SetDeleteDates = %d, %v; want 2 (the known date kept)", n, err)
	}
	all, _ = s.VersionsOf(ctx, wiki, "A.png")
	for _, f := range all {
		want := at
		if f.SHA1 == sha(2) {
			want = known
		}
		if !f.DeleteDate.Equal(want) {
			t.Errorf("%s: delete date %s, want %s", f.SHA1, f.DeleteDate, want)
		}
	}
	var n int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM file_history WHERE source = 'log:78' AND field = 'delete_date'`).Scan(&n)
	if n != 2 {
		t.Errorf("history rows: %d, want 2", n)
	}
}
