package main_test

// End-to-end tests of the mediabackups binary against the real services
// testenv/up.sh starts: MariaDB, five MinIO servers, and the public and
// private MediaWiki test wikis (populated by testenv/testwiki/populate.sh).

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/sharding"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mediabackups-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mediabackups")
	out, err := exec.Command("go", testsvc.BuildArgs(binary, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build mediabackups: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's world: its own deployment (database, bucket, config,
// age identity) and the shared read-only test wikis.
type env struct {
	t *testing.T
	*testsvc.Deployment
	public  testsvc.Wiki
	private testsvc.Wiki
}

func newEnv(t *testing.T, servers int) *env {
	t.Helper()
	e := &env{t: t, Deployment: testsvc.NewDeployment(t, servers)}
	e.public, e.private = testsvc.PublicWiki(t), testsvc.PrivateWiki(t)
	e.WriteConfig(nil,
		testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public},
		testsvc.DeployedWiki{Name: "privatewiki", Type: "private", Wiki: e.private})
	e.run("schema", "apply")
	return e
}

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append([]string{"--config", e.ConfigPath}, args...)...)
	cmd.Env = append(os.Environ(), "MEDIABACKUPS_CONFIG=")
	return cmd
}

// run runs the binary and fails the test unless it exits 0.
func (e *env) run(args ...string) string {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("mediabackups %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// summary is the part of populate.sh's summary the tests use.
type summary struct {
	Files []struct {
		Name     string `json:"name"`
		Versions []struct {
			Status    string `json:"status"`
			Timestamp string `json:"timestamp"`
			SHA1      string `json:"sha1"`
			Hidden    bool   `json:"hidden"`
		} `json:"versions"`
	} `json:"files"`
}

func readSummary(t *testing.T, w testsvc.Wiki) summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.Dir, "populate-summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

type row struct {
	title, status, backup, sha1, sha256, endpoint, key, uploaded string
	attempts                                                     int
}

func (e *env) rows(wiki string) []row {
	e.t.Helper()
	rs, err := e.DB.Query(`SELECT f.title, f.production_status, f.backup_status, HEX(f.sha1), COALESCE(HEX(f.sha256), ''),
		COALESCE(l.endpoint, ''), COALESCE(b.object_key, ''), f.attempts,
		DATE_FORMAT(f.upload_date, '%Y-%m-%dT%H:%i:%sZ')
		FROM files f JOIN wikis w ON w.id = f.wiki_id LEFT JOIN backups b ON b.id = f.backup_id
		LEFT JOIN locations l ON l.id = b.location_id WHERE w.name = ? ORDER BY f.id`, wiki)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.title, &r.status, &r.backup, &r.sha1, &r.sha256, &r.endpoint, &r.key, &r.attempts, &r.uploaded); err != nil {
			e.t.Fatal(err)
		}
		r.sha1, r.sha256 = strings.ToLower(r.sha1), strings.ToLower(r.sha256)
		out = append(out, r)
	}
	return out
}

