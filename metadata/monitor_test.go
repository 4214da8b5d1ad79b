package metadata_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

func TestLastSuccessNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	if _, err := s.LastSuccess(ctx, wiki, "backup"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("LastSuccess before any run = %v, want ErrNotFound", err)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		name              string
		started, finished time.Time
		host              string
		want              metadata.Success
	}{
		{"first", t0, t0.Add(time.Minute), "a", metadata.Success{Command: "backup", Started: t0, Finished: t0.Add(time.Minute), Host: "a"}},
		{"later", t0.Add(time.Hour), t0.Add(2 * time.Hour), "b",
			metadata.Success{Command: "backup", Started: t0.Add(time.Hour), Finished: t0.Add(2 * time.Hour), Host: "b"}},
		// A slow run that started later but finished earlier than the
		// recorded one, on another host: nothing changes.
		{"finished earlier", t0.Add(90 * time.Minute), t0.Add(100 * time.Minute), "c",
			metadata.Success{Command: "backup", Started: t0.Add(time.Hour), Finished: t0.Add(2 * time.Hour), Host: "b"}},
		// Sub-second times are rounded down.
		{"rounded", t0.Add(3*time.Hour + 300*time.Millisecond), t0.Add(4*time.Hour + 900*time.Millisecond), "d",
			metadata.Success{Command: "backup", Started: t0.Add(3 * time.Hour), Finished: t0.Add(4 * time.Hour), Host: "d"}},
	}
	for _, st := range steps {
		if err := s.RecordSuccess(ctx, wiki, "backup", st.started, st.finished, st.host); err != nil {
			t.Fatal(err)
		}
		got, err := s.LastSuccess(ctx, wiki, "backup")
		if err != nil || got != st.want {
			t.Errorf("%s: LastSuccess = %+v, %v; want %+v", st.name, got, err, st.want)
		}
	}
	// Per command.
	if _, err := s.LastSuccess(ctx, wiki, "update"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("LastSuccess of update = %v, want ErrNotFound", err)
	}
}

func TestOldestPendingIsTheNextClaim(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	other, _ := s.EnsureWiki(ctx, "otherwiki", "public")
	if got, err := s.OldestPending(ctx, wiki); err != nil || !got.IsZero() {
		t.Fatalf("OldestPending of an empty wiki = %v, %v; want the zero time", got, err)
	}
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{
		version("A.png", 1, sha(1), metadata.Public), version("B.png", 1, sha(2), metadata.Public),
		version("C.png", 1, sha(3), metadata.Public),
	}, "inventory"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncVersions(ctx, other, []metadata.File{version("Z.png", 1, sha(9), metadata.Public)}, "inventory"); err != nil {
		t.Fatal(err)
	}
	// Give the rows distinct creation times, oldest first in id order, and
	// one for the other wiki older than all.
	db := s.DB()
	for title, created := range map[string]string{"A.png": "2026-01-01 00:00:00", "B.png": "2026-01-02 00:00:00",
		"C.png": "2026-01-03 00:00:00", "Z.png": "2025-01-01 00:00:00"} {
		if _, err := db.ExecContext(ctx, "UPDATE files SET created_at = ? WHERE title = ?", created, title); err != nil {
			t.Fatal(err)
		}
	}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	check := func(what string, want time.Time) {
		t.Helper()
		got, err := s.OldestPending(ctx, wiki)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: OldestPending = %v, %v; want %v", what, got, err, want)
		}
	}
	check("all pending", day(1))
	// A hard-deleted version is never claimed, so it is not waiting.
	if _, err := db.ExecContext(ctx, "UPDATE files SET production_status = 'hard-deleted' WHERE title = 'A.png'"); err != nil {
		t.Fatal(err)
	}
	check("A hard-deleted", day(2))
	// A claimed one is not pending; given back, it is again.
	files, err := s.Claim(ctx, wiki, "w1", 1, time.Minute)
	if err != nil || len(files) != 1 || files[0].Title != "B.png" {
		t.Fatalf("Claim = %v, %v; want B.png", files, err)
	}
	check("B claimed", day(3))
	if _, err := s.ReleaseClaims(ctx, wiki, "w1"); err != nil {
		t.Fatal(err)
	}
	check("B given back", day(2))
	if _, err := db.ExecContext(ctx, "UPDATE files SET backup_status = 'backedup' WHERE wiki_id = ? AND title <> 'A.png'", wiki); err != nil {
		t.Fatal(err)
	}
	check("nothing claimable pending", time.Time{})
}
