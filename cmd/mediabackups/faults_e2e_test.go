package main_test

// Fault injection against the real services (issue 8, sections 3 to 5):
// the database going away under a backup, claims left by a killed worker,
// a MinIO server down or hung, and spool files of a killed backup.

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
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

// checkEndState is an independent check of what a backup left: every
// backedup or duplicate version's object exists on its recorded server and
// its (decrypted) content has the version's sha1; nothing is left
// processing; every object in the bucket belongs to a backup record.
func (e *env) checkEndState() {
	t := e.t
	t.Helper()
	rs, err := e.DB.Query(`SELECT f.title, f.backup_status, LOWER(HEX(f.sha1)), COALESCE(b.object_key, ''),
		COALESCE(l.endpoint, ''), COALESCE(b.encrypted, 0)
		FROM files f LEFT JOIN backups b ON b.id = f.backup_id LEFT JOIN locations l ON l.id = b.location_id ORDER BY f.id`)
	if err != nil {
		t.Fatal(err)
	}
	type version struct {
		title, status, sha1, key, endpoint string
		encrypted                          bool
	}
	var vs []version
	for rs.Next() {
		var v version
		if err := rs.Scan(&v.title, &v.status, &v.sha1, &v.key, &v.endpoint, &v.encrypted); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	rs.Close()
	for _, v := range vs {
		switch v.status {
		case "processing":
			t.Errorf("%s is still processing", v.title)
		case "backedup", "duplicate":
			if v.key == "" {
				t.Errorf("%s is %s without a backup record", v.title, v.status)
				continue
			}
			data := e.Get(v.endpoint, v.key)
			if v.encrypted {
				data = e.ageDecrypt(data)
			}
			if got := sha1.Sum(data); hex.EncodeToString(got[:]) != v.sha1 {
				t.Errorf("%s: the object %s on %s has sha1 %x, the version's is %s", v.title, v.key, v.endpoint, got, v.sha1)
			}
		}
	}
	recorded := map[string]bool{}
	brs, err := e.DB.Query(`SELECT l.endpoint, b.object_key FROM backups b JOIN locations l ON l.id = b.location_id`)
	if err != nil {
		t.Fatal(err)
	}
	for brs.Next() {
		var ep, key string
		if err := brs.Scan(&ep, &key); err != nil {
			t.Fatal(err)
		}
		recorded[ep+" "+key] = true
	}
	brs.Close()
	for ep, keys := range e.Objects() {
		for _, k := range keys {
			if !recorded[ep+" "+k] {
				t.Errorf("orphan object %s on %s: no backup record names it", k, ep)
			}
		}
	}
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

func (e *env) countStatus(status string) int {
	e.t.Helper()
	var n int
	if err := e.DB.QueryRow("SELECT COUNT(*) FROM files WHERE backup_status = ?", status).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
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

	e.checkEndState()
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
	e.checkEndState()
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
