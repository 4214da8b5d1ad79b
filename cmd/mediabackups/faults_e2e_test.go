package main_test

// Fault injection against the real services (issue 8, sections 3 to 5):
// the database going away under a backup, claims left by a killed worker,
// a MinIO server down or hung, and spool files of a killed backup.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/sharding"
)

// useOwnMariaDB moves the test's metadata to a database on own, a MariaDB
// server the test may stop, and applies the schema there.
func (e *env) useOwnMariaDB(own *testsvc.OwnMariaDB) {
	e.t.Helper()
	e.UseOwnMariaDB(own)
	e.WriteConfig(nil,
		testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public},
		testsvc.DeployedWiki{Name: "privatewiki", Type: "private", Wiki: e.private})
	e.run("schema", "apply")
}

// waitExit waits for a started backup, at most limit, and returns its exit
// code and how long it ran after the call.
func waitExit(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the backup still ran after %s\n%s", limit, out.String())
		return -1
	}
}

// TestDatabaseBlipMidBackup: MariaDB stopped for 20 s while a backup holds
// its files mid-download. The backup waits for it, keeps what it
// downloaded and uploaded, records it once the database is back, and ends
// complete: exit 0, nothing processing, no orphan object.
func TestDatabaseBlipMidBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	own := testsvc.StartOwnMariaDB(t)
	e.useOwnMariaDB(own)
	const n = 8
	cmd, out := e.slowBackup(n)
	t0 := time.Now()
	own.Stop()
	time.Sleep(20 * time.Second)
	own.Start()
	code := waitExit(t, cmd, out, 3*time.Minute)
	t.Logf("backup ended %s after the database went away (exit %d)", time.Since(t0).Round(100*time.Millisecond), code)
	if code != 0 {
		t.Fatalf("backup across a 20 s database outage exited %d, want 0\n%s", code, out.String())
	}
	if got := e.countStatus("backedup"); got != n {
		t.Errorf("%d of %d files backed up\n%s", got, n, out.String())
	}
	if !strings.Contains(out.String(), "database") {
		t.Errorf("the backup did not say that it waited for the database:\n%s", out.String())
	}

	e.CheckEndState(e.t)
}

// TestDatabaseGoneTooLongGivesClaimsBack: when the database stays away
// longer than --db-wait, the backup gives up (exit 1, saying why), and
// gives its files back as soon as the database answers again, so the next
// run takes them at once; that run completes the backup.
func TestDatabaseGoneTooLongGivesClaimsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	own := testsvc.StartOwnMariaDB(t)
	e.useOwnMariaDB(own)
	const n = 4
	cmd, out := e.slowBackup(n, "--db-wait", "3s", "--lease", "1h")
	own.Stop()
	time.Sleep(10 * time.Second)
	own.Start()
	code := waitExit(t, cmd, out, 2*time.Minute)
	if code != 1 || !strings.Contains(out.String(), "database stayed unreachable") {
		t.Fatalf("backup with the database gone longer than --db-wait: exit %d, want 1 saying why\n%s", code, out.String())
	}
	var held int
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM files WHERE backup_status = 'processing' OR worker IS NOT NULL").Scan(&held); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Fatalf("%d files still claimed after the run gave up and the database came back\n%s", held, out.String())
	}
	t.Logf("the run that gave up:\n%s", out.String())
	e.run("backup", "--wiki", "testwiki")
	if got := e.countStatus("backedup"); got != n {
		t.Errorf("after the next run %d of %d files are backed up", got, n)
	}
	e.CheckEndState(e.t)
}

