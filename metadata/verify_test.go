package metadata_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// addObjects records n objects of a new wiki on one location, with one
// version each, and returns the wiki's id and the objects' ids in order.
func addObjects(t *testing.T, s *metadata.Store, wiki, endpoint string, n int) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	wikiID, err := s.EnsureWiki(ctx, wiki, "public")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := s.EnsureLocation(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range n {
		v := version(fmt.Sprintf("F%03d.png", i), 1, sha(1000+i), metadata.Public)
		if _, err := s.SyncVersions(ctx, wikiID, []metadata.File{v}, "test"); err != nil {
			t.Fatal(err)
		}
		files, err := s.Claim(ctx, wikiID, "w", 1, time.Minute)
		if err != nil || len(files) != 1 {
			t.Fatalf("claim: %v, %v", files, err)
		}
		sha256 := fmt.Sprintf("%064x", 5000+i)
		b := &metadata.Backup{SHA256: sha256, SHA1: v.SHA1, Size: 10, LocationID: loc, Bucket: "b",
			ObjectKey: fmt.Sprintf("%s/%s/%s", wiki, sha256[:3], sha256), StoredSize: 10}
		if _, err := s.Record(ctx, "w", []metadata.Result{{FileID: files[0].ID, SHA1: v.SHA1, SHA256: sha256, Size: 10, Backup: b}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindBackup(ctx, wikiID, sha256)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}
	return wikiID, ids
}

// walk reads every object ObjectsToVerify hands out, n at a time.
func walk(t *testing.T, s *metadata.Store, wikiID int64, before time.Time, n int) []int64 {
	t.Helper()
	var out []int64
	var cur metadata.VerifyCursor
	for range 100 {
		bs, next, err := s.ObjectsToVerify(context.Background(), wikiID, before, cur, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			return out
		}
		for _, b := range bs {
			out = append(out, b.ID)
		}
		cur = next
	}
	t.Fatal("ObjectsToVerify never ends")
	return nil
}

func TestObjectsToVerifyOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wikiID, ids := addObjects(t, s, "testwiki", "http://127.0.0.1:1", 7)
	other, _ := addObjects(t, s, "otherwiki", "http://127.0.0.1:1", 2)
	now := time.Now().UTC().Truncate(time.Second)
	day := func(d int) time.Time { return now.Add(time.Duration(-d) * 24 * time.Hour) }
	// ids[0], ids[3] never checked; the others at various times, two at
	// the same second (ordered by id), one after the run's start.
	rec := []metadata.VerifyRecord{
		{BackupID: ids[1], At: day(3), Result: metadata.VerifyOK},
		{BackupID: ids[2], At: day(5), Result: metadata.VerifyDamaged, Detail: "bad"},
		{BackupID: ids[4], At: day(5), Result: metadata.VerifyOK},
		{BackupID: ids[5], At: day(1), Result: metadata.VerifyMissing},
		{BackupID: ids[6], At: now.Add(time.Hour), Result: metadata.VerifyOK},
	}
	if err := s.RecordVerify(ctx, rec); err != nil {
		t.Fatal(err)
	}
	want := []int64{ids[0], ids[3], ids[2], ids[4], ids[1], ids[5]}
	for _, n := range []int{1, 2, 3, 100} {
		if got := walk(t, s, wikiID, now, n); !reflect.DeepEqual(got, want) {
			t.Errorf("pages of %d: order %v, want %v", n, got, want)
		}
	}
	if got := walk(t, s, other, now, 1); len(got) != 2 {
		t.Errorf("other wiki: %v, want its 2 objects", got)
	}
	// Checks are kept to the microsecond: a run that starts in the same
	// second as another's check still tells before from after.
	start := now.Add(-time.Hour).Add(500 * time.Millisecond)
	_, otherIDs := addObjects(t, s, "thirdwiki", "http://127.0.0.1:1", 2)
	third, _ := s.WikiID(ctx, "thirdwiki")
	if err := s.RecordVerify(ctx, []metadata.VerifyRecord{
		{BackupID: otherIDs[0], At: start.Add(-time.Millisecond), Result: metadata.VerifyOK},
		{BackupID: otherIDs[1], At: start.Add(time.Millisecond), Result: metadata.VerifyOK},
	}); err != nil {
		t.Fatal(err)
	}
	if got := walk(t, s, third, start, 10); !reflect.DeepEqual(got, otherIDs[:1]) {
		t.Errorf("checked 1 ms before and after the start: %v, want only %v", got, otherIDs[:1])
	}
	// What is checked during a walk is not handed out again.
	bs, cur, err := s.ObjectsToVerify(ctx, wikiID, now, metadata.VerifyCursor{}, 3)
	if err != nil || len(bs) != 3 {
		t.Fatalf("first page: %v, %v", bs, err)
	}
	if err := s.RecordVerify(ctx, []metadata.VerifyRecord{{BackupID: ids[4], At: now.Add(time.Second), Result: metadata.VerifyOK}}); err != nil {
		t.Fatal(err)
	}
	rest, _, err := s.ObjectsToVerify(ctx, wikiID, now, cur, 100)
	if err != nil || len(rest) != 2 || rest[0].ID != ids[1] || rest[1].ID != ids[5] {
		t.Errorf("after checking ids[4] mid-walk: %v, %v; want ids[1], ids[5]", rest, err)
	}
	// The outcome is read back with the object.
	b, err := s.FindBackup(ctx, wikiID, fmt.Sprintf("%064x", 5002))
	if err != nil || b.VerifyResult != metadata.VerifyDamaged || b.VerifyDetail != "bad" || !b.VerifiedAt.Equal(day(5)) {
		t.Errorf("object 2 = %+v, %v; want damaged, bad, %v", b, err, day(5))
	}
	sum, err := s.SummarizeVerify(ctx, wikiID)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"never": 2, "ok": 3, "damaged": 1, "missing": 1}; !reflect.DeepEqual(sum.ByResult, want) || sum.OldestCheck == nil || !sum.OldestCheck.Equal(day(5)) {
		t.Errorf("summary = %+v (oldest %v), want %v, oldest %v", sum.ByResult, sum.OldestCheck, want, day(5))
	}
	if n, err := s.CountObjects(ctx, wikiID); err != nil || n != 7 {
		t.Errorf("CountObjects = %d, %v; want 7", n, err)
	}
}

