package main_test

// End-to-end tests of issue 8, section 1: a version must never be stored
// with another version's bytes. Each test has a fresh wiki of its own
// (FreshWiki slots 10 to 13), changed through its API (and, for faults of
// production's own storage, on its disk), and ends with
// testsvc.CheckEndState.

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// newFreshEnv is a deployment whose only wiki, testwiki, is a fresh public
// wiki of the test's own on slot, sharded like Commons.
func newFreshEnv(t *testing.T, name string, slot int) (*env, testsvc.Wiki) {
	t.Helper()
	e := newEnv(t, 3)
	fw := testsvc.FreshWiki(t, name, slot, false)
	e.writeUpdateConfig(fw, map[string]string{"testwiki": fw.API}, "public")
	return e, fw
}

// backupStats is the JSON of `mediabackups --json backup`.
type backupStats struct {
	Total struct {
		Files, BackedUp, Duplicate, Error, Unavailable, Relocated int
		Mismatches                                                int `json:"sha1_mismatches"`
	}
}

// backupJSON runs a backup with --json and returns its exit code, totals
// and combined output.
func (e *env) backupJSON(args ...string) (int, backupStats, string) {
	e.t.Helper()
	cmd := e.command(append([]string{"--json", "backup", "--wiki", "testwiki"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	var st backupStats
	// On failure the JSON error object follows the stats: read the first.
	json.NewDecoder(&stdout).Decode(&st)
	return code, st, stdout.String() + stderr.String()
}

// versionRow is one version of a title as the metadata has it.
type versionRow struct {
	ID                                   int64
	Status, Backup, SHA1, SHA256, Reason string
	Downloaded                           string // downloaded_sha1
}

// versionsOf returns the recorded versions of a title, oldest first.
func (e *env) versionsOf(title string) []versionRow {
	e.t.Helper()
	rs, err := e.DB.Query(`SELECT id, production_status, backup_status, LOWER(HEX(sha1)), COALESCE(LOWER(HEX(sha256)), ''),
		COALESCE(error_reason, ''), COALESCE(LOWER(HEX(downloaded_sha1)), '') FROM files WHERE title = ? ORDER BY upload_date, id`, title)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []versionRow
	for rs.Next() {
		var v versionRow
		if err := rs.Scan(&v.ID, &v.Status, &v.Backup, &v.SHA1, &v.SHA256, &v.Reason, &v.Downloaded); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// countStatus returns how many versions have backup status st.
func (e *env) countStatus(st string) int {
	e.t.Helper()
	var n int
	if err := e.DB.QueryRow(`SELECT COUNT(*) FROM files WHERE backup_status = ?`, st).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// imageInfo is one version as the wiki's API reports it.
type imageInfo struct {
	URL, SHA1, ArchiveName string
}

// versionsAPI returns the versions of a file from the API, newest first.
func (w *wikiAPI) versionsAPI(title string) []imageInfo {
	w.t.Helper()
	var r struct {
		Query struct {
			Pages []struct{ ImageInfo []imageInfo }
		}
	}
	if err := json.Unmarshal(w.get(url.Values{"action": {"query"}, "prop": {"imageinfo"}, "titles": {"File:" + title},
		"iiprop": {"url|sha1|archivename"}, "iilimit": {"max"}}), &r); err != nil {
		w.t.Fatal(err)
	}
	if len(r.Query.Pages) == 0 {
		return nil
	}
	return r.Query.Pages[0].ImageInfo
}

// diskPath returns where a fresh wiki keeps the bytes it serves at u.
func diskPath(t *testing.T, w testsvc.Wiki, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(p.Path, "/images/")
	if i < 0 {
		t.Fatalf("URL %s is not under /images/", u)
	}
	return filepath.Join(w.Dir, "images", filepath.FromSlash(p.Path[i+len("/images/"):]))
}

// overwrite uploads new bytes for a file through the API.
func (w *wikiAPI) overwrite(title string, n int) {
	w.t.Helper()
	w.upload(title, pngBytes(100+n))
}

// TestOverwriteBetweenListingAndBackup is the fault campaign's scenario
// without a follower: versions are listed (pending), then the wiki
// overwrites, moves and deletes their files, and the backup runs before
// `update` has seen any of it. Every version must get its own bytes, from
// wherever production serves it now; before the fix the old versions were
// stored with the new versions' bytes (CheckEndState fails).
func TestOverwriteBetweenListingAndBackup(t *testing.T) {
	t.Parallel()
	e, fw := newFreshEnv(t, "wrongbytes-overwrite", 10)
	e.run("inventory", "--wiki", "testwiki")

	changed := time.Now()
	w := newWikiAPI(t, fw.API)
	w.overwrite("Simple.png", 1)      // its old bytes: the archive URL, or the deleted Deleted_copy.png
	w.overwrite("Wow!Amazing.png", 2) // a file that already had an old version
	w.overwrite("Duplicate_A.png", 3) // whose old bytes are Duplicate_B.png's too
	// Overwritten, then moved: the recorded URL serves nothing; the old
	// title redirects to the new one.
	w.overwrite("Ελληνικά_γράμματα.png", 4)
	w.do(url.Values{"action": {"move"}, "from": {"File:Ελληνικά γράμματα.png"}, "to": {"File:Moved Greek.png"},
		"reason": {"wrongbytes test"}}, nil)
	// Overwritten, then deleted: both versions are in the deleted zone.
	w.overwrite("Percent_100%_sure.png", 5)
	w.do(url.Values{"action": {"delete"}, "title": {"File:Percent 100% sure.png"}, "reason": {"wrongbytes test"}}, nil)

	code, st, out := e.backupJSON("--workers", "4")
	if code != 0 || st.Total.Error+st.Total.Unavailable+st.Total.Mismatches != 0 {
		t.Errorf("backup before update: exit %d, %+v, want 0 and no error, unavailable or mismatch\n%s", code, st.Total, out)
	}
	if st.Total.Relocated != 5 {
		t.Errorf("backup before update fetched %d versions from where production serves them now, want 5\n%s", st.Total.Relocated, out)
	}
	e.CheckEndState(t)

	e.update("testwiki")
	e.run("backup", "--wiki", "testwiki", "--workers", "4")
	e.CheckEndState(t)
	e.checkAgainstProduction("testwiki", fw, commons, false, changed)
	if out := e.run("mismatches", "--wiki", "testwiki"); !strings.Contains(out, "no sha1 mismatches") {
		t.Errorf("mismatches after the backups:\n%s", out)
	}
}

// TestOverwriteWhileUpdateFollows is the same scenario while `update
// --follow` runs with a short interval: backups race the follower that
// records the overwrites. Every version must end with its own bytes.
func TestOverwriteWhileUpdateFollows(t *testing.T) {
	t.Parallel()
	e, fw := newFreshEnv(t, "wrongbytes-follow", 11)
	e.run("inventory", "--wiki", "testwiki")

	changed := time.Now()
	w := newWikiAPI(t, fw.API)
	for i, title := range []string{"Simple.png", "Wow!Amazing.png", "Lowercase_first.png", "Comma,_semicolon;_(parens).png"} {
		w.overwrite(title, i)
	}

	follow := e.command("update", "--wiki", "testwiki", "--follow", "--interval", "1s")
	var followOut bytes.Buffer
	follow.Stdout, follow.Stderr = &followOut, &followOut
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		follow.Process.Signal(syscall.SIGTERM)
		if err := follow.Wait(); err != nil {
			t.Errorf("update --follow: %v\n%s", err, followOut.String())
		}
	}
	defer stop()

	// Back up while the follower catches up, until the metadata has every
	// version production has and none is left to do.
	want := len(prodVersions(t, fw.Dir, commons))
	relocated := 0
	deadline := time.Now().Add(2 * time.Minute)
	for round := 0; ; round++ {
		code, st, out := e.backupJSON("--workers", "2")
		relocated += st.Total.Relocated
		if code != 0 || st.Total.Error+st.Total.Unavailable+st.Total.Mismatches != 0 {
			t.Errorf("backup round %d: exit %d, %+v, want 0 and no error, unavailable or mismatch\n%s", round, code, st.Total, out)
		}
		var n int
		if err := e.DB.QueryRow(`SELECT COUNT(*) FROM files`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want && e.countStatus("pending")+e.countStatus("processing") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d backup rounds the metadata has %d versions, production %d\nupdate --follow:\n%s", round, n, want, followOut.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop()
	// The race is over; let update finish the log (delete dates of old
	// events) for the comparison with production.
	e.update("testwiki")
	e.run("backup", "--wiki", "testwiki")
	t.Logf("versions found elsewhere in production during the race: %d", relocated)
	e.CheckEndState(t)
	e.checkAgainstProduction("testwiki", fw, commons, false, changed)
}

// TestUnavailableAndCorruptVersions covers the two cases where no place
// serves a version's bytes: nowhere for the moment (an overwritten file
// whose archived copy production cannot serve: it becomes unavailable,
// with the reason, and is backed up once `backup --retry-errors` or
// `update` sends it back), and production corrupt (its bytes match no
// version of the file: kept, and listed by `mismatches`, alone).
func TestUnavailableAndCorruptVersions(t *testing.T) {
	t.Parallel()
	e, fw := newFreshEnv(t, "wrongbytes-unavailable", 12)
	e.run("inventory", "--wiki", "testwiki")
	w := newWikiAPI(t, fw.API)

	// Corruption in production: the bytes on its disk change behind the
	// wiki's back; the API still gives the old sha1.
	cur := w.versionsAPI("Lowercase_first.png")[0]
	corrupt := diskPath(t, fw, cur.URL)
	if err := os.WriteFile(corrupt, append(pngBytes(7), "corrupted on disk"...), 0o644); err != nil {
		t.Fatal(err)
	}

	// Overwritten, and the archived copy missing for the moment.
	hide := map[string]string{} // title -> path of the archived copy, moved aside
	for i, title := range []string{"Comma,_semicolon;_(parens).png", "Wow!Amazing.png"} {
		w.overwrite(title, 10+i)
		vs := w.versionsAPI(title)
		p := diskPath(t, fw, vs[1].URL)
		if err := os.Rename(p, p+".away"); err != nil {
			t.Fatal(err)
		}
		hide[title] = p
	}
	back := func(title string) {
		t.Helper()
		if err := os.Rename(hide[title]+".away", hide[title]); err != nil {
			t.Fatal(err)
		}
	}

	code, st, out := e.backupJSON("--workers", "4")
	if code != 3 || st.Total.Unavailable != 2 || st.Total.Mismatches != 1 || st.Total.Error != 0 {
		t.Fatalf("backup: exit %d, %+v, want exit 3, 2 unavailable, 1 mismatch, no error\n%s", code, st.Total, out)
	}
	for _, title := range []string{"Comma,_semicolon;_(parens).png", "Wow!Amazing.png"} {
		vs := e.versionsOf(title)
		old := vs[len(vs)-1] // the version that was current at the inventory
		if old.Backup != "unavailable" || old.SHA256 != "" ||
			!strings.Contains(old.Reason, "production serves no bytes with this version's sha1") ||
			!strings.Contains(old.Reason, "images/archive/") || !strings.Contains(old.Reason, "404") {
			t.Errorf("%s: %s with sha256 %q and reason %q; want unavailable, no object, a reason naming the archive URL that failed",
				title, old.Backup, old.SHA256, old.Reason)
		}
	}
	lc := e.versionsOf("Lowercase_first.png")
	if len(lc) != 1 || lc[0].Backup != "backedup" || lc[0].Downloaded == "" || lc[0].Downloaded == lc[0].SHA1 {
		t.Errorf("Lowercase_first.png: %+v, want backedup with the downloaded sha1 recorded", lc)
	}
	var mm []struct{ Title, Kind string }
	if err := json.Unmarshal([]byte(e.run("--json", "mismatches", "--wiki", "testwiki")), &mm); err != nil {
		t.Fatal(err)
	}
	if len(mm) != 1 || mm[0].Title != "Lowercase_first.png" || mm[0].Kind != "corrupt" {
		t.Errorf("mismatches: %+v, want Lowercase_first.png alone, corrupt", mm)
	}
	if out := e.run("status", "--wiki", "testwiki"); !strings.Contains(out, "unavailable") {
		t.Errorf("status does not show the unavailable versions:\n%s", out)
	}
	// Restore refuses the corrupt bytes under the version's name.
	target := t.TempDir()
	code, out = e.exitCode("restore", "--wiki", "testwiki", "--title", "Lowercase_first.png", "--target", target, "--yes")
	if code != 3 || !strings.Contains(out, "does not hold this version's bytes") {
		t.Errorf("restore of the corrupt version: exit %d, want 3 and a refusal\n%s", code, out)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("restore wrote %d files for a refused version", len(ents))
	}

	// One archived copy is back: --retry-errors retries both, and backs up
	// that one; the other stays unavailable.
	back("Wow!Amazing.png")
	code, st, out = e.backupJSON("--retry-errors")
	if code != 3 || st.Total.Files != 2 || st.Total.Unavailable != 1 || st.Total.BackedUp+st.Total.Duplicate != 1 {
		t.Fatalf("backup --retry-errors: exit %d, %+v, want 2 files, 1 backed up, 1 unavailable\n%s", code, st.Total, out)
	}
	// The other is back too: update records the overwrite, which gives the
	// old version a new place and sends it back to pending by itself.
	back("Comma,_semicolon;_(parens).png")
	e.update("testwiki")
	if vs := e.versionsOf("Comma,_semicolon;_(parens).png"); len(vs) != 2 || vs[0].Backup != "pending" || vs[0].Status != "archived" {
		t.Errorf("Comma,_semicolon;_(parens).png after update: %+v, want the old version archived and pending again", vs)
	}
	code, st, out = e.backupJSON()
	if code != 0 || st.Total.Unavailable != 0 {
		t.Fatalf("backup after update: exit %d, %+v\n%s", code, st.Total, out)
	}
	if n := e.countStatus("unavailable") + e.countStatus("error") + e.countStatus("pending"); n != 0 {
		t.Errorf("%d versions are still unavailable, in error or pending", n)
	}
	e.CheckEndState(t)
}

// mismatchRow is one line of `mediabackups --json mismatches`.
type mismatchRow struct {
	Title, Kind, BackupStatus string
}

func (r mismatchRow) String() string { return fmt.Sprintf("%s:%s", r.Title, r.Kind) }

// sqlExec runs statements on the deployment's database.
func (e *env) sqlExec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.DB.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// dropObject removes a backups row and its object, as if it had never been
// stored.
func (e *env) dropObject(backupID int64) {
	e.t.Helper()
	var ep, key string
	if err := e.DB.QueryRow(`SELECT l.endpoint, b.object_key FROM backups b JOIN locations l ON l.id = b.location_id WHERE b.id = ?`,
		backupID).Scan(&ep, &key); err != nil {
		e.t.Fatal(err)
	}
	if err := e.MinIOClient(ep).RemoveObject(context.Background(), e.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.sqlExec(`DELETE FROM backups WHERE id = ?`, backupID)
}

func (e *env) backupIDOf(fileID int64) int64 {
	e.t.Helper()
	var id int64
	if err := e.DB.QueryRow(`SELECT backup_id FROM files WHERE id = ?`, fileID).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// dbSnapshot is every files and backups row, to see that a dry run
// changes nothing.
func (e *env) dbSnapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, backup_status, COALESCE(backup_id, 0), COALESCE(HEX(sha256), ''), COALESCE(HEX(downloaded_sha1), ''), COALESCE(error_reason, '') FROM files ORDER BY id`,
		`SELECT id, HEX(sha256), object_key FROM backups ORDER BY id`,
		`SELECT COUNT(*), '', '' FROM file_history`,
	} {
		rs, err := e.DB.Query(q)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rs.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rs.Next() {
			rs.Scan(ptrs...)
			for _, v := range vals {
				fmt.Fprintf(&b, "%s\t", v)
			}
			b.WriteString("\n")
		}
		rs.Close()
	}
	fmt.Fprint(&b, e.Objects())
	return b.String()
}

// restoreBySHA1 restores the versions with a sha1 into a new directory and
// returns its exit code, output and the sha1s of the files written.
func (e *env) restoreBySHA1(sha1hex string) (int, string, []string) {
	e.t.Helper()
	target := e.t.TempDir()
	code, out := e.exitCode("restore", "--wiki", "testwiki", "--sha1", sha1hex, "--target", target, "--yes")
	ents, err := os.ReadDir(target)
	if err != nil {
		e.t.Fatal(err)
	}
	var sums []string
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(target, ent.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		s := sha1.Sum(b)
		sums = append(sums, hex.EncodeToString(s[:]))
	}
	return code, out, sums
}

// TestRepairOfADatabaseMadeBeforeTheFix makes the wrong state that the
// backup wrote before the fix, checks that restore refuses it, and repairs
// it with `mismatches --repair`.
//
// The state is made with SQL that is exactly what the pre-fix code wrote:
// everything is first backed up right (without a race), then the rows are
// rewritten as the old code would have left them (the old code is gone
// from the binary, so it cannot run). For an overwrite between listing and backup,
// the old code stored the OLD version with the NEW version's bytes
// (status backedup, the new bytes' object, downloaded_sha1 = their sha1)
// and never stored the old bytes; then:
//   - Comma,_semicolon;_(parens).png: `update` recorded the overwrite and the new version was
//     backed up as a duplicate of that object;
//   - Wow!Amazing.png: a stale database, where `update` never ran: the new
//     version is not in the metadata and the old one still looks current.
//
// Lowercase_first.png is corrupt on the wiki's disk: a true mismatch, which
// the repair keeps. A leftover object that no version points at stands for
// an interrupted repair.
func TestRepairOfADatabaseMadeBeforeTheFix(t *testing.T) {
	t.Parallel()
	e, fw := newFreshEnv(t, "wrongbytes-repair", 13)
	w := newWikiAPI(t, fw.API)
	cur := w.versionsAPI("Lowercase_first.png")[0]
	if err := os.WriteFile(diskPath(t, fw, cur.URL), append(pngBytes(9), "corrupted on disk"...), 0o644); err != nil {
		t.Fatal(err)
	}
	// No race here: every version is backed up before the overwrites, the
	// new versions after them, with the code of any version.
	e.run("inventory", "--wiki", "testwiki")
	e.backupJSON()
	w.overwrite("Comma,_semicolon;_(parens).png", 20)
	w.overwrite("Wow!Amazing.png", 21)
	e.update("testwiki")
	e.run("backup", "--wiki", "testwiki")

	// What the pre-fix code wrote.
	simple, wow := e.versionsOf("Comma,_semicolon;_(parens).png"), e.versionsOf("Wow!Amazing.png")
	if len(simple) != 2 || len(wow) != 3 {
		t.Fatalf("versions: Comma,_semicolon;_(parens).png %d, Wow!Amazing.png %d; want 2 and 3", len(simple), len(wow))
	}
	oldS, newS := simple[0], simple[1]
	oldW, newW := wow[1], wow[2]
	oldSObject, oldWObject := e.backupIDOf(oldS.ID), e.backupIDOf(oldW.ID)
	e.sqlExec(`UPDATE files o JOIN files n ON n.id = ? SET o.backup_id = n.backup_id, o.sha256 = n.sha256, o.downloaded_sha1 = n.sha1,
		o.backup_status = 'backedup' WHERE o.id = ?`, newS.ID, oldS.ID)
	e.sqlExec(`UPDATE files SET backup_status = 'duplicate' WHERE id = ?`, newS.ID)
	e.sqlExec(`UPDATE files o JOIN files n ON n.id = ? SET o.backup_id = n.backup_id, o.sha256 = n.sha256, o.downloaded_sha1 = n.sha1,
		o.backup_status = 'backedup', o.production_status = 'public', o.source_url = n.source_url, o.archive_name = NULL,
		o.archive_date = NULL, o.production_container = n.production_container, o.production_path = n.production_path
		WHERE o.id = ?`, newW.ID, oldW.ID)
	e.sqlExec(`DELETE FROM files WHERE id = ?`, newW.ID)
	e.dropObject(oldSObject)
	e.dropObject(oldWObject)
	// An interrupted repair's leftover: an object no version points at.
	leftover := pngBytes(30)
	sum := sha256.Sum256(leftover)
	s1 := sha1.Sum(leftover)
	key := fmt.Sprintf("testwiki/%s/%x", hex.EncodeToString(sum[:])[:3], sum)
	if _, err := e.MinIOClient(e.Endpoints[0]).PutObject(context.Background(), e.Bucket, key, bytes.NewReader(leftover),
		int64(len(leftover)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sqlExec(`INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date)
		SELECT w.id, ?, ?, ?, l.id, ?, ?, 0, ?, UTC_TIMESTAMP() FROM wikis w, locations l WHERE w.name = 'testwiki' AND l.endpoint = ?`,
		sum[:], s1[:], len(leftover), e.Bucket, key, len(leftover), e.Endpoints[0])

	// The wrong state shows as mismatches; a restore refuses it.
	var mm []mismatchRow
	if err := json.Unmarshal([]byte(e.run("--json", "mismatches", "--wiki", "testwiki")), &mm); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range mm {
		kinds = append(kinds, m.String())
	}
	sort.Strings(kinds)
	// Wow!Amazing.png's new version is not in the stale metadata yet, so
	// its bytes look like no version's until a fresh inventory.
	if got := strings.Join(kinds, " "); got != "Comma,_semicolon;_(parens).png:wrong-version Lowercase_first.png:corrupt Wow!Amazing.png:corrupt" {
		t.Errorf("mismatches of the old state: %s", got)
	}
	code, out, written := e.restoreBySHA1(oldS.SHA1)
	if code != 3 || !strings.Contains(out, "does not hold this version's bytes") || !strings.Contains(out, "mismatches --wiki testwiki --repair") ||
		len(written) != 0 {
		t.Errorf("restore of the wrongly recorded version: exit %d, files %v; want exit 3, a refusal that says how to repair, no file\n%s",
			code, written, out)
	}

	// The dry run says what it would do and changes nothing.
	before := e.dbSnapshot()
	out = e.run("mismatches", "--wiki", "testwiki", "--repair")
	for _, want := range []string{"Comma,_semicolon;_(parens).png", "would re-fetch from http", "/images/archive/", "Lowercase_first.png", "would keep",
		"would remove", key, "dry run: nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run's output lacks %q:\n%s", want, out)
		}
	}
	if after := e.dbSnapshot(); after != before {
		t.Errorf("the dry run changed the metadata or the objects:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	var rep struct {
		Items []struct {
			Title, Action string
			RemovedObject string `json:"removed_object"`
		}
		Unreferenced []string `json:"unreferenced_objects"`
	}
	out = e.run("--json", "mismatches", "--wiki", "testwiki", "--repair", "--execute")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, it := range rep.Items {
		got[it.Title] = it.Action
		if it.Title == "Wow!Amazing.png" && it.RemovedObject == "" {
			t.Errorf("Wow!Amazing.png: the new bytes' object, no version's any more, was not removed")
		}
	}
	if fmt.Sprint(got) != "map[Comma,_semicolon;_(parens).png:refetch Lowercase_first.png:keep Wow!Amazing.png:refetch]" || len(rep.Unreferenced) != 1 {
		t.Errorf("repair: %v, unreferenced %v\n%s", got, rep.Unreferenced, out)
	}
	e.CheckEndState(t)
	if st := e.versionsOf("Comma,_semicolon;_(parens).png"); st[0].Backup != "backedup" || st[1].Backup != "backedup" {
		t.Errorf("Comma,_semicolon;_(parens).png after the repair: %+v, want both versions backedup (the new one owns its object again)", st)
	}
	if out := e.run("mismatches", "--wiki", "testwiki"); strings.Count(out, "\n") != 1 || !strings.Contains(out, "Lowercase_first.png") {
		t.Errorf("mismatches after the repair:\n%s", out)
	}
	code, out, written = e.restoreBySHA1(oldS.SHA1)
	if code != 0 || len(written) != 1 || written[0] != oldS.SHA1 {
		t.Errorf("restore after the repair: exit %d, sha1s %v, want one file with sha1 %s\n%s", code, written, oldS.SHA1, out)
	}

	// A fresh inventory brings the stale database up to date; the new
	// version of Wow!Amazing.png is backed up again. Running the repair
	// again changes nothing.
	e.run("inventory", "--wiki", "testwiki")
	e.run("backup", "--wiki", "testwiki")
	before = e.dbSnapshot()
	e.run("mismatches", "--wiki", "testwiki", "--repair", "--execute")
	if after := e.dbSnapshot(); after != before {
		t.Errorf("a second repair changed something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	e.CheckEndState(t)
}
