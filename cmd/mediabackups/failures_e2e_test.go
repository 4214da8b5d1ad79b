package main_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/sharding"
)

// exitCode runs the binary and returns its exit code and combined output.
func (e *env) exitCode(args ...string) (int, string) {
	e.t.Helper()
	cmd := e.command(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return 0, out.String()
}

// flakyProduction is a production web server with one file of each kind of
// trouble. Its behaviour can be fixed half-way through a test.
type flakyProduction struct {
	big, wrong, broken []byte
	fixed              atomic.Bool
	mu                 sync.Mutex
	hits               map[string]int
}

func (p *flakyProduction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hits[r.URL.Path]++
	p.mu.Unlock()
	switch r.URL.Path {
	case "/big":
		w.Write(p.big)
	case "/wrong-sha1":
		w.Write(p.wrong)
	case "/broken":
		if p.fixed.Load() {
			w.Write(p.broken)
			return
		}
		// Promise the whole file, send a little, hang up.
		w.Header().Set("Content-Length", fmt.Sprint(len(p.broken)))
		w.Write(p.broken[:1000])
		panic(http.ErrAbortHandler)
	default:
		http.NotFound(w, r)
	}
}

func (p *flakyProduction) hitCount(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[path]
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestBackupFailuresAreRecordedAndRetried: a download cut short ends as
// status error with the reason, the rest go on; a 404 of a version the wiki
// serves nowhere else ends as unavailable, with the reason; a sha1 that
// differs from production's and from every version the wiki knows (here:
// none) is downloaded twice, then backed up and listed as a mismatch; a file larger than the memory limit goes through a temporary
// file; no temporary file is left behind; --retry-errors takes the failed
// ones again.
func TestBackupFailuresAreRecordedAndRetried(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	p := &flakyProduction{
		big:    bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16), // 12 MiB: spooled to disk
		wrong:  []byte("these bytes are not what production's sha1 says"),
		broken: bytes.Repeat([]byte("b"), 100000),
		hits:   map[string]int{},
	}
	srv := httptest.NewServer(p)
	defer srv.Close()

	store, err := metadata.Open(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	wikiID, err := store.EnsureWiki(ctx, "testwiki", "public")
	if err != nil {
		t.Fatal(err)
	}
	version := func(title, path, sha1 string) metadata.File {
		return metadata.File{Title: title, Container: "wikipedia-test-local-public", Path: "x/xx/" + title,
			SourceURL: srv.URL + path, SHA1: sha1, Status: metadata.Public, UploadDate: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	}
	claimedSHA1 := sha1hex([]byte("what production claims"))
	if _, err := store.SyncVersions(ctx, wikiID, []metadata.File{
		version("Big.bin", "/big", sha1hex(p.big)),
		version("Wrong_sha1.bin", "/wrong-sha1", claimedSHA1),
		version("Broken.bin", "/broken", sha1hex(p.broken)),
		version("Missing.bin", "/missing", sha1hex([]byte("gone"))),
	}, "test"); err != nil {
		t.Fatal(err)
	}

	code, out := e.exitCode("backup", "--wiki", "testwiki", "--workers", "2")
	if code != 3 {
		t.Fatalf("backup with failures exited %d, want 3 (partial)\n%s", code, out)
	}
	got := map[string]metadata.File{}
	files, err := store.List(ctx, metadata.Filter{WikiID: wikiID})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got[f.Title] = f
	}
	if f := got["Big.bin"]; f.BackupStatus != metadata.BackedUp || f.Backup == nil || f.Backup.Size != int64(len(p.big)) {
		t.Errorf("Big.bin: %s %+v, want backedup with its full size", f.BackupStatus, f.Backup)
	}
	if f := got["Wrong_sha1.bin"]; f.BackupStatus != metadata.BackedUp || f.DownloadedSHA1 != sha1hex(p.wrong) {
		t.Errorf("Wrong_sha1.bin: %s, downloaded sha1 %q; want backedup and the mismatch recorded", f.BackupStatus, f.DownloadedSHA1)
	}
	if n := p.hitCount("/wrong-sha1"); n != 2 {
		t.Errorf("the mismatching file was downloaded %d times, want 2 (one retry)", n)
	}
	for title, want := range map[string]struct {
		status metadata.BackupStatus
		reason string
	}{"Broken.bin": {metadata.Error, "EOF"}, "Missing.bin": {metadata.Unavailable, "404"}} {
		if f := got[title]; f.BackupStatus != want.status || !strings.Contains(f.ErrorReason, want.reason) {
			t.Errorf("%s: %s, reason %q; want %s with a reason mentioning %q", title, f.BackupStatus, f.ErrorReason, want.status, want.reason)
		}
	}
	var mism []struct {
		Title          string `json:"title"`
		ProductionSHA1 string `json:"production_sha1"`
		DownloadedSHA1 string `json:"downloaded_sha1"`
	}
	if err := json.Unmarshal([]byte(e.run("--json", "mismatches", "--wiki", "testwiki")), &mism); err != nil {
		t.Fatal(err)
	}
	if len(mism) != 1 || mism[0].Title != "Wrong_sha1.bin" || mism[0].ProductionSHA1 != claimedSHA1 {
		t.Errorf("mismatches = %+v, want Wrong_sha1.bin alone", mism)
	}
	left, _ := filepath.Glob(filepath.Join(e.Dir, "tmp", "*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// Production recovers: --retry-errors backs up what it can now.
	p.fixed.Store(true)
	code, out = e.exitCode("backup", "--wiki", "testwiki", "--retry-errors")
	if code != 3 {
		t.Fatalf("retry exited %d, want 3 (Missing.bin still fails)\n%s", code, out)
	}
	files, _ = store.List(ctx, metadata.Filter{WikiID: wikiID})
	for _, f := range files {
		want := metadata.BackedUp
		if f.Title == "Missing.bin" {
			want = metadata.Unavailable
		}
		if f.BackupStatus != want {
			t.Errorf("after retry %s is %s, want %s", f.Title, f.BackupStatus, want)
		}
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "tmp")); err != nil {
		t.Errorf("tmpdir: %v", err)
	}
}

// TestInterruptedBackupGivesItsFilesBack: SIGINT mid-download ends the
// backup with exit 130, records nothing half-done, and gives the unfinished
// files back at once, so the next run need not wait for their lease.
func TestInterruptedBackupGivesItsFilesBack(t *testing.T) {
	e := newEnv(t, 5)
	const n = 4
	cmd, out := e.slowBackup(n, "--lease", "1h")
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted backup: %v, want exit 130\n%s", err, out.String())
	}
	var pending int
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM files WHERE backup_status = 'pending' AND worker IS NULL AND lease_until IS NULL").Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != n {
		t.Fatalf("%d of %d files given back as pending after the interrupt\n%s", pending, n, out.String())
	}
	if n := len(e.Objects()); n != 0 {
		t.Errorf("the interrupted backup left objects on %d servers", n)
	}
	// The next run takes them at once, despite the 1 h lease the first had.
	e.run("backup", "--wiki", "testwiki", "--workers", "4")
	for _, r := range e.rows("testwiki") {
		if r.backup != "backedup" || r.attempts != 2 {
			t.Errorf("%s: %s after %d claims, want backedup after 2", r.title, r.backup, r.attempts)
		}
	}
}

// TestServerDownFailsOnlyItsShard: a MinIO server that dies mid-run fails
// the files that shard to it, with the server named in their error; the
// other server's files are backed up; once it is back, --retry-errors
// completes the backup, every object where its shard says.
func TestServerDownFailsOnlyItsShard(t *testing.T) {
	e := newEnv(t, 1)
	own := testsvc.StartOwnMinIO(t)
	shared := e.MinIO.Endpoints
	e.Endpoints = []string{e.Endpoints[0], own.Endpoint}
	e.MinIO.Endpoints = e.Endpoints // so Objects() lists both
	t.Cleanup(func() { e.MinIO.Endpoints = shared })
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public})

	const n = 8
	cmd, out := e.slowBackup(n)
	own.Stop() // mid-download: the uploads to it will fail
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("backup with a server down: %v, want exit 3 (partial)\n%s", err, out.String())
	}
	perShard := map[int]int{}
	for _, r := range e.rows("testwiki") {
		var sha256hex, reason string
		if err := e.DB.QueryRow(`SELECT COALESCE(LOWER(HEX(sha256)), ''), COALESCE(error_reason, '') FROM files WHERE title = ?`, r.title).Scan(&sha256hex, &reason); err != nil {
			t.Fatal(err)
		}
		switch r.backup {
		case "backedup":
			if r.endpoint != e.Endpoints[0] {
				t.Errorf("%s backed up on %s while it was down", r.title, r.endpoint)
			}
			perShard[0]++
		case "error":
			if !strings.Contains(reason, own.Endpoint) {
				t.Errorf("%s failed with %q, which does not name the server %s", r.title, reason, own.Endpoint)
			}
			perShard[1]++
		default:
			t.Errorf("%s is %s, want backedup or error", r.title, r.backup)
		}
	}
	if perShard[0] == 0 || perShard[1] == 0 {
		t.Fatalf("files per shard %v: the test needs both shards used", perShard)
	}

	own.Start()
	code, log := e.exitCode("backup", "--wiki", "testwiki", "--retry-errors")
	if code != 0 {
		t.Fatalf("retry after the server came back: exit %d\n%s", code, log)
	}
	stored := map[string]string{}
	for ep, keys := range e.Objects() {
		for _, k := range keys {
			stored[k] = ep
		}
	}
	for _, r := range e.rows("testwiki") {
		shard, _ := sharding.Shard(r.sha256, 2)
		if r.backup != "backedup" || r.endpoint != e.Endpoints[shard] || stored[r.key] != r.endpoint {
			t.Errorf("%s: %s on %s (stored on %s), want backedup on %s", r.title, r.backup, r.endpoint, stored[r.key], e.Endpoints[shard])
		}
	}
}