func TestObjectKeysAt(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	addObjects(t, s, "a", "http://127.0.0.1:1", 3)
	addObjects(t, s, "a-b", "http://127.0.0.1:1", 2)
	addObjects(t, s, "c", "http://127.0.0.1:2", 2)
	loc, err := s.LocationID(ctx, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	after := ""
	for {
		keys, err := s.ObjectKeysAt(ctx, loc, "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		all = append(all, keys...)
		after = keys[len(keys)-1]
	}
	if len(all) != 5 || all[0][:2] != "a-" || all[2][:2] != "a/" {
		t.Errorf("keys of location 1 = %v, want 5 in byte order (a-b/ before a/)", all)
	}
	keys, err := s.ObjectKeysAt(ctx, loc, "a/", "", 100)
	if err != nil || len(keys) != 3 {
		t.Errorf("prefix a/: %v, %v; want 3", keys, err)
	}
	if _, err := s.LocationID(ctx, "http://127.0.0.1:9"); err == nil {
		t.Error("LocationID of an unknown endpoint: no error")
	}
}

// TestVerifyOrderUsesItsIndex: walking a wiki's objects in verify's order
// must read backups_verify, never sort them all.
func TestVerifyOrderUsesItsIndex(t *testing.T) {
	s := openStore(t)
	wikiID, _ := addObjects(t, s, "testwiki", "http://127.0.0.1:1", 3)
	plan, err := s.VerifyOrderPlan(context.Background(), wikiID)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(plan[0], "table=b") || !strings.Contains(plan[0], "key=backups_verify") || strings.Contains(joined, "filesort") {
		t.Errorf("plan: %s", joined)
	}
}
