package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// TestRecordBatch checks the batched Record against every case a batch can
// mix: new objects, content stored by an earlier batch, content another
// file of the same batch stores, a lost claim, an error, a sha1 mismatch.
func TestRecordBatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	loc, err := s.EnsureLocation(ctx, "http://127.0.0.1:9101")
	if err != nil {
		t.Fatal(err)
	}
	var vs []metadata.File
	for i := range 8 {
		vs = append(vs, version(fmt.Sprintf("F%d.png", i), 1, sha(i+1), metadata.Public))
	}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	files, err := s.Claim(ctx, wiki, "w", 8, time.Minute)
	if err != nil || len(files) != 8 {
		t.Fatalf("claim: %d, %v", len(files), err)
	}
	sum := func(n int) string { return fmt.Sprintf("%064x", n) }
	obj := func(n int) *metadata.Backup {
		return &metadata.Backup{SHA1: sha(n), Size: 10, LocationID: loc, Bucket: "mediabackups", ObjectKey: "testwiki/x/" + sum(n), StoredSize: 26}
	}
	// First batch stores content 100.
	if _, err := s.Record(ctx, "w", []metadata.Result{{FileID: files[0].ID, SHA1: sha(1), SHA256: sum(100), Size: 10, Backup: obj(1)}}); err != nil {
		t.Fatal(err)
	}
	// Another worker takes files[7] over.
	if _, err := s.DB().ExecContext(ctx, "UPDATE files SET worker = 'other' WHERE id = ?", files[7].ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Record(ctx, "w", []metadata.Result{
		{FileID: files[1].ID, SHA1: sha(2), SHA256: sum(100), Size: 10},                                                            // stored earlier: duplicate
		{FileID: files[2].ID, SHA1: sha(3), SHA256: sum(100), Size: 10, Backup: obj(3)},                                            // uploaded again anyway: duplicate
		{FileID: files[3].ID, SHA1: sha(4), SHA256: sum(200), Size: 10},                                                            // stored by files[4] below: duplicate
		{FileID: files[4].ID, SHA1: sha(5), SHA256: sum(200), MD5: md5of(5), Size: 10, Backup: obj(5)},                             // new
		{FileID: files[5].ID, SHA1: sha(66), SHA256: sum(300), MD5: md5of(66), Size: 10, Backup: obj(66), DownloadedSHA1: sha(66)}, // new, mismatch
		{FileID: files[6].ID, Err: errors.New("download: 500")},
		{FileID: files[7].ID, SHA1: sha(8), SHA256: sum(400), Size: 10, Backup: obj(8)}, // lost
	})
	if !errors.Is(err, metadata.ErrLostClaim) {
		t.Fatalf("Record = %v, want ErrLostClaim for the file taken over", err)
	}
	want := map[int64]metadata.BackupStatus{
		files[1].ID: metadata.Duplicate, files[2].ID: metadata.Duplicate, files[3].ID: metadata.Duplicate,
		files[4].ID: metadata.BackedUp, files[5].ID: metadata.BackedUp, files[6].ID: metadata.Error,
	}
	if len(got) != len(want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("file %d: %s, want %s", id, got[id], st)
		}
	}
	list, err := s.List(ctx, metadata.Filter{WikiID: wiki})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]metadata.File{}
	for _, f := range list {
		byID[f.ID] = f
	}
	for i, wantSHA := range map[int]string{1: sum(100), 2: sum(100), 3: sum(200), 4: sum(200), 5: sum(300)} {
		f := byID[files[i].ID]
		if f.SHA256 != wantSHA || f.Backup == nil || f.Backup.SHA256 != wantSHA {
			t.Errorf("file %d: sha256 %s, backup %+v; want both %s", i, f.SHA256, f.Backup, wantSHA)
		}
	}
	if f := byID[files[5].ID]; f.DownloadedSHA1 != sha(66) {
		t.Errorf("mismatch not recorded: %q", f.DownloadedSHA1)
	}
	// The md5 is the version's only when the bytes are production's.
	if f := byID[files[4].ID]; f.MD5 != md5of(5) {
		t.Errorf("md5 = %q, want %s", f.MD5, md5of(5))
	}
	if f := byID[files[5].ID]; f.MD5 != "" {
		t.Errorf("md5 of bytes whose sha1 is not production's recorded: %q", f.MD5)
	}
	if f := byID[files[1].ID]; f.MD5 != "" {
		t.Errorf("md5 recorded though none was given: %q", f.MD5)
	}
	if f := byID[files[1].ID]; f.DownloadedSHA1 != "" {
		t.Errorf("downloaded sha1 recorded without a mismatch: %q", f.DownloadedSHA1)
	}
	if f := byID[files[7].ID]; f.BackupStatus != metadata.Processing {
		t.Errorf("lost file changed: %s", f.BackupStatus)
	}
}

func md5of(n int) string { return fmt.Sprintf("%032x", n) }

// TestRecordConcurrentSameContent has two workers record the same new
// content at once, many times: exactly one object per content, one
// backedup file, the other a duplicate, and no error.
func TestRecordConcurrentSameContent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	loc, _ := s.EnsureLocation(ctx, "http://127.0.0.1:9101")
	const n = 30
	var vs []metadata.File
	for i := range 2 * n {
		vs = append(vs, version(fmt.Sprintf("C%d.png", i), 1, sha(i+1), metadata.Public))
	}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Claim(ctx, wiki, "a", n, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, wiki, "b", n, time.Minute)
	if err != nil || len(a) != n || len(b) != n {
		t.Fatalf("claims: %d, %d, %v", len(a), len(b), err)
	}
	statuses := make([]map[int64]metadata.BackupStatus, 2)
	var wg sync.WaitGroup
	for w, files := range [][]metadata.File{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, f := range files {
				sum := fmt.Sprintf("%064x", 1000+i)
				st, err := s.Record(ctx, string(rune('a'+w)), []metadata.Result{{FileID: f.ID, SHA1: f.SHA1, SHA256: sum, Size: 10,
					Backup: &metadata.Backup{SHA1: f.SHA1, Size: 10, LocationID: loc, Bucket: "b", ObjectKey: "k/" + sum, StoredSize: 10}}})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				if statuses[w] == nil {
					statuses[w] = map[int64]metadata.BackupStatus{}
				}
				statuses[w][int64(i)] = st[f.ID]
			}
		}()
	}
	wg.Wait()
	for i := range n {
		x, y := statuses[0][int64(i)], statuses[1][int64(i)]
		if !(x == metadata.BackedUp && y == metadata.Duplicate) && !(x == metadata.Duplicate && y == metadata.BackedUp) {
			t.Errorf("content %d: %s and %s, want one backedup and one duplicate", i, x, y)
		}
	}
	var objects int
	if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM backups WHERE wiki_id = ?", wiki).Scan(&objects); err != nil || objects != n {
		t.Errorf("objects = %d, %v; want %d", objects, err, n)
	}
}
