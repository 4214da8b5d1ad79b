package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
)

// openStore returns a store on a fresh test database with the schema applied.
func openStore(t *testing.T) *metadata.Store {
	t.Helper()
	ctx := context.Background()
	s, err := metadata.Open(ctx, testsvc.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CheckSchema(ctx); !errors.Is(err, metadata.ErrSchemaOutdated) {
		t.Fatalf("CheckSchema on an empty database = %v, want ErrSchemaOutdated", err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", again, err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
}

func version(title string, day int, sha1 string, st metadata.ProductionStatus) metadata.File {
	return metadata.File{
		Title: title, Container: "wikipedia-test-local-public", Path: "a/ab/" + title,
		SHA1: sha1, Size: 10, MIME: "image/png", Status: st,
		UploadDate: time.Date(2025, 1, day, 10, 0, 0, 0, time.UTC),
	}
}

func sha(n int) string { return fmt.Sprintf("%040x", n) }

func TestSyncVersionsRecordsChanges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, err := s.EnsureWiki(ctx, "testwiki", "public")
	if err != nil {
		t.Fatal(err)
	}
	v1 := version("Ünïcödé_Ω.png", 1, sha(1), metadata.Public)
	st, err := s.SyncVersions(ctx, wiki, []metadata.File{v1, v1}, "inventory")
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 1 || st.Unchanged != 1 {
		t.Fatalf("first sync = %+v, want 1 added (the repeat ignored)", st)
	}
	// A title differing only in case is another file: binary-exact titles.
	if st, err := s.SyncVersions(ctx, wiki, []metadata.File{version("ünïcödé_Ω.png", 1, sha(1), metadata.Public)}, "inventory"); err != nil || st.Added != 1 {
		t.Fatalf("case-different title: %+v, %v; want added", st, err)
	}
	// Overwritten: v1 becomes archived, v2 is new.
	v1a := v1
	v1a.Status, v1a.ArchiveName, v1a.ArchiveDate = metadata.Archived, "20250102100000!Ünïcödé_Ω.png", time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)
	v1a.Path = "archive/a/ab/" + v1a.ArchiveName
	v2 := version("Ünïcödé_Ω.png", 2, sha(2), metadata.Public)
	st, err = s.SyncVersions(ctx, wiki, []metadata.File{v2, v1a}, "inventory")
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 1 || st.Changed != 1 {
		t.Fatalf("second sync = %+v, want 1 added 1 changed", st)
	}
	// Same again: nothing changes.
	st, err = s.SyncVersions(ctx, wiki, []metadata.File{v2, v1a}, "inventory")
	if err != nil || st.Unchanged != 2 {
		t.Fatalf("third sync = %+v, %v; want 2 unchanged", st, err)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM file_history WHERE source = 'inventory'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 { // status, path, archive_name, archive_date
		t.Errorf("history rows = %d, want 4", n)
	}
	files, err := s.List(ctx, metadata.Filter{WikiID: wiki})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[0].Status != metadata.Archived || !files[0].ArchiveDate.Equal(v1a.ArchiveDate) || files[0].Title != v1.Title {
		t.Fatalf("files = %+v", files)
	}
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{{Title: "x"}}, "inventory"); err == nil {
		t.Error("SyncVersions accepted a version without sha1")
	}
}

func TestClaimIsExclusiveAndLeasesExpire(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "privatewiki", "private")
	var vs []metadata.File
	for i := range 200 {
		vs = append(vs, version(fmt.Sprintf("F%03d.png", i), 1, sha(i), metadata.Public))
	}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	// Eight workers claim concurrently: every file exactly once.
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("w%d", w)
			for {
				files, err := s.Claim(ctx, wiki, worker, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(files) == 0 {
					return
				}
				mu.Lock()
				for _, f := range files {
					if prev, dup := seen[f.ID]; dup {
						t.Errorf("file %d claimed by %s and %s", f.ID, prev, worker)
					}
					seen[f.ID] = worker
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("claimed %d files, want 200", len(seen))
	}
	// Nothing left while the leases run.
	if files, err := s.Claim(ctx, wiki, "late", 10, time.Minute); err != nil || len(files) != 0 {
		t.Fatalf("claim during leases = %d files, %v", len(files), err)
	}
	// Expire one worker's leases: another worker takes them over, and the
	// first can no longer record.
	var victim string
	for _, w := range seen {
		victim = w
		break
	}
	if _, err := s.DB().ExecContext(ctx, "UPDATE files SET lease_until = UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE worker = ?", victim); err != nil {
		t.Fatal(err)
	}
	var w0 []int64
	for id, w := range seen {
		if w == victim {
			w0 = append(w0, id)
		}
	}
	taken, err := s.Claim(ctx, wiki, "rescuer", 500, time.Minute)
	if err != nil || len(taken) != len(w0) {
		t.Fatalf("rescuer claimed %d, want %d (%v)", len(taken), len(w0), err)
	}
	_, err = s.Record(ctx, victim, []metadata.Result{{FileID: w0[0], SHA256: fmt.Sprintf("%064x", 1), Err: errors.New("late")}})
	if !errors.Is(err, metadata.ErrLostClaim) {
		t.Fatalf("record by the old worker = %v, want ErrLostClaim", err)
	}
}

func TestRecordBackupDuplicateAndError(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	loc, err := s.EnsureLocation(ctx, "http://127.0.0.1:9101")
	if err != nil {
		t.Fatal(err)
	}
	vs := []metadata.File{version("A.png", 1, sha(1), metadata.Public), version("B.png", 1, sha(1), metadata.Public), version("C.png", 1, sha(3), metadata.Public)}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	files, err := s.Claim(ctx, wiki, "w", 10, time.Minute)
	if err != nil || len(files) != 3 {
		t.Fatalf("claim: %d, %v", len(files), err)
	}
	sum := fmt.Sprintf("%064x", 0xabc)
	obj := func() *metadata.Backup {
		return &metadata.Backup{SHA1: sha(1), Size: 10, LocationID: loc, Bucket: "mediabackups", ObjectKey: "testwiki/000/" + sum, StoredSize: 10}
	}
	// Both A and B carry a new object for the same content: the first wins, the second is a duplicate.
	got, err := s.Record(ctx, "w", []metadata.Result{
		{FileID: files[0].ID, SHA1: sha(1), SHA256: sum, Size: 10, Backup: obj()},
		{FileID: files[1].ID, SHA1: sha(1), SHA256: sum, Size: 10, Backup: obj()},
		{FileID: files[2].ID, Err: errors.New("download: 404")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]metadata.BackupStatus{files[0].ID: metadata.BackedUp, files[1].ID: metadata.Duplicate, files[2].ID: metadata.Error}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("file %d: %s, want %s", id, got[id], st)
		}
	}
	b, err := s.FindBackup(ctx, wiki, sum)
	if err != nil || b.Location != "http://127.0.0.1:9101" {
		t.Fatalf("FindBackup = %+v, %v", b, err)
	}
	if _, err := s.FindBackup(ctx, wiki, fmt.Sprintf("%064x", 1)); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("FindBackup of unknown content = %v, want ErrNotFound", err)
	}
	errs, _ := s.List(ctx, metadata.Filter{WikiID: wiki, BackupStatus: metadata.Error})
	if len(errs) != 1 || errs[0].ErrorReason != "download: 404" {
		t.Fatalf("errors = %+v", errs)
	}
	if n, err := s.RetryErrors(ctx, wiki); err != nil || n != 1 {
		t.Fatalf("RetryErrors = %d, %v", n, err)
	}
	sm, err := s.Summarize(ctx, wiki, "testwiki")
	if err != nil || sm.ByBackupStatus["pending"] != 1 || sm.ObjectsByLocation["http://127.0.0.1:9101"] != 1 {
		t.Fatalf("summary = %+v, %v", sm, err)
	}
}