// TestKilledWorkerClaimsAreReported: a backup that starts while a killed
// backup's claims are still live says so, with the number of files and
// when their leases end, in a WARNING and in --json.
func TestKilledWorkerClaimsAreReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	const n = 4
	cmd, out := e.slowBackup(n, "--lease", "1h")
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()

	run := e.command("--json", "backup", "--wiki", "testwiki")
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("backup after the kill: %v\n%s%s\n(killed backup:\n%s)", err, stdout.String(), stderr.String(), out.String())
	}
	var res struct {
		Held []struct {
			Wiki, Worker, State string
			Files               int
			LeaseEnds           time.Time `json:"lease_ends"`
		} `json:"claims_held_elsewhere"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if len(res.Held) != 1 {
		t.Fatalf("claims_held_elsewhere = %+v, want the killed worker's\n%s", res.Held, stdout.String())
	}
	h := res.Held[0]
	if h.Wiki != "testwiki" || h.Files != n || h.State != "gone" || !strings.Contains(h.Worker, fmt.Sprintf(":%d:", cmd.Process.Pid)) {
		t.Errorf("held claims %+v, want %d files of testwiki held by the killed pid %d, gone", h, n, cmd.Process.Pid)
	}
	if end := h.LeaseEnds.Sub(killed); end < 59*time.Minute || end > 61*time.Minute {
		t.Errorf("the leases end %s after the kill, want about 1h", end)
	}
	warn := ""
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, fmt.Sprintf("files=%d", n)) && strings.Contains(l, "leases_end=") {
			warn = l
		}
	}
	if warn == "" || !strings.Contains(warn, "no longer running") {
		t.Errorf("no WARNING about the %d files held by the killed backup:\n%s", n, stderr.String())
	}
}

// withOwnMinIO makes the deployment's second server a MinIO of the test's
// own (which it may stop, kill or freeze), keeping the first shared one.
func (e *env) withOwnMinIO() *testsvc.OwnMinIO {
	e.t.Helper()
	own := testsvc.StartOwnMinIO(e.t)
	shared := e.MinIO.Endpoints
	e.Endpoints = []string{e.Endpoints[0], own.Endpoint}
	e.MinIO.Endpoints = e.Endpoints // so Objects() and the cleanup see both
	e.t.Cleanup(func() { e.MinIO.Endpoints = shared })
	e.WriteConfig(nil,
		testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public},
		testsvc.DeployedWiki{Name: "privatewiki", Type: "private", Wiki: e.private})
	return own
}

// production serves generated files at /0, /1, ...; hook, when set, runs
// before each answer with the number of requests so far; trickle, when
// set, is the pause after each 256 KiB sent.
type production struct {
	files   [][]byte
	trickle time.Duration
	mu      sync.Mutex
	n       int
	hook    func(n int)
}

func (p *production) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var i int
	if _, err := fmt.Sscanf(r.URL.Path, "/%d", &i); err != nil || i < 0 || i >= len(p.files) {
		http.NotFound(w, r)
		return
	}
	p.mu.Lock()
	p.n++
	n, hook := p.n, p.hook
	p.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(p.files[i])))
	if p.trickle == 0 {
		w.Write(p.files[i])
		return
	}
	for b := p.files[i]; len(b) > 0; b = b[min(len(b), 256<<10):] {
		if _, err := w.Write(b[:min(len(b), 256<<10)]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(p.trickle):
		}
	}
}

// register makes n files of size bytes, serves them from a production of
// their own, and records them as pending versions of testwiki, all
// uploaded at the same second (so that --upload-date finds them all).
func (e *env) register(n, size int, uploaded time.Time) *production {
	e.t.Helper()
	p := &production{}
	for range n {
		b := make([]byte, size)
		rand.Read(b)
		p.files = append(p.files, b)
	}
	e.serve(p, "testwiki", "public", uploaded)
	return p
}

// serve serves p's files and records them as pending versions of wiki.
func (e *env) serve(p *production, wiki, typ string, uploaded time.Time) {
	t := e.t
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	store, err := metadata.Open(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	wikiID, err := store.EnsureWiki(ctx, wiki, typ)
	if err != nil {
		t.Fatal(err)
	}
	var vs []metadata.File
	for i, b := range p.files {
		vs = append(vs, metadata.File{
			Title: fmt.Sprintf("Gen_%03d.bin", i), Container: "wikipedia-test-local-public", Path: fmt.Sprintf("g/ge/Gen_%03d.bin", i),
			SourceURL: fmt.Sprintf("%s/%d", srv.URL, i), SHA1: sha1hex(b), Size: int64(len(b)),
			Status: metadata.Public, UploadDate: uploaded,
		})
	}
	if _, err := store.SyncVersions(ctx, wikiID, vs, "test"); err != nil {
		t.Fatal(err)
	}
}

// shardOf returns the index of the configured server a version's content
// goes to.
func (e *env) shardOf(data []byte) int {
	sum := sha256.Sum256(data)
	i, err := sharding.Shard(hex.EncodeToString(sum[:]), len(e.Endpoints))
	if err != nil {
		e.t.Fatal(err)
	}
	return i
}

// checkServerDownErrors checks that every file in error failed because of
// the server at endpoint, with one clear error that names it and says what
// to do, and returns how many there are.
func (e *env) checkServerDownErrors(endpoint string) int {
	t := e.t
	t.Helper()
	rs, err := e.DB.Query("SELECT title, error_reason FROM files WHERE backup_status = 'error'")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		var title, reason string
		if err := rs.Scan(&title, &reason); err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.Contains(reason, endpoint) || !strings.Contains(reason, "backup --retry-errors") {
			t.Errorf("%s failed with %q: it should name the server %s and say to run backup --retry-errors", title, reason, endpoint)
		}
		if c := strings.Count(reason, endpoint); c > 1 {
			t.Errorf("%s: the error names the server %d times: %q", title, c, reason)
		}
	}
	return n
}

// TestMinIODownAtStart: with one of two MinIO servers down when the backup
// starts, the files of the other are backed up and those of the down one
// fail at once with one clear error each (exit 3, a line for the server);
// once it is back, backup --retry-errors completes the backup.
func TestMinIODownAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	own := e.withOwnMinIO()
	const n = 40
	p := e.register(n, 20000, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	wantDown := 0
	for _, b := range p.files {
		if e.shardOf(b) == 1 {
			wantDown++
		}
	}
	if wantDown == 0 || wantDown == n {
		t.Fatalf("%d of %d files go to the second server: the test needs both used", wantDown, n)
	}
	own.Stop()
	start := time.Now()
	code, out := e.exitCode("backup", "--wiki", "testwiki", "--workers", "4")
	took := time.Since(start)
	t.Logf("backup with one server down from the start: %s, exit %d", took.Round(10*time.Millisecond), code)
	if code != 3 {
		t.Fatalf("backup with a server down at start exited %d, want 3\n%s", code, out)
	}
	if got := e.countStatus("backedup"); got != n-wantDown {
		t.Errorf("%d files backed up, want the %d of the server that is up\n%s", got, n-wantDown, out)
	}
	if got := e.checkServerDownErrors(own.Endpoint); got != wantDown {
		t.Errorf("%d files in error, want the %d of the down server", got, wantDown)
	}
	if !strings.Contains(out, fmt.Sprintf("server %s did not answer", own.Endpoint)) || !strings.Contains(out, fmt.Sprintf("%d files not backed up", wantDown)) {
		t.Errorf("no line for the down server with its %d files:\n%s", wantDown, out)
	}
	if took > 20*time.Second {
		t.Errorf("the backup took %s with a server down from the start", took)
	}
	own.Start()
	code, out = e.exitCode("backup", "--wiki", "testwiki", "--retry-errors")
	if code != 0 {
		t.Fatalf("backup --retry-errors once the server is back: exit %d\n%s", code, out)
	}
	if got := e.countStatus("backedup"); got != n {
		t.Errorf("%d of %d files backed up after the retry", got, n)
	}
	e.CheckEndState(e.t)
}

// TestMinIODownMidRunFailsFast: one of two MinIO servers dies a quarter
// into the run. Its remaining files fail at once (the breaker), with one
// clear error each, the other server's files are backed up, and the run
// ends quickly; --retry-errors finishes once it is back. Before, each file
// of the dead server retried for seconds.
func TestMinIODownMidRunFailsFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	own := e.withOwnMinIO()
	const n = 80
	p := e.register(n, 20000, time.Date(2025, 4, 2, 0, 0, 0, 0, time.UTC))
	var once sync.Once
	p.hook = func(i int) {
		if i == n/4 {
			once.Do(own.Stop)
		}
	}
	start := time.Now()
	code, out := e.exitCode("backup", "--wiki", "testwiki", "--workers", "4")
	took := time.Since(start)
	t.Logf("backup with one server dying mid-run: %s, exit %d", took.Round(10*time.Millisecond), code)
	if code != 3 {
		t.Fatalf("backup with a server dying mid-run exited %d, want 3\n%s", code, out)
	}
	failed := e.checkServerDownErrors(own.Endpoint)
	backedUp := e.countStatus("backedup")
	if failed == 0 || backedUp+failed != n {
		t.Errorf("%d backed up and %d failed of %d", backedUp, failed, n)
	}
	var onOwn int
	if err := e.DB.QueryRow(`SELECT COUNT(*) FROM files f JOIN backups b ON b.id = f.backup_id JOIN locations l ON l.id = b.location_id
		WHERE l.endpoint = ?`, own.Endpoint).Scan(&onOwn); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files backed up (%d on the server before it died), %d failed fast", backedUp, onOwn, failed)
	if !strings.Contains(out, "MinIO server does not answer") {
		t.Errorf("no warning that the server stopped answering:\n%s", out)
	}
	if took > 20*time.Second {
		t.Errorf("the run took %s: the files of the dead server should fail fast", took)
	}
	own.Start()
	start = time.Now()
	code, out = e.exitCode("backup", "--wiki", "testwiki", "--retry-errors")
	t.Logf("backup --retry-errors once it is back: %s, exit %d", time.Since(start).Round(10*time.Millisecond), code)
	if code != 0 {
		t.Fatalf("backup --retry-errors once the server is back: exit %d\n%s", code, out)
	}
	if got := e.countStatus("backedup"); got != n {
		t.Errorf("%d of %d files backed up after the retry", got, n)
	}
	e.CheckEndState(e.t)
}

// TestRestoreWithAHungServer: a MinIO server SIGSTOPped under a restore
// (it accepts connections but answers nothing). The files on the other
// server are restored, those on the hung one fail within --timeout, and
// the restore exits 3.
func TestRestoreWithAHungServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	own := e.withOwnMinIO()
	const n = 16
	uploaded := time.Date(2025, 4, 3, 0, 0, 0, 0, time.UTC)
	p := e.register(n, 2<<20, uploaded)
	e.run("backup", "--wiki", "testwiki")
	onHung := 0
	for _, b := range p.files {
		if e.shardOf(b) == 1 {
			onHung++
		}
	}
	if onHung == 0 || onHung == n {
		t.Fatalf("%d of %d files on the second server: the test needs both used", onHung, n)
	}
	target := t.TempDir()
	const timeout = 3 * time.Second
	cmd := e.command("restore", "--wiki", "testwiki", "--upload-date", uploaded.Format("2006-01-02 15:04:05"),
		"--target", target, "--yes", "--parallel", "4", "--timeout", timeout.String())
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Frozen before the restore starts: frozen once it has started, the
	// server could serve a file or two first on a busy machine, and which
	// ones it served would be a race.
	own.Freeze()
	defer own.Thaw()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := waitExit(t, cmd, &out.Buffer, 2*time.Minute)
	took := time.Since(start)
	t.Logf("restore with a hung server: %s, exit %d", took.Round(10*time.Millisecond), code)
	if code != 3 {
		t.Fatalf("restore with a hung server exited %d, want 3\n%s", code, out.String())
	}
	written := map[string]bool{}
	entries, _ := os.ReadDir(target)
	for _, de := range entries {
		b, err := os.ReadFile(filepath.Join(target, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		written[sha1hex(b)] = true
	}
	for i, b := range p.files {
		onOwn := e.shardOf(b) == 1
		if written[sha1hex(b)] == onOwn {
			t.Errorf("Gen_%03d.bin (on the hung server: %v): written %v", i, onOwn, written[sha1hex(b)])
		}
	}
	if len(entries) != n-onHung {
		t.Errorf("%d files in the target, want the %d of the server that answers", len(entries), n-onHung)
	}
	if got := strings.Count(out.String(), "restore failed"); got != onHung {
		t.Errorf("%d restore failures logged, want %d\n%s", got, onHung, out.String())
	}
	if !strings.Contains(out.String(), own.Endpoint) {
		t.Errorf("the failures do not name the hung server %s:\n%s", own.Endpoint, out.String())
	}
	// Three files wait for the timeout at most twice over (--parallel 4,
	// three failures open the breaker); the rest fail at once.
	if took > 2*timeout+10*time.Second {
		t.Errorf("the restore took %s with a %s timeout", took, timeout)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// TestKilledBackupLeavesNoSpool: kill -9 of a backup of a private wiki
// while it spools large downloads. At no moment does the spool hold
// plaintext, in tmpdir or in the files the process has open, and nothing
// is left in tmpdir afterwards; spool files left by older versions are
// removed by the next run.
func TestKilledBackupLeavesNoSpool(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	marker := []byte("PLAINTEXT-MARKER ")
	// What an older version killed mid-run left behind.
	if err := os.MkdirAll(e.TmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(e.TmpDir, "mediabackups-1234567.part")
	if err := os.WriteFile(leftover, bytes.Repeat(marker, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	e.run("backup", "--wiki", "testwiki")
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spool file an older run left is still there (%v)", err)
		os.Remove(leftover) // and go on with the kill -9
	}

	const n, size = 4, 24 << 20 // above the 8 MiB kept in memory
	p := &production{trickle: 20 * time.Millisecond}
	for i := range n {
		p.files = append(p.files, bytes.Repeat([]byte(fmt.Sprintf("PLAINTEXT-MARKER %d ", i)), size/19)) // every 19 bytes
	}
	e.serve(p, "privatewiki", "private", time.Date(2025, 4, 4, 0, 0, 0, 0, time.UTC))
	cmd := e.command("backup", "--wiki", "privatewiki", "--workers", fmt.Sprint(n))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	fdDir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
	// plain reports whether the first MiB of the file at path holds
	// plaintext.
	plain := func(path string) bool {
		f, err := os.Open(path)
		if err != nil {
			return false // closed meanwhile
		}
		defer f.Close()
		b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		return bytes.Contains(b, []byte("PLAINTEXT-MARKER"))
	}
	deadline := time.Now().Add(60 * time.Second)
	seen := false // plaintext seen
	for {
		entries, _ := os.ReadDir(e.TmpDir)
		for _, de := range entries {
			if plain(filepath.Join(e.TmpDir, de.Name())) {
				t.Errorf("plaintext of the private wiki in %s", filepath.Join(e.TmpDir, de.Name()))
				seen = true
			}
		}
		fds, _ := os.ReadDir(fdDir)
		spools := 0
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, e.TmpDir+"/") {
				continue
			}
			if plain(filepath.Join(fdDir, fd.Name())) {
				t.Errorf("plaintext of the private wiki in the spool file %s the backup has open", link)
				seen = true
			}
			if st, err := os.Stat(filepath.Join(fdDir, fd.Name())); err == nil && st.Size() > 8<<20 {
				spools++
			}
		}
		if spools == n || seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backup never held %d large spool files at once\n%s", n, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill() // kill -9
	cmd.Wait()
	if left, _ := os.ReadDir(e.TmpDir); len(left) != 0 {
		var names []string
		for _, de := range left {
			names = append(names, de.Name())
		}
		t.Errorf("left in tmpdir after kill -9: %v", names)
	}
}
