package main_test

// End-to-end tests of the storage lifecycle (issue 11): server states
// (readonly, down), rebalance after growing the cluster, with kill -9 at
// random points, recover-server and rekey. Real MariaDB, MinIO servers
// (the shared ones, plus servers of the test's own for the growth) and the
// shared read-only test wikis.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/sharding"
)

// configure rewrites the env's config with endpoints (in shard order) and
// the two test wikis plus extra ones.
func (e *env) configure(endpoints []config.Endpoint, extra ...testsvc.DeployedWiki) {
	e.t.Helper()
	wikis := append([]testsvc.DeployedWiki{
		{Name: "testwiki", Type: "public", Wiki: e.public},
		{Name: "privatewiki", Type: "private", Wiki: e.private},
	}, extra...)
	e.WriteConfig(func(c *config.Config) { c.Storage.Endpoints = endpoints }, wikis...)
}

// withState returns urls as active endpoints, but for those in states.
func withState(urls []string, states map[string]sharding.State) []config.Endpoint {
	out := config.ActiveEndpoints(urls...)
	for i := range out {
		if st, ok := states[out[i].URL]; ok {
			out[i].State = st
		}
	}
	return out
}

// exec runs the binary and returns its stdout, stderr and exit code.
func (e *env) exec(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("mediabackups %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// listObjects lists the deployment's bucket on each endpoint with plain
// minio-go: the independent view of where objects are.
func (e *env) listObjects(endpoints []string) map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	ctx := context.Background()
	for _, ep := range endpoints {
		c := e.MinIOClient(ep)
		if ok, err := c.BucketExists(ctx, e.Bucket); err != nil {
			e.t.Fatalf("list %s: %v", ep, err)
		} else if !ok {
			continue
		}
		for o := range c.ListObjects(ctx, e.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				e.t.Fatalf("list %s: %v", ep, o.Err)
			}
			out[ep] = append(out[ep], o.Key)
		}
	}
	return out
}

// recorded is one backups row: where the metadata says an object is.
type recorded struct {
	id                 int64
	wiki, sha256, key  string
	endpoint           string
	encrypted          bool
	storedSize, refs   int64
	recipientsFPIsNull bool
}