// checkWiki checks that every visible version of the wiki is backed up
// exactly once per distinct content, on the shard its sha256 names, and
// that each object holds the right bytes (decrypting private ones with the
// reference age CLI).
func (e *env) checkWiki(wiki string, w testsvc.Wiki, encrypted bool) {
	t := e.t
	t.Helper()
	sum := readSummary(t, w)
	want := map[string]string{} // title|upload time|sha1 -> status
	for _, f := range sum.Files {
		for _, v := range f.Versions {
			st := v.Status
			if v.Hidden {
				st = "deleted" // revision-deleted: its bytes are in the deleted zone
			}
			want[f.Name+"|"+v.Timestamp+"|"+v.SHA1] = st
		}
	}
	rows := e.rows(wiki)
	if len(rows) != len(want) {
		t.Errorf("%s: %d versions in the metadata, want %d", wiki, len(rows), len(want))
	}
	objects := e.Objects()
	stored := map[string]string{} // key -> endpoint
	for ep, keys := range objects {
		for _, k := range keys {
			if prev, dup := stored[k]; dup {
				t.Errorf("object %s is on %s and on %s", k, prev, ep)
			}
			stored[k] = ep
		}
	}
	owner := map[string]string{} // sha256 -> title that got the object
	for _, r := range rows {
		if st, ok := want[r.title+"|"+r.uploaded+"|"+r.sha1]; !ok || st != r.status {
			t.Errorf("%s: %s (uploaded %s, sha1 %s) has status %s, production says %q", wiki, r.title, r.uploaded, r.sha1, r.status, st)
		}
		switch r.backup {
		case "backedup":
			if prev, dup := owner[r.sha256]; dup {
				t.Errorf("%s: content %s backed up twice (%s and %s)", wiki, r.sha256, prev, r.title)
			}
			owner[r.sha256] = r.title
		case "duplicate":
		default:
			t.Errorf("%s: %s is %s, want backedup or duplicate", wiki, r.title, r.backup)
			continue
		}
		wantKey := fmt.Sprintf("%s/%s/%s", wiki, r.sha256[:3], r.sha256)
		if encrypted {
			wantKey += ".age"
		}
		if r.key != wantKey {
			t.Errorf("%s: object key %q, want %q", r.title, r.key, wantKey)
		}
		shard, err := sharding.Shard(r.sha256, len(e.Endpoints))
		if err != nil {
			t.Fatal(err)
		}
		if r.endpoint != e.Endpoints[shard] || stored[r.key] != r.endpoint {
			t.Errorf("%s: object recorded on %q, stored on %q, shard says %q", r.title, r.endpoint, stored[r.key], e.Endpoints[shard])
		}
	}
	// Every stored object of this wiki belongs to exactly one backedup row.
	n := 0
	for k := range stored {
		if strings.HasPrefix(k, wiki+"/") {
			n++
		}
	}
	if n != len(owner) {
		t.Errorf("%s: %d objects stored, %d distinct contents backed up", wiki, n, len(owner))
	}
	// The bytes: sha256 of the plaintext matches; encrypted objects decrypt
	// with the age CLI, and the plaintext itself is not in MinIO.
	for sha, title := range owner {
		key := fmt.Sprintf("%s/%s/%s", wiki, sha[:3], sha)
		if encrypted {
			key += ".age"
		}
		data := e.Get(stored[key], key)
		plain := data
		if encrypted {
			plain = e.ageDecrypt(data)
			if bytes.Contains(data, plain) {
				t.Errorf("%s: the plaintext is inside the stored object", title)
			}
		}
		if got := sha256.Sum256(plain); hex.EncodeToString(got[:]) != sha {
			t.Errorf("%s: stored bytes have sha256 %x, want %s", title, got, sha)
		}
	}
}

func (e *env) ageDecrypt(data []byte) []byte {
	e.t.Helper()
	bin, err := exec.LookPath("age")
	if err != nil {
		testsvc.Need(e.t, "AGE_CLI_MISSING") // skips, or fails under CI
	}
	idFile := e.IdentityFile
	cmd := exec.Command(bin, "-d", "-i", idFile)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("age -d: %v: %s", err, stderr.String())
	}
	return out.Bytes()
}

func TestBackupPublicAndPrivateWikis(t *testing.T) {
	e := newEnv(t, 5)
	for _, w := range []string{"testwiki", "privatewiki"} {
		e.run("inventory", "--wiki", w)
	}
	e.run("backup", "--workers", "4")
	e.checkWiki("testwiki", e.public, false)
	e.checkWiki("privatewiki", e.private, true)

	// Identical content under two titles: one object, one duplicate.
	rows := e.rows("testwiki")
	status := map[string]string{}
	for _, r := range rows {
		status[r.title] = r.backup
	}
	if a, b := status["Duplicate_A.png"], status["Duplicate_B.png"]; !(a == "backedup" && b == "duplicate" || a == "duplicate" && b == "backedup") {
		t.Errorf("Duplicate_A/B: %s and %s, want one backedup and one duplicate", a, b)
	}

	// A second inventory + backup uploads nothing.
	before := e.Objects()
	var inv struct{ Added, Changed int }
	if err := json.Unmarshal([]byte(e.run("--json", "inventory", "--wiki", "testwiki")), &inv); err != nil {
		t.Fatal(err)
	}
	if inv.Added != 0 || inv.Changed != 0 {
		t.Errorf("second inventory: %+v, want nothing added or changed", inv)
	}
	var st struct{ Total struct{ Files int } }
	if err := json.Unmarshal([]byte(e.run("--json", "backup")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Total.Files != 0 {
		t.Errorf("second backup processed %d files, want 0", st.Total.Files)
	}
	after := e.Objects()
	for ep := range after {
		if len(after[ep]) != len(before[ep]) {
			t.Errorf("%s: %d objects before the second run, %d after", ep, len(before[ep]), len(after[ep]))
		}
	}
	out := e.run("status")
	if !strings.Contains(out, "backedup") {
		t.Errorf("status output lacks counts:\n%s", out)
	}
}

func TestShardingWithOneAndFourServers(t *testing.T) {
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newEnv(t, n)
			e.run("inventory", "--wiki", "testwiki")
			e.run("backup", "--wiki", "testwiki")
			e.checkWiki("testwiki", e.public, false)
			used := 0
			for ep, keys := range e.Objects() {
				if len(keys) > 0 {
					used++
				}
				found := false
				for _, c := range e.Endpoints {
					found = found || c == ep
				}
				if !found {
					t.Errorf("objects on %s, which is not configured", ep)
				}
			}
			if n > 1 && used < 2 {
				t.Errorf("all objects on %d server(s) of %d", used, n)
			}
		})
	}
}

