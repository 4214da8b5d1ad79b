package metadata_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// TestAuditVersionsPages walks a container a page at a time, with several
// versions at one place across page boundaries: every version once, in
// (path, id) order, through files_production without a sort.
func TestAuditVersionsPages(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	other, _ := s.EnsureWiki(ctx, "otherwiki", "public")
	const c = "wikipedia-test-local-deleted"
	var vs []metadata.File
	for i, p := range []string{"b/b/b/bbb.png", "a/a/a/aaa.png", "b/b/b/bbb.png", "c/c/c/ccc.png", "b/b/b/bbb.png", "a/a/a/aab.png"} {
		v := version(fmt.Sprintf("T%d.png", i), 1, sha(i+1), metadata.Deleted)
		v.Container, v.Path = c, p
		vs = append(vs, v)
	}
	elsewhere := version("Other.png", 1, sha(99), metadata.Public) // another container
	if _, err := s.SyncVersions(ctx, wiki, append(vs, elsewhere), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncVersions(ctx, other, vs[:2], "test"); err != nil { // another wiki
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2, 3, 100} {
		var got []string
		after := metadata.AuditKey{}
		for pages := 0; ; pages++ {
			page, err := s.AuditVersions(ctx, wiki, c, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page {
				got = append(got, v.Path+" "+v.Title)
			}
			if len(page) < limit || pages > 10 {
				break
			}
			after = metadata.AuditKey{Path: page[len(page)-1].Path, ID: page[len(page)-1].ID}
		}
		want := "a/a/a/aaa.png T1.png|a/a/a/aab.png T5.png|b/b/b/bbb.png T0.png|b/b/b/bbb.png T2.png|b/b/b/bbb.png T4.png|c/c/c/ccc.png T3.png"
		if strings.Join(got, "|") != want {
			t.Errorf("limit %d: %s\nwant %s", limit, strings.Join(got, "|"), want)
		}
	}
	cs, err := s.AuditContainers(ctx, wiki)
	if err != nil || strings.Join(cs, ",") != c+",wikipedia-test-local-public" {
		t.Errorf("AuditContainers = %v, %v", cs, err)
	}
	q, args := metadata.AuditVersionsQuery(wiki, c, metadata.AuditKey{Path: "b/b/b/bbb.png", ID: 3}, 10)
	rows, err := s.DB().QueryContext(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	planned := 0
	for rows.Next() {
		planned++
		vals := make([]any, len(cols))
		strs := make([]*string, len(cols))
		for i := range vals {
			vals[i] = &strs[i]
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		plan := map[string]string{}
		for i, c := range cols {
			if strs[i] != nil {
				plan[c] = *strs[i]
			}
		}
		if plan["key"] != "files_production" || strings.Contains(plan["Extra"], "filesort") {
			t.Errorf("the audit's page query: %v, want files_production and no filesort", plan)
		}
	}
	if planned != 1 {
		t.Errorf("EXPLAIN gave %d rows, want 1", planned)
	}
}

// TestRecordAudit: only what changed is written; the date moves only with
// the status; a learned md5 never replaces one the backup recorded.
func TestRecordAudit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	a, b := version("A.png", 1, sha(1), metadata.Public), version("B.png", 1, sha(2), metadata.Public)
	b.Path = "b/bb/B.png"
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{a, b}, "test"); err != nil {
		t.Fatal(err)
	}
	files, _ := s.List(ctx, metadata.Filter{WikiID: wiki})
	ida, idb := files[0].ID, files[1].ID
	if _, err := s.DB().ExecContext(ctx, "UPDATE files SET md5 = UNHEX(REPEAT('11', 16)) WHERE id = ?", idb); err != nil {
		t.Fatal(err)
	}
	run1, prev, err := s.StartAudit(ctx, wiki, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), "h")
	if err != nil || prev != nil {
		t.Fatalf("first StartAudit: %v, previous %v", err, prev)
	}
	err = s.RecordAudit(ctx, run1, []metadata.AuditResult{
		{FileID: ida, Status: metadata.AuditMissing, Detail: "not in production", Changed: true},
		{FileID: idb, Status: metadata.AuditOK, Changed: true, MD5: strings.Repeat("22", 16)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAudit(ctx, run1, run1.Started.Add(time.Minute), metadata.AuditCounts{Versions: 2, Missing: 1}); err != nil {
		t.Fatal(err)
	}
	run2, prev, err := s.StartAudit(ctx, wiki, time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), "h")
	if err != nil || prev == nil || prev.ID != run1.ID || prev.Missing != 1 {
		t.Fatalf("second StartAudit: %v, previous %+v", err, prev)
	}
	// A is now damaged (status changes: new date); B's detail changes only.
	if err := s.RecordAudit(ctx, run2, []metadata.AuditResult{
		{FileID: ida, Status: metadata.AuditDamaged, Detail: "size 1, want 10", Changed: true},
		{FileID: idb, Status: metadata.AuditOK, Detail: "checked by its X-Object-Meta-Sha1base36"},
	}); err != nil {
		t.Fatal(err)
	}
	files, _ = s.List(ctx, metadata.Filter{WikiID: wiki})
	fa, fb := files[0], files[1]
	if fa.Audit.Status != metadata.AuditDamaged || !fa.Audit.Since.Equal(run2.Started) || fa.Audit.Detail != "size 1, want 10" {
		t.Errorf("A: %+v", fa.Audit)
	}
	if fb.Audit.Status != metadata.AuditOK || !fb.Audit.Since.Equal(run1.Started) || fb.MD5 != strings.Repeat("11", 16) {
		t.Errorf("B: %+v, md5 %s; want ok since the first run and the backup's md5 kept", fb.Audit, fb.MD5)
	}
	// A version that moves loses its audit state: it was about the old place.
	moved := a
	moved.Path = "a/aa/Elsewhere.png"
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{moved}, "test"); err != nil {
		t.Fatal(err)
	}
	files, _ = s.List(ctx, metadata.Filter{WikiID: wiki})
	if files[0].Audit.Status != "" {
		t.Errorf("moved version keeps its audit state %+v", files[0].Audit)
	}
	// Unexpected objects: seen twice, then gone.
	objs := []metadata.UnexpectedObject{{Container: "c", Path: "x/xy/Stray.png", Size: 3}, {Container: "c", Path: "x/xy/Other.png", Size: 4}}
	seen, err := s.RecordUnexpected(ctx, run1, objs[:1])
	if err != nil || seen[0] {
		t.Fatalf("first sighting: %v, %v", seen, err)
	}
	seen, err = s.RecordUnexpected(ctx, run2, objs)
	if err != nil || !seen[0] || seen[1] {
		t.Fatalf("second sighting: %v, %v; want the first known, the second new", seen, err)
	}
	if _, err := s.RecordUnexpected(ctx, run2, []metadata.UnexpectedObject{{Container: "c", Path: "a"}, {Container: "d", Path: "b"}}); err == nil {
		t.Error("RecordUnexpected took objects of two containers at once")
	}
	run3, _, _ := s.StartAudit(ctx, wiki, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), "h")
	if _, err := s.RecordUnexpected(ctx, run3, objs[1:]); err != nil {
		t.Fatal(err)
	}
	gone, err := s.FinishAuditContainer(ctx, run3, "c", true, run3.Started, metadata.AuditCounts{Objects: 1, Unexpected: 1})
	if err != nil || gone != 1 {
		t.Fatalf("FinishAuditContainer: %d gone, %v; want Stray.png forgotten", gone, err)
	}
	left, err := s.UnexpectedObjects(ctx, wiki)
	if err != nil || len(left) != 1 || left[0].Path != "x/xy/Other.png" || !left[0].FirstSeen.Equal(run2.Started) {
		t.Errorf("unexpected objects left: %+v, %v", left, err)
	}
	if at, err := s.AuditContainerChecked(ctx, wiki, "c"); err != nil || !at.Equal(run3.Started) {
		t.Errorf("container checked at %v, %v", at, err)
	}
}
