package metadata_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

func TestLogCursorSeenAndAdvance(t *testing.T) {
	t0 := time.Date(2025, 1, 5, 12, 0, 0, 0, time.UTC)
	c := metadata.LogCursor{}
	if c.Seen(1, t0) || !c.IsZero() {
		t.Fatal("the zero cursor has seen an event")
	}
	c = c.Advance(87, t0).Advance(86, t0).Advance(87, t0)
	want := metadata.LogCursor{Timestamp: t0, SeenIDs: []int64{86, 87}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("cursor = %+v, want %+v", c, want)
	}
	tests := []struct {
		name string
		id   int64
		ts   time.Time
		seen bool
	}{
		{"older second", 99, t0.Add(-time.Second), true},
		{"same second, applied", 86, t0, true},
		{"same second, applied, sub-second", 87, t0.Add(500 * time.Millisecond), true},
		{"same second, new id", 88, t0, false},
		{"same second, lower new id", 5, t0, false},
		{"later second", 86, t0.Add(time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Seen(tt.id, tt.ts); got != tt.seen {
				t.Errorf("Seen(%d, %s) = %v, want %v", tt.id, tt.ts, got, tt.seen)
			}
		})
	}
	later := c.Advance(90, t0.Add(time.Second))
	if !reflect.DeepEqual(later, metadata.LogCursor{Timestamp: t0.Add(time.Second), SeenIDs: []int64{90}}) {
		t.Errorf("advance to a later second = %+v", later)
	}
	if older := c.Advance(1, t0.Add(-time.Hour)); !reflect.DeepEqual(older, c) {
		t.Errorf("advance to an older event moved the cursor: %+v", older)
	}
}

func TestParseLogIDs(t *testing.T) {
	tests := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{"", nil, false},
		{"5", []int64{5}, false},
		{"9,3,5,3", []int64{3, 5, 9}, false},
		{"1,,2", nil, true},
		{"0", nil, true},
		{"-4", nil, true},
		{"+4", nil, true},
		{"x", nil, true},
		{"99999999999999999999", nil, true},
	}
	for _, tt := range tests {
		got, err := metadata.ParseLogIDs(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseLogIDs(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseLogIDs(f *testing.F) {
	for _, s := range []string{"", "1", "3,1,2", "1,,2", "-1", "+1", "007", "1,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := metadata.ParseLogIDs(s)
		if err != nil {
			return
		}
		for i, id := range ids {
			if id <= 0 || i > 0 && ids[i-1] >= id {
				t.Fatalf("ParseLogIDs(%q) = %v: not positive, sorted and unique", s, ids)
			}
		}
		again, err := metadata.ParseLogIDs(metadata.FormatLogIDs(ids))
		if err != nil || !reflect.DeepEqual(again, ids) {
			t.Fatalf("round trip of %v: %v, %v", ids, again, err)
		}
	})
}

func TestCursorIsStoredPerWiki(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a, _ := s.EnsureWiki(ctx, "awiki", "public")
	b, _ := s.EnsureWiki(ctx, "bwiki", "public")
	if c, err := s.Cursor(ctx, a); err != nil || !c.IsZero() {
		t.Fatalf("cursor of a new wiki = %+v, %v; want the zero cursor", c, err)
	}
	want := metadata.LogCursor{Timestamp: time.Date(2025, 1, 5, 12, 0, 0, 0, time.UTC), SeenIDs: []int64{86, 87}}
	for _, c := range []metadata.LogCursor{{Timestamp: want.Timestamp, SeenIDs: []int64{86}}, want} {
		if err := s.SaveCursor(ctx, a, c); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Cursor(ctx, a); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("cursor = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := s.Cursor(ctx, b); !got.IsZero() {
		t.Errorf("the other wiki's cursor = %+v, want zero", got)
	}
}

func TestReconcileRenamesWithHistory(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{version("Old.png", 1, sha(1), metadata.Public)}, "inventory"); err != nil {
		t.Fatal(err)
	}
	known, err := s.VersionsOf(ctx, wiki, "Old.png")
	if err != nil || len(known) != 1 {
		t.Fatalf("VersionsOf = %v, %v", known, err)
	}
	moved := version("New.png", 1, sha(1), metadata.Public)
	moved.Path = "c/cd/New.png"
	for round := range 2 {
		st, renamed, err := s.Reconcile(ctx, wiki, []metadata.Rename{{FileID: known[0].ID, NewTitle: "New.png"}},
			[]metadata.File{moved}, "log:86")
		if err != nil {
			t.Fatal(err)
		}
		wantRenamed, wantChanged := 1, 1
		if round == 1 {
			wantRenamed, wantChanged = 0, 0
		}
		if renamed != wantRenamed || st.Changed != wantChanged || st.Added != 0 {
			t.Errorf("round %d: renamed %d, %+v; want %d renamed, %d changed", round, renamed, st, wantRenamed, wantChanged)
		}
	}
	var hist []string
	rows, err := s.DB().QueryContext(ctx, "SELECT CONCAT(source, ' ', field, ' ', old_value, '>', new_value) FROM file_history ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		rows.Scan(&h)
		hist = append(hist, h)
	}
	want := []string{"log:86 title Old.png>New.png", "log:86 production_path a/ab/Old.png>c/cd/New.png"}
	if !reflect.DeepEqual(hist, want) {
		t.Errorf("history = %q, want %q", hist, want)
	}
}

// TestApplyLogCommitsRowsWithTheCursor checks that what a stretch of the
// log writes and the cursor after it are recorded together or not at all,
// and that the transaction sees its own writes.
func TestApplyLogCommitsRowsWithTheCursor(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	c := metadata.LogCursor{Timestamp: time.Date(2025, 1, 5, 12, 0, 0, 0, time.UTC), SeenIDs: []int64{7}}
	write := func(tx *metadata.LogTx) error {
		if _, _, err := tx.Reconcile(ctx, nil, []metadata.File{version("A.png", 1, sha(1), metadata.Public)}, "log:7"); err != nil {
			return err
		}
		got, err := tx.VersionsOf(ctx, "A.png")
		if err != nil || len(got) != 1 {
			t.Errorf("inside the transaction: VersionsOf = %v, %v; want the version just written", got, err)
		}
		return nil
	}

	boom := errors.New("the API went away")
	err := s.ApplyLog(ctx, wiki, c, func(tx *metadata.LogTx) error {
		if err := write(tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ApplyLog = %v, want %v", err, boom)
	}
	if got, _ := s.VersionsOf(ctx, wiki, "A.png"); len(got) != 0 {
		t.Errorf("a failed stretch left %d versions", len(got))
	}
	if got, _ := s.Cursor(ctx, wiki); !got.IsZero() {
		t.Errorf("a failed stretch moved the cursor to %+v", got)
	}

	if err := s.ApplyLog(ctx, wiki, c, write); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.VersionsOf(ctx, wiki, "A.png"); len(got) != 1 {
		t.Errorf("after the stretch: %d versions, want 1", len(got))
	}
	if got, err := s.Cursor(ctx, wiki); err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("cursor = %+v, %v; want %+v", got, err, c)
	}
}
