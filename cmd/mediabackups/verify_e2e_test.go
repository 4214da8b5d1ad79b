package main_test

// End-to-end tests of `mediabackups verify` against real MinIO servers,
// MariaDB and the MediaWiki test wikis: objects are damaged and removed
// straight through the S3 API, found, and repaired from production.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// verifyReport is the part of `verify --json` the tests read.
type verifyReport struct {
	Total struct {
		Objects, OK, Missing, Damaged, Repaired, Lost, Unchecked int
		VersionsWithoutObject                                    int `json:"versions_without_object"`
	}
	Problems []struct {
		Wiki, Location, Object, Found, Result, Detail string
		Repair                                        *string
		Versions                                      []struct {
			ID    int64
			Title string
		}
	}
	Orphans []struct{ Location, Object string }
}

// verify runs `verify --json` with args and returns its report and exit code.
func (e *env) verify(args ...string) (verifyReport, int) {
	e.t.Helper()
	cmd := e.command(append([]string{"--json", "verify", "--max-rate", "0", "--orphan-min-age", "0"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
		if code <= 0 {
			e.t.Fatalf("verify %v: %v", args, err)
		}
	}
	var rep verifyReport
	// With a problem, the report is followed by the error as JSON.
	if err := json.NewDecoder(&stdout).Decode(&rep); err != nil {
		e.t.Fatalf("verify %v: exit %d, no report: %v\nstderr:\n%s", args, code, err, stderr.String())
	}
	if code != 0 {
		e.t.Logf("verify %v: exit %d\n%s", args, code, stderr.String())
	}
	return rep, code
}

// storedObject is an object the metadata records.
type storedObject struct {
	wiki, endpoint, key, sha256 string
	statuses                    string // production statuses of its versions, e.g. "archived,public"
}

func (e *env) storedObjects() []storedObject {
	e.t.Helper()
	rs, err := e.DB.Query(`SELECT w.name, l.endpoint, b.object_key, LOWER(HEX(b.sha256)),
		GROUP_CONCAT(DISTINCT f.production_status ORDER BY f.production_status)
		FROM backups b JOIN wikis w ON w.id = b.wiki_id JOIN locations l ON l.id = b.location_id
		JOIN files f ON f.backup_id = b.id GROUP BY b.id ORDER BY b.object_key`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []storedObject
	for rs.Next() {
		var o storedObject
		if err := rs.Scan(&o.wiki, &o.endpoint, &o.key, &o.sha256, &o.statuses); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// pick returns an object of wiki whose versions have exactly the given
// production statuses, other than those in taken.
func pick(t *testing.T, objs []storedObject, wiki, statuses string, taken map[string]bool) storedObject {
	t.Helper()
	for _, o := range objs {
		if o.wiki == wiki && o.statuses == statuses && !taken[o.key] {
			taken[o.key] = true
			return o
		}
	}
	t.Fatalf("no object of %s with versions %s", wiki, statuses)
	return storedObject{}
}

// put writes data as key on endpoint, straight through the S3 API.
func (e *env) put(endpoint, key string, data []byte) {
	e.t.Helper()
	_, err := e.MinIOClient(endpoint).PutObject(context.Background(), e.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) remove(endpoint, key string) {
	e.t.Helper()
	if err := e.MinIOClient(endpoint).RemoveObject(context.Background(), e.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// plainSHA256 returns the sha256 of an object's content, decrypted with the
// age CLI when it is encrypted.
func (e *env) plainSHA256(o storedObject) string {
	data := e.Get(o.endpoint, o.key)
	if strings.HasSuffix(o.key, ".age") {
		data = e.ageDecrypt(data)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func problemKeys(r verifyReport) map[string]string {
	out := map[string]string{}
	for _, p := range r.Problems {
		out[p.Object] = p.Found + "->" + p.Result
	}
	return out
}

func TestVerifyFindsDamageAndRepairsItFromProduction(t *testing.T) {
	t.Parallel() // its own database, bucket (and wiki); the shared wikis are only read
	e := newEnv(t, 5)
	for _, w := range []string{"testwiki", "privatewiki"} {
		e.run("inventory", "--wiki", w)
	}
	e.run("backup", "--workers", "4")
	objs := e.storedObjects()
	if len(objs) < 20 {
		t.Fatalf("only %d objects backed up", len(objs))
	}
	// From here on the generation credential is a user that may read,
	// write and list but not delete, as the README gives it: verify,
	// repair included, must need no more.
	e.WorkerUser()
	e.WriteConfig(nil,
		testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public},
		testsvc.DeployedWiki{Name: "privatewiki", Type: "private", Wiki: e.private})
	worker, err := minio.New(strings.TrimPrefix(objs[0].endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(e.GenerationAccessKey, e.GenerationSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.RemoveObject(context.Background(), e.Bucket, objs[0].key, minio.RemoveObjectOptions{}); err == nil {
		t.Fatal("the worker user may delete objects: the test proves nothing")
	}

	// Everything is fine; a stray object is an orphan, listed but not
	// a reason to fail, and not removed.
	stray := "testwiki/000/" + strings.Repeat("0", 64)
	e.put(e.Endpoints[1], stray, []byte("nobody refers to me"))
	rep, code := e.verify("--all")
	if code != 0 || rep.Total.Objects != len(objs) || rep.Total.OK != len(objs) || len(rep.Problems) != 0 {
		t.Fatalf("verify of intact backups: exit %d, %+v", code, rep.Total)
	}
	if len(rep.Orphans) != 1 || rep.Orphans[0].Object != stray || rep.Orphans[0].Location != e.Endpoints[1] {
		t.Fatalf("orphans = %+v, want only %s on %s", rep.Orphans, stray, e.Endpoints[1])
	}

	// Damage three objects and remove two, public and encrypted ones, of
	// current, old and deleted versions, so that a repair has to go
	// through each way production serves a file.
	taken := map[string]bool{}
	damaged := []storedObject{
		pick(t, objs, "testwiki", "public", taken),
		pick(t, objs, "testwiki", "deleted", taken),
		pick(t, objs, "privatewiki", "archived", taken),
	}
	removed := []storedObject{
		pick(t, objs, "testwiki", "archived", taken),
		pick(t, objs, "privatewiki", "deleted", taken),
	}
	want := map[string]string{}
	// Same size, other bytes; other bytes of another size; an age file
	// whose last chunk is flipped.
	flipped := e.Get(damaged[0].endpoint, damaged[0].key)
	flipped[len(flipped)/2] ^= 0xff
	e.put(damaged[0].endpoint, damaged[0].key, flipped)
	e.put(damaged[1].endpoint, damaged[1].key, []byte("not the picture at all"))
	enc := e.Get(damaged[2].endpoint, damaged[2].key)
	enc[len(enc)-5] ^= 0x01
	e.put(damaged[2].endpoint, damaged[2].key, enc)
	for _, o := range damaged {
		want[o.key] = "damaged->damaged"
	}
	for _, o := range removed {
		e.remove(o.endpoint, o.key)
		want[o.key] = "missing->missing"
	}

	rep, code = e.verify("--all")
	if code != 3 {
		t.Errorf("verify with 5 broken objects: exit %d, want 3", code)
	}
	if got := problemKeys(rep); !equalMaps(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
	if rep.Total.Damaged != 3 || rep.Total.Missing != 2 || rep.Total.OK != len(objs)-5 {
		t.Errorf("totals = %+v, want 3 damaged, 2 missing, %d ok", rep.Total, len(objs)-5)
	}
	for _, p := range rep.Problems {
		if len(p.Versions) == 0 {
			t.Errorf("%s: no versions listed", p.Object)
		}
	}
	// The last check is recorded and shown.
	if out := e.run("status", "--wiki", "testwiki"); !strings.Contains(out, " ok, 1 missing, 2 damaged") {
		t.Errorf("status does not show the checks:\n%s", out)
	}
	q := e.run("--json", "query", "--wiki", "testwiki", "--sha256", damaged[1].sha256)
	var qr struct {
		Matches []struct {
			VerifyDate   *string `json:"verify_date"`
			VerifyResult *string `json:"verify_result"`
		}
	}
	if err := json.Unmarshal([]byte(q), &qr); err != nil || len(qr.Matches) != 1 || qr.Matches[0].VerifyResult == nil ||
		*qr.Matches[0].VerifyResult != "damaged" || qr.Matches[0].VerifyDate == nil || !strings.HasPrefix(*qr.Matches[0].VerifyDate, "20") {
		t.Errorf("query does not show the check (%v):\n%s", err, q)
	}

	// Repair: all five come back from production, checked.
	rep, code = e.verify("--all", "--repair")
	if code != 0 {
		t.Errorf("verify --repair: exit %d, want 0 (everything repaired)", code)
	}
	for k := range want {
		want[k] = strings.Split(want[k], "->")[0] + "->repaired"
	}
	if got := problemKeys(rep); !equalMaps(got, want) {
		t.Errorf("after --repair, problems = %v, want %v", got, want)
	}
	// Each came from where production serves it: the file's URL, or
	// Special:Undelete for a deleted one.
	from := map[string]string{}
	for _, p := range rep.Problems {
		if p.Repair != nil {
			from[p.Object] = *p.Repair
		}
	}
	for _, o := range append(damaged, removed...) {
		way := "stored again from http"
		if o.statuses == "deleted" {
			way = "stored again from deleted file "
		}
		if !strings.HasPrefix(from[o.key], way) {
			t.Errorf("%s (%s versions): repair %q, want %q...", o.key, o.statuses, from[o.key], way)
		}
	}
	for _, o := range append(damaged, removed...) {
		if got := e.plainSHA256(o); got != o.sha256 {
			t.Errorf("%s after repair: content sha256 %s, want %s", o.key, got, o.sha256)
		}
	}
	rep, code = e.verify("--all")
	if code != 0 || rep.Total.OK != len(objs) || len(rep.Problems) != 0 {
		t.Errorf("verify after the repair: exit %d, %+v, problems %v", code, rep.Total, problemKeys(rep))
	}
	// Nothing was ever deleted: the orphan is still there.
	found := false
	for _, k := range e.Objects()[e.Endpoints[1]] {
		found = found || k == stray
	}
	if !found {
		t.Errorf("the orphan %s was removed", stray)
	}
	if out := e.run("status", "--wiki", "testwiki"); !strings.Contains(out, "last verify of each object: ") || strings.Contains(out, "damaged") {
		t.Errorf("status after repair:\n%s", out)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestVerifyReportsOnlyCopyLost removes an object, and the file from
// production's disk (a fresh wiki of the test's own), so that nothing can
// give it back.
func TestVerifyReportsOnlyCopyLost(t *testing.T) {
	t.Parallel() // its own database, bucket (and wiki); the shared wikis are only read
	fw := testsvc.FreshWiki(t, "verify-lost", 7, false)
	e := &env{t: t, Deployment: testsvc.NewDeployment(t, 3)}
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: fw})
	e.run("schema", "apply")
	e.run("inventory", "--wiki", "testwiki")
	e.run("backup", "--wiki", "testwiki")

	// A current version whose content no other version has: gone from
	// production's disk and from the backups.
	var key, endpoint, path, title string
	err := e.DB.QueryRow(`SELECT b.object_key, l.endpoint, MIN(f.production_path), MIN(f.title) FROM files f
		JOIN backups b ON b.id = f.backup_id JOIN locations l ON l.id = b.location_id
		GROUP BY b.id HAVING COUNT(*) = 1 AND MIN(f.production_status) = 'public' ORDER BY b.id LIMIT 1`).Scan(&key, &endpoint, &path, &title)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(fw.Dir, "images", path)
	if err := os.Remove(img); err != nil {
		t.Fatalf("remove the production file: %v", err)
	}
	e.remove(endpoint, key)

	rep, code := e.verify("--all", "--repair")
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Object != key || rep.Problems[0].Result != "lost" || rep.Problems[0].Found != "missing" {
		t.Fatalf("problems = %+v, want %s missing -> lost", rep.Problems, key)
	}
	p := rep.Problems[0]
	var titles []string
	for _, v := range p.Versions {
		titles = append(titles, v.Title)
	}
	sort.Strings(titles)
	if len(titles) != 1 || titles[0] != title {
		t.Errorf("versions of the lost object = %v, want %s", titles, title)
	}
	if p.Repair == nil || !strings.Contains(*p.Repair, "404") {
		t.Errorf("repair = %v, want the production 404", p.Repair)
	}
	// The text output says it plainly.
	code, out := e.exitCode("verify", "--all", "--repair", "--max-rate", "0")
	if code != 3 || !strings.Contains(out, "ONLY COPY LOST: testwiki") || !strings.Contains(out, "version: id ") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}
}

// TestVerifySampleCoversEverythingOverRuns runs --sample 0.25 five times:
// each checks a quarter (rounded up), never-checked objects first, so the
// first four check every object, and the fifth starts again with those
// checked longest ago.
func TestVerifySampleCoversEverythingOverRuns(t *testing.T) {
	t.Parallel() // its own database, bucket (and wiki); the shared wikis are only read
	e := newEnv(t, 2)
	e.run("inventory", "--wiki", "testwiki")
	e.run("backup", "--wiki", "testwiki")
	n := len(e.storedObjects())
	per := (n + 3) / 4
	checked := map[string]bool{}
	for run := 1; run <= 4; run++ {
		rep, code := e.verify("--sample", "0.25", "--wiki", "testwiki")
		if code != 0 || rep.Total.Objects != per {
			t.Fatalf("run %d: exit %d, checked %d, want %d of %d", run, code, rep.Total.Objects, per, n)
		}
		if rep.Orphans != nil {
			t.Errorf("run %d: a sample listed orphans", run)
		}
		rs, err := e.DB.Query(`SELECT object_key FROM backups WHERE verified_at IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rs.Next() {
			var k string
			rs.Scan(&k)
			got++
			checked[k] = true
		}
		rs.Close()
		if want := min(n, run*per); got != want {
			t.Errorf("after run %d: %d objects have a check, want %d", run, got, want)
		}
		// Make each run's checks older than the next run's, as days would.
		if _, err := e.DB.Exec(`UPDATE backups SET verified_at = verified_at - INTERVAL 1 DAY WHERE verified_at IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
	}
	if len(checked) != n {
		t.Errorf("four quarter samples checked %d of %d objects", len(checked), n)
	}
	// The fifth: the objects of the first run, which are the oldest.
	var oldest []string
	rs, err := e.DB.Query(`SELECT id FROM backups ORDER BY verified_at, id LIMIT ?`, per)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id string
		rs.Scan(&id)
		oldest = append(oldest, id)
	}
	rs.Close()
	if _, code := e.verify("--sample", "0.25"); code != 0 {
		t.Fatalf("fifth run: exit %d", code)
	}
	var recent int
	if err := e.DB.QueryRow(`SELECT COUNT(*) FROM backups WHERE verified_at > UTC_TIMESTAMP() - INTERVAL 1 HOUR AND id IN (` + strings.Join(oldest, ",") + `)`).Scan(&recent); err != nil {
		t.Fatal(err)
	}
	if recent != len(oldest) {
		t.Errorf("the fifth sample re-checked %d of the %d oldest-checked objects", recent, len(oldest))
	}
}
