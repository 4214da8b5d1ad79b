package metadata_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// TestRecordRefusesOtherBytesAndRecordsUnavailable: a result with bytes of
// another sha1 is refused unless it says production served them; an
// unavailable result gets its status and reason; --retry-errors and a new
// place from production send it back to pending, nothing else does.
func TestRecordRefusesOtherBytesAndRecordsUnavailable(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	loc, _ := s.EnsureLocation(ctx, "http://127.0.0.1:9101")
	v := version("U.png", 1, sha(1), metadata.Public)
	v.SourceURL = "http://wiki/images/a/ab/U.png"
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{v}, "inventory"); err != nil {
		t.Fatal(err)
	}
	claim := func() metadata.File {
		t.Helper()
		fs, err := s.Claim(ctx, wiki, "w", 1, time.Minute)
		if err != nil || len(fs) != 1 {
			t.Fatalf("claim: %v, %v", fs, err)
		}
		return fs[0]
	}
	status := func() metadata.File {
		t.Helper()
		fs, err := s.VersionsOf(ctx, wiki, "U.png")
		if err != nil || len(fs) != 1 {
			t.Fatalf("versions: %v, %v", fs, err)
		}
		return fs[0]
	}
	f := claim()
	other := &metadata.Backup{SHA1: sha(2), Size: 10, LocationID: loc, Bucket: "b", ObjectKey: "k/2", StoredSize: 10}
	if _, err := s.Record(ctx, "w", []metadata.Result{{FileID: f.ID, SHA1: sha(2), SHA256: fmt.Sprintf("%064x", 2), Size: 10, Backup: other}}); err == nil ||
		!strings.Contains(err.Error(), "refusing to record a version with another version's bytes") {
		t.Fatalf("Record of another version's bytes = %v, want a refusal", err)
	}
	if got := status(); got.BackupStatus != metadata.Processing || got.Backup != nil {
		t.Fatalf("after the refusal: %s, %+v; want still processing, no object", got.BackupStatus, got.Backup)
	}
	reason := fmt.Errorf("%w: the recorded place served another version", metadata.ErrUnavailable)
	st, err := s.Record(ctx, "w", []metadata.Result{{FileID: f.ID, Err: reason}})
	if err != nil || st[f.ID] != metadata.Unavailable {
		t.Fatalf("Record unavailable = %v, %v", st, err)
	}
	if got := status(); got.BackupStatus != metadata.Unavailable || got.ErrorReason != reason.Error() {
		t.Fatalf("unavailable version: %s %q", got.BackupStatus, got.ErrorReason)
	}

	// A change that says nothing of where it is: stays unavailable.
	v.MIME = "image/x-png"
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{v}, "inventory"); err != nil {
		t.Fatal(err)
	}
	if got := status(); got.BackupStatus != metadata.Unavailable {
		t.Fatalf("after a MIME change: %s, want unavailable", got.BackupStatus)
	}
	// A new place: pending again, with history.
	v.Status, v.SourceURL, v.ArchiveName = metadata.Archived, "http://wiki/images/archive/a/ab/20250102000000!U.png", "20250102000000!U.png"
	if _, err := s.SyncVersions(ctx, wiki, []metadata.File{v}, "log:7"); err != nil {
		t.Fatal(err)
	}
	if got := status(); got.BackupStatus != metadata.Pending {
		t.Fatalf("after a new URL: %s, want pending", got.BackupStatus)
	}
	var hist int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM file_history WHERE file_id = ? AND field = 'backup_status'
		AND old_value = 'unavailable' AND new_value = 'pending' AND source = 'log:7'`, f.ID).Scan(&hist); err != nil || hist != 1 {
		t.Errorf("history of the retry: %d rows, %v", hist, err)
	}
	// And --retry-errors.
	f = claim()
	if _, err := s.Record(ctx, "w", []metadata.Result{{FileID: f.ID, Err: reason}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RetryErrors(ctx, wiki); err != nil || n != 1 || status().BackupStatus != metadata.Pending {
		t.Fatalf("RetryErrors = %d, %v, status %s; want 1 and pending", n, err, status().BackupStatus)
	}
}

// TestMismatchesRelinkAndDrop walks the repair's metadata steps.
func TestMismatchesRelinkAndDrop(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	loc, _ := s.EnsureLocation(ctx, "http://127.0.0.1:9101")
	sum := func(n int) string { return fmt.Sprintf("%064x", n) }
	obj := func(n int) *metadata.Backup {
		return &metadata.Backup{SHA1: sha(n), SHA256: sum(n), Size: 10, LocationID: loc, Bucket: "b", ObjectKey: fmt.Sprint("k/", n), StoredSize: 10}
	}
	vs := []metadata.File{version("A.png", 1, sha(1), metadata.Archived), version("A.png", 2, sha(2), metadata.Public),
		version("C.png", 1, sha(3), metadata.Public), version("D.png", 1, sha(4), metadata.Public)}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Claim(ctx, wiki, "w", 4, time.Minute)
	if err != nil || len(fs) != 4 {
		t.Fatal(fs, err)
	}
	// What the backup wrote before the fix: A's old version with A's new
	// bytes, the new version a duplicate of them; C corrupt in production.
	if _, err := s.Record(ctx, "w", []metadata.Result{
		{FileID: fs[0].ID, SHA1: sha(2), SHA256: sum(2), Size: 10, Backup: obj(2), DownloadedSHA1: sha(2)},
		{FileID: fs[1].ID, SHA1: sha(2), SHA256: sum(2), Size: 10},
		{FileID: fs[2].ID, SHA1: sha(77), SHA256: sum(77), Size: 10, Backup: obj(77), DownloadedSHA1: sha(77)},
		{FileID: fs[3].ID, SHA1: sha(1), SHA256: sum(1), Size: 10, Backup: obj(1), DownloadedSHA1: sha(1)},
	}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Mismatches(ctx, wiki)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s/%s/%s", m.Title, m.Kind, m.ObjectSHA1[len(m.ObjectSHA1)-2:]))
	}
	// D holds A's old bytes: another version's too.
	if strings.Join(got, " ") != "A.png/wrong-version/02 C.png/corrupt/4d D.png/wrong-version/01" {
		t.Fatalf("mismatches: %v", got)
	}
	x, c, d := ms[0].Backup.ID, ms[1].Backup.ID, ms[2].Backup.ID

	// Relink A's old version to its own bytes, already stored (by D):
	// it becomes their duplicate, and the new version owns x again.
	orphan, err := s.Relink(ctx, fs[0].ID, x, ms[2].Backup, "", "test")
	if err != nil || orphan {
		t.Fatalf("Relink = %v, %v; want the old object kept (the new version's)", orphan, err)
	}
	a, _ := s.VersionsOf(ctx, wiki, "A.png")
	if a[0].BackupStatus != metadata.Duplicate || a[0].SHA256 != sum(1) || a[0].DownloadedSHA1 != "" || a[0].Backup.ID != d ||
		a[1].BackupStatus != metadata.BackedUp || a[1].Backup.ID != x {
		t.Errorf("after the relink: %+v / %+v", a[0], a[1])
	}
	if _, err := s.Relink(ctx, fs[0].ID, x, obj(1), "", "test"); !errors.Is(err, metadata.ErrChanged) {
		t.Errorf("a second relink from the old object = %v, want ErrChanged", err)
	}
	// D to new bytes of its own: d is left to A's old version, which
	// becomes its owner.
	orphan, err = s.Relink(ctx, fs[3].ID, d, obj(4), "", "test")
	if err != nil || orphan {
		t.Fatalf("Relink of D = %v, %v", orphan, err)
	}
	a, _ = s.VersionsOf(ctx, wiki, "A.png")
	ds, _ := s.VersionsOf(ctx, wiki, "D.png")
	if a[0].BackupStatus != metadata.BackedUp || ds[0].BackupStatus != metadata.BackedUp || ds[0].Backup.SHA1 != sha(4) {
		t.Errorf("after relinking D: A old %s, D %s on %+v", a[0].BackupStatus, ds[0].BackupStatus, ds[0].Backup)
	}

	// C unlinked as unavailable: its object is no version's.
	orphan, err = s.Relink(ctx, fs[2].ID, c, nil, "nowhere", "test")
	if err != nil || !orphan {
		t.Fatalf("Relink to nothing = %v, %v; want an orphan", orphan, err)
	}
	if cs, _ := s.VersionsOf(ctx, wiki, "C.png"); cs[0].BackupStatus != metadata.Unavailable || cs[0].Backup != nil || cs[0].ErrorReason != "nowhere" {
		t.Errorf("C after the relink: %+v", cs[0])
	}
	un, err := s.UnreferencedBackups(ctx, wiki)
	if err != nil || len(un) != 1 || un[0].ID != c {
		t.Fatalf("UnreferencedBackups = %+v, %v", un, err)
	}
	var removed []string
	remove := func(_ context.Context, b metadata.Backup) error { removed = append(removed, b.ObjectKey); return nil }
	if ok, err := s.DropBackup(ctx, x, remove); ok || err != nil || len(removed) != 0 {
		t.Errorf("DropBackup of an object in use = %v, %v, removed %v; want nothing done", ok, err, removed)
	}
	if ok, err := s.DropBackup(ctx, c, func(context.Context, metadata.Backup) error { return errors.New("server down") }); ok || err == nil {
		t.Errorf("DropBackup with a failing remove = %v, %v; want the error", ok, err)
	}
	if ok, err := s.DropBackup(ctx, c, remove); !ok || err != nil || fmt.Sprint(removed) != "[k/77]" {
		t.Errorf("DropBackup = %v, %v, removed %v", ok, err, removed)
	}
	if un, _ := s.UnreferencedBackups(ctx, wiki); len(un) != 0 {
		t.Errorf("still unreferenced: %+v", un)
	}
	if ms, _ := s.Mismatches(ctx, wiki); len(ms) != 0 {
		t.Errorf("mismatches after the repair: %+v", ms)
	}
}