func (e *env) recordedObjects() []recorded {
	e.t.Helper()
	rs, err := e.DB.Query(`SELECT b.id, w.name, LOWER(HEX(b.sha256)), b.object_key, l.endpoint, b.encrypted, b.stored_size,
		(SELECT COUNT(*) FROM files f WHERE f.backup_id = b.id), b.recipients_fp IS NULL
		FROM backups b JOIN wikis w ON w.id = b.wiki_id JOIN locations l ON l.id = b.location_id ORDER BY b.id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []recorded
	for rs.Next() {
		var r recorded
		if err := rs.Scan(&r.id, &r.wiki, &r.sha256, &r.key, &r.endpoint, &r.encrypted, &r.storedSize, &r.refs, &r.recipientsFPIsNull); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// checkRecordedReadable checks that every backups row's object is on the
// server and under the key it records, with its recorded size: what a
// kill -9 must never break.
func (e *env) checkRecordedReadable(when string) {
	e.t.Helper()
	ctx := context.Background()
	for _, r := range e.recordedObjects() {
		st, err := e.MinIOClient(r.endpoint).StatObject(ctx, e.Bucket, r.key, minio.StatObjectOptions{})
		if err != nil {
			e.t.Errorf("%s: object %d (%s %s) is not readable where it is recorded, %s: %v", when, r.id, r.wiki, r.key, r.endpoint, err)
			continue
		}
		if st.Size != r.storedSize {
			e.t.Errorf("%s: object %d on %s has %d bytes, %d recorded", when, r.id, r.endpoint, st.Size, r.storedSize)
		}
	}
}

// checkNoOrphans checks that the objects on endpoints are exactly the
// recorded ones, each on its recorded server, and that the journal of
// moves is empty.
func (e *env) checkNoOrphans(endpoints []string) {
	e.t.Helper()
	want := map[string]string{}
	for _, r := range e.recordedObjects() {
		want[r.endpoint+" "+r.key] = r.wiki
	}
	got := map[string]bool{}
	for ep, keys := range e.listObjects(endpoints) {
		for _, k := range keys {
			got[ep+" "+k] = true
			if _, ok := want[ep+" "+k]; !ok {
				e.t.Errorf("orphan: %s on %s is recorded nowhere there", k, ep)
			}
		}
	}
	for k := range want {
		if !got[k] {
			e.t.Errorf("recorded object missing: %s", k)
		}
	}
	var journal int
	if err := e.DB.QueryRow(`SELECT COUNT(*) FROM object_moves`).Scan(&journal); err != nil {
		e.t.Fatal(err)
	}
	if journal != 0 {
		e.t.Errorf("%d moves left in the journal", journal)
	}
	var processing int
	if err := e.DB.QueryRow(`SELECT COUNT(*) FROM files WHERE backup_status = 'processing'`).Scan(&processing); err != nil {
		e.t.Fatal(err)
	}
	if processing != 0 {
		e.t.Errorf("%d versions left processing", processing)
	}
}

// restoreResult is the part of `restore --json` the tests read.
type restoreResult struct {
	Written []struct {
		Match struct {
			Title          string  `json:"title"`
			SHA256         string  `json:"sha256"`
			BackupLocation *string `json:"backup_location"`
		} `json:"match"`
		Name string `json:"name"`
	} `json:"written"`
	Failed []struct {
		Match struct {
			Title          string  `json:"title"`
			BackupLocation *string `json:"backup_location"`
		} `json:"match"`
		Step  string `json:"step"`
		Error string `json:"error"`
	} `json:"failed"`
}

// restoreAll restores every stored version of wiki, one content per
// restore process, four processes at a time, checks each written file's
// sha256, and returns the failures by the location recorded for them.
func (e *env) restoreAll(wiki string) (written int, failed map[string][]string) {
	e.t.Helper()
	failed = map[string][]string{}
	seen := map[string]bool{}
	type run struct {
		sha256, dir, out, stderr string
		code                     int
		err                      error
	}
	var runs []*run
	for _, r := range e.rows(wiki) {
		if (r.backup != "backedup" && r.backup != "duplicate") || seen[r.sha256] {
			continue
		}
		seen[r.sha256] = true
		runs = append(runs, &run{sha256: r.sha256, dir: e.t.TempDir()})
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cmd := e.command("--json", "restore", "--wiki", wiki, "--sha256", r.sha256, "--target", r.dir, "--yes")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); ok {
				r.code, err = ee.ExitCode(), nil
			}
			r.out, r.stderr, r.err = stdout.String(), stderr.String(), err
		}()
	}
	wg.Wait()
	for _, r := range runs {
		if r.err != nil {
			e.t.Fatalf("restore %s %s: %v", wiki, r.sha256, r.err)
		}
		var res restoreResult
		// On failures the result is followed by the error's own JSON line.
		if err := json.NewDecoder(strings.NewReader(r.out)).Decode(&res); err != nil {
			e.t.Fatalf("restore %s %s (exit %d): %v\n%s\n%s", wiki, r.sha256, r.code, err, r.out, r.stderr)
		}
		if (len(res.Failed) > 0) != (r.code == 3) {
			e.t.Errorf("restore %s %s: exit %d with %d failures", wiki, r.sha256, r.code, len(res.Failed))
		}
		for _, w := range res.Written {
			b, err := os.ReadFile(filepath.Join(r.dir, w.Name))
			if err != nil {
				e.t.Fatal(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != w.Match.SHA256 {
				e.t.Errorf("restored %s (%s) has sha256 %x, want %s", w.Match.Title, w.Name, sum, w.Match.SHA256)
			}
			written++
		}
		for _, f := range res.Failed {
			loc := ""
			if f.Match.BackupLocation != nil {
				loc = *f.Match.BackupLocation
			}
			failed[loc] = append(failed[loc], f.Match.Title+": "+f.Step+": "+f.Error)
		}
	}
	return written, failed
}

// storedVersions counts the versions of wiki in backedup or duplicate.
func (e *env) storedVersions(wiki string) int {
	n := 0
	for _, r := range e.rows(wiki) {
		if r.backup == "backedup" || r.backup == "duplicate" {
			n++
		}
	}
	return n
}

// shardRange is a line of `shards --json`.
type shardRange struct {
	Endpoint    string  `json:"endpoint"`
	First       string  `json:"first"`
	Last        string  `json:"last"`
	State       string  `json:"state"`
	ReceivesNew *string `json:"receives_new"`
}

func (e *env) shards() []shardRange {
	e.t.Helper()
	var rs []shardRange
	if err := json.Unmarshal([]byte(e.run("--json", "shards")), &rs); err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// homeOf returns the endpoint whose range, as `shards` prints it, holds
// sha256hex.
func homeOf(rs []shardRange, sha256hex string) string {
	p := sha256hex[:8]
	for _, r := range rs {
		if r.First <= p && p <= r.Last {
			return r.Endpoint
		}
	}
	return ""
}

// keySHA256 is the sha256 an object key names ("<wiki>/<abc>/<sha256>...").
func keySHA256(key string) string {
	parts := strings.Split(key, "/")
	return parts[len(parts)-1][:64]
}

func TestReadonlyAndDownServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	eps := e.Endpoints
	out := eps[2] // the third server goes into maintenance, then down
	e.configure(withState(eps, map[string]sharding.State{out: sharding.ReadOnly}))
	rs := e.shards()
	if rs[2].State != "readonly" || rs[2].ReceivesNew == nil || *rs[2].ReceivesNew != eps[3] {
		t.Fatalf("shards: %+v, want the third readonly with the fourth as its fallback", rs[2])
	}
	text := e.run("shards")
	if !strings.Contains(text, out) || !strings.Contains(text, eps[3]+" (fallback)") {
		t.Errorf("shards:\n%s", text)
	}

	// A full backup of both wikis with the third readonly: nothing fails,
	// the third gains no object, its range goes to the fourth.
	for _, w := range []string{"testwiki", "privatewiki"} {
		e.run("inventory", "--wiki", w)
	}
	var st struct{ Total struct{ Files, Errors int } }
	if err := json.Unmarshal([]byte(e.run("--json", "backup", "--workers", "4")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Total.Errors != 0 || st.Total.Files == 0 {
		t.Fatalf("backup with a readonly server: %+v", st.Total)
	}
	objects := e.listObjects(eps)
	if n := len(objects[out]); n != 0 {
		t.Errorf("the readonly server gained %d objects", n)
	}
	for _, r := range e.recordedObjects() {
		home := homeOf(rs, r.sha256)
		want := home
		if home == out {
			want = eps[3]
		}
		if r.endpoint != want {
			t.Errorf("%s: recorded on %s, want %s (home %s)", r.key, r.endpoint, want, home)
		}
	}
	for _, w := range []string{"testwiki", "privatewiki"} {
		written, failed := e.restoreAll(w)
		if len(failed) > 0 || written != e.storedVersions(w) {
			t.Errorf("%s with a readonly server: %d of %d versions restored; failed: %v", w, written, e.storedVersions(w), failed)
		}
	}

	// Back to active; rebalance moves its range home, and the restores
	// read it there (a readonly server is read: check that too).
	e.configure(withState(eps, nil))
	rep := e.rebalance(true)
	if n, _ := flowTotal(rep.Moved); n == 0 || rep.hasFailures() {
		t.Fatalf("rebalance after maintenance: %+v", rep)
	}
	for _, f := range rep.Moved {
		if f.From != eps[3] || f.To != out {
			t.Errorf("moved %d objects %s → %s, want only %s → %s", f.Objects, f.From, f.To, eps[3], out)
		}
	}
	e.configure(withState(eps, map[string]sharding.State{out: sharding.ReadOnly}))
	onOut := 0
	for _, r := range e.recordedObjects() {
		if r.endpoint == out {
			onOut++
		}
	}
	if onOut == 0 {
		t.Fatal("no object on the third server after the rebalance")
	}
	for _, w := range []string{"testwiki", "privatewiki"} {
		if written, failed := e.restoreAll(w); len(failed) > 0 || written != e.storedVersions(w) {
			t.Errorf("%s, objects on a readonly server: %d of %d restored; failed: %v", w, written, e.storedVersions(w), failed)
		}
	}

	// Down: a full backup of a third wiki (the public test wiki under
	// another name) completes around it; restores of the objects on it
	// fail at once, naming it, and the others are written.
	third := testsvc.DeployedWiki{Name: "thirdwiki", Type: "public", Wiki: e.public}
	e.configure(withState(eps, map[string]sharding.State{out: sharding.Down}), third)
	e.run("inventory", "--wiki", "thirdwiki")
	before := len(e.listObjects([]string{out})[out])
	if err := json.Unmarshal([]byte(e.run("--json", "backup", "--wiki", "thirdwiki")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Total.Errors != 0 || st.Total.Files == 0 {
		t.Fatalf("backup with a down server: %+v", st.Total)
	}
	if after := len(e.listObjects([]string{out})[out]); after != before {
		t.Errorf("the down server went from %d to %d objects", before, after)
	}
	for _, w := range []string{"testwiki", "privatewiki", "thirdwiki"} {
		start := time.Now()
		written, failed := e.restoreAll(w)
		onDown := 0
		for _, r := range e.rows(w) {
			if (r.backup == "backedup" || r.backup == "duplicate") && r.endpoint == out {
				onDown++
			}
		}
		if written+len(failed[out]) != e.storedVersions(w) || len(failed[out]) != onDown {
			t.Errorf("%s with a down server: %d written, failed %v; want %d on the down server failed and the rest written", w, written, failed, onDown)
		}
		for loc, msgs := range failed {
			if loc != out {
				t.Errorf("%s: restores from %s failed: %v", w, loc, msgs)
			}
			for _, m := range msgs {
				if !strings.Contains(m, "server "+out+" is down in storage.endpoints") || !strings.Contains(m, "download") {
					t.Errorf("%s: failure does not name the down server: %s", w, m)
				}
			}
		}
		t.Logf("%s: %d restored, %d failed at once on the down server, in %v", w, written, len(failed[out]), time.Since(start).Round(time.Millisecond))
	}
	e.CheckEndState(t) // it reads the down server itself, with plain minio-go: the server runs
}

// killDuringMoves starts the binary with args, waits until it has a move
// of its own in the journal (a move under way; the journal names the
// process), lets it go on for a random 0-1000 ms and kills it with SIGKILL.
// It returns the moves in the journal at the kill, and whether the process
// ended by itself first.
func (e *env) killDuringMoves(rng *rand.Rand, args ...string) (int, bool) {
	e.t.Helper()
	cmd := e.command(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		var n int
		if err := e.DB.QueryRow(`SELECT COUNT(*) FROM object_moves WHERE host LIKE ?`, fmt.Sprintf("%%:%d:%%", cmd.Process.Pid)).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case err := <-done:
			if err != nil {
				e.t.Fatalf("%v ended before the kill: %v\n%s", args, err, out.String())
			}
			return 0, true
		case <-deadline:
			cmd.Process.Kill()
			e.t.Fatalf("%v: no move began within 2 minutes\n%s", args, out.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	var n int
	e.DB.QueryRow(`SELECT COUNT(*) FROM object_moves`).Scan(&n)
	return n, false
}

// rebalanceReport is the part of `rebalance --json` the tests read.
type rebalanceReport struct {
	DryRun    bool `json:"dry_run"`
	Recovered struct {
		Finished int      `json:"finished"`
		Undone   int      `json:"undone"`
		Left     []string `json:"left"`
	} `json:"recovered"`
	Planned     []flow `json:"planned"`
	Moved       []flow `json:"moved"`
	Waiting     []flow `json:"waiting"`
	Unreachable []flow `json:"unreachable"`
	Deferred    []flow `json:"deferred"`
	Failed      []struct {
		Key, Error string
	} `json:"failed"`
	SourcesLeft int `json:"sources_left"`
}

type flow struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
	Why     string `json:"why"`
}

func (r rebalanceReport) hasFailures() bool { return len(r.Failed) > 0 || r.SourcesLeft > 0 }

func flowTotal(fs []flow) (int, int64) {
	n, b := 0, int64(0)
	for _, f := range fs {
		n += f.Objects
		b += f.Bytes
	}
	return n, b
}

func (e *env) rebalance(execute bool, args ...string) rebalanceReport {
	e.t.Helper()
	a := []string{"--json", "rebalance"}
	if execute {
		a = append(a, "--execute")
	}
	out := e.run(append(a, args...)...)
	var rep rebalanceReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("rebalance output: %v\n%s", err, out)
	}
	return rep
}

func TestGrowFiveToSevenAndRebalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	for _, w := range []string{"testwiki", "privatewiki"} {
		e.run("inventory", "--wiki", w)
	}
	e.run("backup", "--workers", "4")
	// Two new servers of the test's own.
	seven := append(append([]string{}, e.Endpoints...), testsvc.StartOwnMinIO(t).Endpoint, testsvc.StartOwnMinIO(t).Endpoint)
	e.configure(config.ActiveEndpoints(seven...))
	rs := e.shards()
	if len(rs) != 7 {
		t.Fatalf("shards: %+v", rs)
	}

	// The plan: exactly the objects whose home changed.
	want := map[[2]string]int{}
	for _, r := range e.recordedObjects() {
		if home := homeOf(rs, r.sha256); home != r.endpoint {
			want[[2]string{r.endpoint, home}]++
		}
	}
	plan := e.rebalance(false)
	got := map[[2]string]int{}
	for _, f := range plan.Planned {
		got[[2]string{f.From, f.To}] += f.Objects
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || !plan.DryRun {
		t.Fatalf("plan %v, want %v", got, want)
	}
	planned, plannedBytes := flowTotal(plan.Planned)
	t.Logf("plan: %d objects, %d bytes, in %d flows", planned, plannedBytes, len(plan.Planned))
	if len(e.listObjects(seven[5:])) != 0 {
		t.Fatal("the dry run wrote something to the new servers")
	}
	text, _, _ := e.exec("rebalance")
	if !strings.Contains(text, "to move: "+fmt.Sprint(planned)+" objects") {
		t.Errorf("dry run text:\n%s", text)
	}

	// kill -9 at random points of the run; after each, every version is
	// readable through its recorded location.
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill points from seed %d", seed)
	kills := 0
	for i := range 8 {
		journal, ended := e.killDuringMoves(rng, "rebalance", "--execute", "--parallel", "2")
		if !ended {
			kills++
		}
		e.checkRecordedReadable(fmt.Sprintf("after kill %d (%d moves in flight)", i, journal))
		left := 0
		for _, r := range e.recordedObjects() {
			if homeOf(rs, r.sha256) != r.endpoint {
				left++
			}
		}
		how := fmt.Sprintf("killed with %d moves in the journal", journal)
		if ended {
			how = "ended by itself before its kill"
		}
		t.Logf("run %d: %s; %d of %d objects still to move", i, how, left, planned)
		if t.Failed() {
			t.FailNow()
		}
	}
	var journal int
	e.DB.QueryRow(`SELECT COUNT(*) FROM object_moves`).Scan(&journal)
	t.Logf("%d runs killed; %d moves in the journal before the last run", kills, journal)

	// One more run ends it.
	rep := e.rebalance(true, "--parallel", "3")
	if rep.hasFailures() || len(rep.Recovered.Left) > 0 {
		t.Fatalf("last run: %+v", rep)
	}
	if again := e.rebalance(false); len(again.Planned) != 0 {
		t.Errorf("after the rebalance, the plan still has %+v", again.Planned)
	}

	// An independent listing of all seven agrees with `shards`: every
	// object on its home, none elsewhere, nothing unrecorded.
	for ep, keys := range e.listObjects(seven) {
		for _, k := range keys {
			if home := homeOf(rs, keySHA256(k)); home != ep {
				t.Errorf("%s is on %s, its home is %s", k, ep, home)
			}
		}
	}
	e.checkNoOrphans(seven)
	per := map[string]int{}
	for _, r := range e.recordedObjects() {
		per[r.endpoint]++
	}
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("objects on %s: %d", k, per[k])
	}
	if per[seven[5]] == 0 || per[seven[6]] == 0 {
		t.Errorf("a new server received nothing: %v", per)
	}
	for _, w := range []string{"testwiki", "privatewiki"} {
		written, failed := e.restoreAll(w)
		if len(failed) > 0 || written != e.storedVersions(w) {
			t.Errorf("%s after the rebalance: %d of %d restored; failed %v", w, written, e.storedVersions(w), failed)
		}
	}
	e.CheckEndState(t)
}

// recoverReport is the part of `recover-server --json` the tests read.
type recoverReport struct {
	DryRun         bool `json:"dry_run"`
	Objects        int  `json:"objects"`
	StillThere     int  `json:"still_there"`
	RecordsDropped int  `json:"records_dropped"`
	Recovered      []struct {
		ID    int64  `json:"id"`
		Wiki  string `json:"wiki"`
		Title string `json:"title"`
		Note  string `json:"note"`
	} `json:"recovered"`
	OnlyCopyLost []struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	} `json:"only_copy_lost"`
	Unchecked []json.RawMessage `json:"unchecked"`
	Failed    []string          `json:"failed"`
}

func TestRecoverWipedServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	own := testsvc.StartOwnMinIO(t)
	// The server that will be lost is the third of five.
	eps := []string{e.Endpoints[0], e.Endpoints[1], own.Endpoint, e.Endpoints[2], e.Endpoints[3]}
	e.Endpoints = eps
	e.configure(config.ActiveEndpoints(eps...))
	for _, w := range []string{"testwiki", "privatewiki"} {
		e.run("inventory", "--wiki", w)
	}
	e.run("backup", "--workers", "4")
	onLost := map[int64]bool{} // versions whose object is on the lost server
	var rs *sql.Rows
	rs, err := e.DB.Query(`SELECT f.id FROM files f JOIN backups b ON b.id = f.backup_id JOIN locations l ON l.id = b.location_id WHERE l.endpoint = ?`, own.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id int64
		rs.Scan(&id)
		onLost[id] = true
	}
	rs.Close()
	objects := len(e.listObjects([]string{own.Endpoint})[own.Endpoint])
	if len(onLost) == 0 || objects == 0 {
		t.Fatalf("nothing on the server to lose: %d versions, %d objects", len(onLost), objects)
	}
	stored := map[string]int{"testwiki": e.storedVersions("testwiki"), "privatewiki": e.storedVersions("privatewiki")}

	recoverServer := func(args ...string) (recoverReport, int) {
		out, stderr, code := e.exec(append([]string{"--json", "recover-server", own.Endpoint}, args...)...)
		var rep recoverReport
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil {
			t.Fatalf("recover-server %v (exit %d): %v\n%s\n%s", args, code, err, out, stderr)
		}
		return rep, code
	}
	// While the server still has its objects, nothing is lost.
	if intact, code := recoverServer("--execute"); code != 0 || intact.Objects != objects || intact.StillThere != objects || len(intact.Recovered) != 0 {
		t.Fatalf("recover-server of an intact server (exit %d): %+v", code, intact)
	}

	own.Wipe()

	plan, code := recoverServer()
	if code != 0 || !plan.DryRun || plan.Objects != objects || plan.StillThere != 0 || len(plan.Recovered) != len(onLost) || len(plan.OnlyCopyLost) != 0 {
		t.Fatalf("dry run (exit %d): %+v; want %d objects lost, %d versions to recover", code, plan, objects, len(onLost))
	}
	var pending int
	e.DB.QueryRow(`SELECT COUNT(*) FROM files WHERE backup_status = 'pending'`).Scan(&pending)
	if pending != 0 {
		t.Fatalf("the dry run changed %d versions", pending)
	}
	rep, code := recoverServer("--execute")
	if code != 0 || rep.DryRun || len(rep.Recovered) != len(onLost) || rep.RecordsDropped != objects || len(rep.Failed) > 0 {
		t.Fatalf("recover-server --execute (exit %d): %+v", code, rep)
	}
	for _, v := range rep.Recovered {
		if !onLost[v.ID] {
			t.Errorf("version %d (%s) was recovered, its object was not on the lost server", v.ID, v.Title)
		}
	}
	rs, err = e.DB.Query(`SELECT id, backup_status, backup_id IS NULL FROM files`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var (
			id       int64
			st       string
			unlinked bool
		)
		rs.Scan(&id, &st, &unlinked)
		if onLost[id] != (st == "pending" && unlinked) {
			t.Errorf("version %d: %s (unlinked %v), on the lost server %v", id, st, unlinked, onLost[id])
		}
	}
	rs.Close()
	var history int
	e.DB.QueryRow(`SELECT COUNT(DISTINCT file_id) FROM file_history WHERE source = 'recover-server'`).Scan(&history)
	if history != len(onLost) {
		t.Errorf("history of recover-server for %d versions, want %d", history, len(onLost))
	}
	// Run again: nothing left on it.
	if again, code := recoverServer("--execute"); code != 0 || again.Objects != 0 {
		t.Errorf("second run (exit %d): %+v", code, again)
	}

	// The next backup brings every version back to backedup/duplicate.
	e.run("backup", "--workers", "4")
	for w, n := range stored {
		if got := e.storedVersions(w); got != n {
			t.Errorf("%s: %d versions stored after the backup, %d before the loss", w, got, n)
		}
	}
	rs2 := e.shards()
	for _, r := range e.recordedObjects() {
		if home := homeOf(rs2, r.sha256); r.endpoint != home {
			t.Errorf("%s is recorded on %s, its home is %s", r.key, r.endpoint, home)
		}
	}
	for _, w := range []string{"testwiki", "privatewiki"} {
		if written, failed := e.restoreAll(w); len(failed) > 0 || written != stored[w] {
			t.Errorf("%s after the recovery: %d of %d restored; failed %v", w, written, stored[w], failed)
		}
	}
	e.checkNoOrphans(eps)
	if n := len(e.listObjects([]string{own.Endpoint})[own.Endpoint]); n != objects {
		t.Errorf("the wiped server holds %d objects again, want %d", n, objects)
	}
	e.CheckEndState(t)
}

// rekeyReport is the part of `rekey --json` the tests read.
type rekeyReport struct {
	DryRun    bool `json:"dry_run"`
	ToRewrite int  `json:"to_rewrite"`
	Rewritten int  `json:"rewritten"`
	Whole     int  `json:"whole"`
	Composed  int  `json:"composed"`
	Bytes     struct {
		Uploaded int64 `json:"uploaded"`
		Copied   int64 `json:"copied_server_side"`
		Read     int64 `json:"read"`
	} `json:"bytes"`
	Failed []json.RawMessage `json:"failed"`
}

// ageCLI decrypts data with the Debian age CLI and the identity in idFile.
func ageCLI(t *testing.T, idFile string, data []byte) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("age")
	if err != nil {
		testsvc.SkipOrFail(t, "the age CLI is not installed (apt-get install age)")
	}
	cmd := exec.Command(bin, "-d", "-i", idFile)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return out.Bytes(), nil
}

func TestRekey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	e.run("inventory", "--wiki", "privatewiki")
	e.run("backup", "--wiki", "privatewiki")
	oldID := e.IdentityFile
	before := e.recordedObjects()
	if len(before) == 0 {
		t.Fatal("nothing backed up")
	}

	// Rotate: a new operator key plus an offline escrow key.
	newID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	escrow, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	newFile, escrowFile := e.Secret("new-identity.txt", newID.String()), e.Secret("escrow.txt", escrow.String())
	e.WriteConfig(func(c *config.Config) {
		c.Storage.Endpoints = config.ActiveEndpoints(e.Endpoints...)
		c.Encryption = config.Encryption{IdentityFile: newFile, Recipients: []string{newID.Recipient().String(), escrow.Recipient().String()}}
	}, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public}, testsvc.DeployedWiki{Name: "privatewiki", Type: "private", Wiki: e.private})

	rekeyRun := func(args ...string) (rekeyReport, string) {
		t.Helper()
		cmd := e.command(append([]string{"--json", "rekey", "--identity", oldID}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("rekey %v: %v\n%s\n%s", args, err, stdout.String(), stderr.String())
		}
		var rep rekeyReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("rekey output: %v\n%s", err, stdout.String())
		}
		return rep, stderr.String()
	}
	plan, _ := rekeyRun()
	if !plan.DryRun || plan.ToRewrite != len(before) || plan.Rewritten != 0 {
		t.Fatalf("dry run: %+v, want %d objects to rewrite", plan, len(before))
	}

	// kill -9 at random points of the rewrites, then one more run.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range 4 {
		inFlight, _ := e.killDuringMoves(rng, "rekey", "--identity", oldID, "--execute", "--parallel", "2")
		e.checkRecordedReadable(fmt.Sprintf("after kill %d (%d rewrites in flight)", i, inFlight))
		done, journal := 0, 0
		for _, r := range e.recordedObjects() {
			if !r.recipientsFPIsNull {
				done++
			}
		}
		e.DB.QueryRow(`SELECT COUNT(*) FROM object_moves`).Scan(&journal)
		t.Logf("after kill %d: %d of %d objects rewritten, %d in the journal", i, done, len(before), journal)
	}
	rep, log := rekeyRun("--execute")
	if len(rep.Failed) > 0 {
		t.Fatalf("rekey: %+v", rep)
	}
	after := e.recordedObjects()
	if len(after) != len(before) {
		t.Fatalf("%d objects before, %d after", len(before), len(after))
	}
	// Every object: under its new key, recorded for the recipients; the
	// old identity is refused, the new one and the escrow key (the age
	// CLI) decrypt it to its content.
	for _, r := range after {
		if !strings.HasSuffix(r.key, ".k1.age") || r.recipientsFPIsNull {
			t.Errorf("object %d: key %s, fingerprint recorded %v", r.id, r.key, !r.recipientsFPIsNull)
		}
		data := e.Get(r.endpoint, r.key)
		if _, err := ageCLI(t, oldID, data); err == nil || !strings.Contains(err.Error(), "no identity matched") {
			t.Errorf("%s: the old identity: %v, want refused", r.key, err)
		}
		for _, id := range []string{newFile, escrowFile} {
			plain, err := ageCLI(t, id, data)
			if err != nil {
				t.Fatalf("%s: age -d -i %s: %v", r.key, filepath.Base(id), err)
			}
			if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != r.sha256 {
				t.Errorf("%s: decrypts to sha256 %x, want %s", r.key, sum, r.sha256)
			}
		}
	}
	e.checkNoOrphans(e.Endpoints)
	// The log has each object's byte counts; small objects go up whole.
	lines := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg=rekeyed") {
			lines++
			if !strings.Contains(l, "bytes_uploaded=") || !strings.Contains(l, "bytes_copied_server_side=") {
				t.Errorf("log line without byte counts: %s", l)
			}
		}
	}
	t.Logf("last run: %d rewritten (%d whole, %d composed), %d bytes uploaded, %d copied server-side, %d read",
		rep.Rewritten, rep.Whole, rep.Composed, rep.Bytes.Uploaded, rep.Bytes.Copied, rep.Bytes.Read)
	if lines != rep.Rewritten {
		t.Errorf("%d log lines for %d objects rewritten", lines, rep.Rewritten)
	}
	// Nothing left to do; restores use the new identity.
	if again, _ := rekeyRun(); again.ToRewrite != 0 {
		t.Errorf("after the rekey, %d objects are still to rewrite", again.ToRewrite)
	}
	if written, failed := e.restoreAll("privatewiki"); len(failed) > 0 || written != e.storedVersions("privatewiki") {
		t.Errorf("after the rekey: %d of %d restored; failed %v", written, e.storedVersions("privatewiki"), failed)
	}
	e.Identity = newID // CheckEndState decrypts with it
	e.CheckEndState(t)
}

// TestDeleteRefusedWhileObjectsMove: delete --execute does not run while a
// rebalance or rekey holds the moves lock (an object moved between the
// lookup and the removal would outlive its deletion); a dry run does.
func TestDeleteRefusedWhileObjectsMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.run("inventory", "--wiki", "testwiki")
	s, err := metadata.Open(context.Background(), e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release, err := s.LockMoves(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := e.exec("delete", "--wiki", "testwiki", "--title", "No_such_file.png", "--execute", "--yes")
	if code != 1 || !strings.Contains(stderr, "another rebalance or rekey is running") || !strings.Contains(stderr, "it resumes where it stopped") {
		t.Errorf("delete --execute under the moves lock: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := e.exec("delete", "--wiki", "testwiki", "--title", "No_such_file.png", "--yes"); code != 4 {
		t.Errorf("dry run under the moves lock: exit %d, want 4 (nothing matched)\n%s", code, stderr)
	}
	release()
	if _, stderr, code := e.exec("delete", "--wiki", "testwiki", "--title", "No_such_file.png", "--execute", "--yes"); code != 4 {
		t.Errorf("delete --execute after the lock: exit %d, want 4\n%s", code, stderr)
	}
}