func TestConcurrentBackupProcesses(t *testing.T) {
	e := newEnv(t, 5)
	e.run("inventory", "--wiki", "testwiki")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 3 {
		cmd := e.command("backup", "--wiki", "testwiki", "--workers", "2", "--batch", "3")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &buf)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("backup process %d: %v\n%s", i, err, outs[i])
		}
	}
	e.checkWiki("testwiki", e.public, false)
	for _, r := range e.rows("testwiki") {
		if r.attempts != 1 {
			t.Errorf("%s was claimed %d times, want once", r.title, r.attempts)
		}
	}
}

// slowProduction serves n generated files of 96 KiB, each trickling out
// over about three seconds, so that a backup can be killed mid-download.
func slowProduction(t *testing.T, n int) (*httptest.Server, [][]byte) {
	files := make([][]byte, n)
	for i := range files {
		files[i] = bytes.Repeat([]byte(fmt.Sprintf("slow file %d\n", i)), 96<<10/12)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/%d", &i); err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		body := files[i]
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		for off := 0; off < len(body); off += 1 << 10 {
			if _, err := w.Write(body[off:min(off+1<<10, len(body))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, files
}

// slowBackup registers n slowly served files as pending versions of
// testwiki, starts `backup` with args, and returns once it holds all of
// them mid-download, with its combined output.
func (e *env) slowBackup(n int, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	srv, files := slowProduction(t, n)
	store, err := metadata.Open(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	wikiID, err := store.EnsureWiki(ctx, "testwiki", "public")
	if err != nil {
		t.Fatal(err)
	}
	var versions []metadata.File
	for i, b := range files {
		sum := sha1.Sum(b)
		versions = append(versions, metadata.File{
			Title: fmt.Sprintf("Slow_%d.txt", i), Container: "wikipedia-test-local-public", Path: fmt.Sprintf("s/sl/Slow_%d.txt", i),
			SourceURL: fmt.Sprintf("%s/%d", srv.URL, i), SHA1: hex.EncodeToString(sum[:]), Size: int64(len(b)),
			Status: metadata.Public, UploadDate: time.Date(2025, 2, 1, 0, 0, i, 0, time.UTC),
		})
	}
	if _, err := store.SyncVersions(ctx, wikiID, versions, "test"); err != nil {
		t.Fatal(err)
	}
	cmd := e.command(append([]string{"backup", "--wiki", "testwiki", "--workers", fmt.Sprint(n)}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var held int
		if err := e.DB.QueryRow("SELECT COUNT(*) FROM files WHERE backup_status = 'processing'").Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held == n {
			return cmd, &out
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the backup never held all %d files (holds %d)\n%s", n, held, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKilledWorkerClaimsAreTakenOverAfterTheLease(t *testing.T) {
	e := newEnv(t, 5)
	const lease = 6 * time.Second
	cmd, _ := e.slowBackup(4, "--lease", lease.String())
	cmd.Process.Kill() // SIGKILL, mid-download
	cmd.Wait()

	// While the lease runs, a new process leaves the claims alone.
	var st struct{ Total struct{ Files int } }
	if err := json.Unmarshal([]byte(e.run("--json", "backup", "--wiki", "testwiki")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Total.Files != 0 {
		t.Fatalf("a backup during the lease processed %d files, want 0", st.Total.Files)
	}
	if len(e.Objects()) != 0 {
		t.Fatalf("objects stored by the killed process: %v", e.Objects())
	}
	// After the lease, the next run takes them over.
	for {
		var live int
		if err := e.DB.QueryRow("SELECT COUNT(*) FROM files WHERE lease_until >= UTC_TIMESTAMP()").Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.run("backup", "--wiki", "testwiki", "--workers", "4")
	for _, r := range e.rows("testwiki") {
		if r.backup != "backedup" || r.attempts != 2 {
			t.Errorf("%s: %s after %d claims, want backedup after 2", r.title, r.backup, r.attempts)
		}
	}
}
