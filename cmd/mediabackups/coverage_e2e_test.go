package main_test

// Nothing silently uncovered: what the wiki shows is listed, what the
// credentials allow is backed up, and the rest is recorded visibly, with a
// status and a reason that inventory, backup, status and query all show.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
)

type warningJSON struct {
	Wiki     string `json:"wiki"`
	Versions int64  `json:"versions"`
	Status   string `json:"status"`
	What     string `json:"what"`
	Reason   string `json:"reason"`
}

type inventoryJSON struct {
	Seen, Added, Changed, Deleted, Hidden, Dated int
	HiddenRead                                   int   `json:"hidden_read"`
	Requeued                                     int64 `json:"requeued"`
	NotRecorded                                  []struct {
		What   string `json:"what"`
		Count  int    `json:"count"`
		Reason string `json:"reason"`
	} `json:"not_recorded"`
	Warnings []warningJSON `json:"warnings"`
}

type backupJSON struct {
	Total struct {
		Files, BackedUp, Duplicate, Error, Unreadable, Gone int
	} `json:"total"`
	Requeued map[string]int64 `json:"requeued"`
	Warnings []warningJSON    `json:"warnings"`
}

type statusJSON []struct {
	ByBackupStatus map[string]int64 `json:"by_backup_status"`
	Reasons        map[string][]struct {
		Reason string `json:"reason"`
		Count  int64  `json:"count"`
	} `json:"reasons"`
}

type queryJSON struct {
	Matches []struct {
		Title          string  `json:"title"`
		ProductionStat string  `json:"production_status"`
		DeleteDate     *string `json:"delete_date"`
		BackupStatus   string  `json:"backup_status"`
		BackupReason   *string `json:"backup_reason"`
		BackupLocation *string `json:"backup_location"`
	} `json:"matches"`
}

func (e *env) runJSON(v any, args ...string) {
	e.t.Helper()
	out := e.run(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("mediabackups %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// wikiVersions counts the versions of populate.sh's summary: deleted ones
// (list=filearchive) and revision-deleted ones.
func wikiVersions(t *testing.T, w testsvc.Wiki) (deleted, hidden int) {
	for _, f := range readSummary(t, w).Files {
		for _, v := range f.Versions {
			switch {
			case v.Hidden:
				hidden++
			case v.Status == "deleted":
				deleted++
			}
		}
	}
	return deleted, hidden
}

// A wiki configured without any login: the deleted versions the wiki lists
// anonymously are recorded as unreadable with the right they need, and
// said so everywhere; once a login that can read them is configured, the
// next backup takes them.
func TestWikiWithoutLoginCoversDeletedFilesVisibly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	wantDeleted, wantHidden := wikiVersions(t, e.public)
	anonymous := testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public, Tune: func(c *config.Wiki) {
		c.User, c.PasswordFile, c.WebUser, c.WebPasswordFile = "", "", "", ""
	}}
	e.WriteConfig(nil, anonymous)

	var inv inventoryJSON
	e.runJSON(&inv, "inventory", "--wiki", "testwiki")
	if inv.Deleted != wantDeleted || wantDeleted == 0 {
		t.Errorf("anonymous inventory listed %d deleted versions, the wiki lists %d", inv.Deleted, wantDeleted)
	}
	unreadable := func(ws []warningJSON) (n int64, reason string) {
		for _, w := range ws {
			if w.Status == "unreadable" {
				n += w.Versions
				reason = w.Reason
			}
		}
		return n, reason
	}
	if n, reason := unreadable(inv.Warnings); n != int64(wantDeleted) || !strings.Contains(reason, "needs a login with the deletedtext right") {
		t.Errorf("inventory warnings %+v: want %d unreadable versions, with the right they need", inv.Warnings, wantDeleted)
	}
	if len(inv.NotRecorded) != 1 || inv.NotRecorded[0].Count != wantHidden || !strings.Contains(inv.NotRecorded[0].Reason, "deletedtext") {
		t.Errorf("inventory: not recorded %+v, want the %d revision-deleted version(s) with the right they need", inv.NotRecorded, wantHidden)
	}
	if out := e.run("inventory", "--wiki", "testwiki"); !strings.Contains(out, fmt.Sprintf("WARNING: testwiki: %d versions unreadable", wantDeleted)) ||
		!strings.Contains(out, "WARNING: testwiki: 1 revision-deleted version not recorded") {
		t.Errorf("the text inventory does not end with WARNING lines:\n%s", out)
	}

	var st statusJSON
	e.runJSON(&st, "status")
	if len(st) != 1 || st[0].ByBackupStatus["unreadable"] != int64(wantDeleted) || len(st[0].ByBackupStatus) != 8 ||
		len(st[0].Reasons["unreadable"]) != 1 || !strings.Contains(st[0].Reasons["unreadable"][0].Reason, "deletedtext") {
		t.Errorf("status --json: %+v", st)
	}
	if out := e.run("status"); !regexp.MustCompile(fmt.Sprintf(`\n  unreadable: +%d \([^)]*\)\n    %d: needs a login with the deletedtext right`, wantDeleted, wantDeleted)).MatchString(out) ||
		!regexp.MustCompile(`\n  gone: +0 `).MatchString(out) || !regexp.MustCompile(`\n  unavailable: +0 `).MatchString(out) {
		t.Errorf("status text lacks a status or a reason:\n%s", out)
	}

	var b backupJSON
	e.runJSON(&b, "backup", "--workers", "4")
	if b.Total.Error != 0 || b.Total.Unreadable != 0 || b.Total.BackedUp == 0 {
		t.Errorf("anonymous backup: %+v", b.Total)
	}
	if n, _ := unreadable(b.Warnings); n != int64(wantDeleted) {
		t.Errorf("backup warnings %+v: want the %d unreadable versions", b.Warnings, wantDeleted)
	}
	if out := e.run("backup"); !strings.Contains(out, fmt.Sprintf("WARNING: testwiki: %d versions unreadable", wantDeleted)) {
		t.Errorf("the text backup does not end with a WARNING line:\n%s", out)
	}
	var q queryJSON
	e.runJSON(&q, "query", "--wiki", "testwiki", "--title", "Deleted_single.jpg")
	if len(q.Matches) != 1 || q.Matches[0].BackupStatus != "unreadable" || q.Matches[0].BackupReason == nil ||
		!strings.Contains(*q.Matches[0].BackupReason, "deletedtext") {
		t.Errorf("query of an unreadable version: %+v", q.Matches)
	}

	// The credentials now allow it: backup makes the versions pending
	// again first, and takes them; the inventory then reads the
	// revision-deleted version too.
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public})
	b = backupJSON{}
	e.runJSON(&b, "backup", "--workers", "4")
	if b.Requeued["testwiki"] != int64(wantDeleted) || b.Total.Files != wantDeleted || b.Total.Error+b.Total.Unreadable != 0 || len(b.Warnings) != 0 {
		t.Errorf("backup with a login: %+v (requeued %v, warnings %+v), want the %d deleted versions backed up", b.Total, b.Requeued, b.Warnings, wantDeleted)
	}
	inv = inventoryJSON{}
	e.runJSON(&inv, "inventory", "--wiki", "testwiki")
	if inv.HiddenRead != wantHidden || inv.Added != wantHidden || len(inv.Warnings) != 0 || len(inv.NotRecorded) != 0 {
		t.Errorf("inventory with a login: %+v", inv)
	}
	e.run("backup")
	e.checkWiki("testwiki", e.public, false)
}

// A login the wiki refuses deleted bytes to (the test wikis' Reader, a main
// account without deletedtext): the deleted versions are listed, and the
// backup records each as unreadable with the refusal, not as an error. The
// next backup checks one, still refused, and leaves them; with a login
// that may read them, they are pending again and backed up.
func TestLoginWithoutTheRightRecordsUnreadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	wantDeleted, wantHidden := wikiVersions(t, e.public)
	reader := testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public, Tune: func(c *config.Wiki) {
		// Reader is made by testenv/testwiki/start.sh: it can read, no more.
		c.User, c.PasswordFile = "Reader", e.Secret("reader-password", "testwiki-reader-pass")
		c.WebUser, c.WebPasswordFile = "", ""
	}}
	e.WriteConfig(nil, reader)
	var inv inventoryJSON
	e.runJSON(&inv, "inventory", "--wiki", "testwiki")
	if inv.Deleted != wantDeleted || len(inv.NotRecorded) != 1 || inv.NotRecorded[0].Count != wantHidden ||
		!strings.Contains(inv.NotRecorded[0].Reason, `Special:RevisionDelete refused the login "Reader"`) {
		t.Errorf("inventory as Reader: %d deleted, not recorded %+v", inv.Deleted, inv.NotRecorded)
	}
	var b backupJSON
	e.runJSON(&b, "backup", "--workers", "4")
	if b.Total.Unreadable != wantDeleted || b.Total.Error != 0 {
		t.Errorf("backup as Reader: %+v, want the %d deleted versions unreadable, no error", b.Total, wantDeleted)
	}
	if len(b.Warnings) != 1 || b.Warnings[0].Versions != int64(wantDeleted) ||
		!strings.Contains(b.Warnings[0].Reason, `needs a login with the deletedtext right (Special:Undelete refused the login "Reader"`) {
		t.Errorf("backup warnings as Reader: %+v", b.Warnings)
	}
	b = backupJSON{}
	e.runJSON(&b, "backup")
	if b.Requeued["testwiki"] != 0 || b.Total.Files != 0 {
		t.Errorf("second backup as Reader: %+v, requeued %v; want nothing retried", b.Total, b.Requeued)
	}
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: e.public})
	b = backupJSON{}
	e.runJSON(&b, "backup", "--workers", "4")
	if b.Requeued["testwiki"] != int64(wantDeleted) || b.Total.Unreadable+b.Total.Error != 0 || len(b.Warnings) != 0 {
		t.Errorf("backup with a login that may read them: %+v, requeued %v, warnings %+v", b.Total, b.Requeued, b.Warnings)
	}
}

// An inventory alone covers what `update` records from the whole log: the
// revision-deleted version (read through Special:RevisionDelete) and the
// delete dates. Replaying the log after it finds nothing to add or change.
func TestInventoryCoversWhatUpdateRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	wantDeleted, wantHidden := wikiVersions(t, e.public)
	var inv inventoryJSON
	e.runJSON(&inv, "inventory", "--wiki", "testwiki")
	if inv.HiddenRead != wantHidden || inv.Hidden != wantHidden || len(inv.NotRecorded) != 0 {
		t.Errorf("inventory: %d of %d revision-deleted versions read (%+v), want %d", inv.HiddenRead, inv.Hidden, inv.NotRecorded, wantHidden)
	}
	if inv.Dated != wantDeleted {
		t.Errorf("inventory dated %d deleted versions from the log, want all %d", inv.Dated, wantDeleted)
	}
	st := e.update("testwiki")
	if st.Added != 0 || st.Changed != 0 || st.Unreadable != 0 {
		t.Errorf("update after the inventory: %+v, want nothing added or changed", st)
	}
	// A second inventory knows the revision-deleted version: nothing changes.
	inv = inventoryJSON{}
	e.runJSON(&inv, "inventory", "--wiki", "testwiki")
	if inv.Added != 0 || inv.Changed != 0 || inv.HiddenRead != wantHidden {
		t.Errorf("second inventory: %+v", inv)
	}

	// The delete dates: whole files deleted by deleteBatch.php at 09:00,
	// one old version at 10:00 (named in the comment), one old version
	// hidden at 11:00.
	for date, want := range map[string][]string{
		"2025-01-05 09:00:00": {"Deleted_copy.png", "Deleted_photo.jpeg", "Deleted_single.jpg", "Deleted_Ärger.svg", "Reused_name.png", "To_be_deleted.png", "To_be_deleted.png"},
		"2025-01-05 10:00:00": {"Old_version_deleted.png"},
		"2025-01-05 11:00:00": {"Revdel_old_version.png"},
	} {
		var q queryJSON
		e.runJSON(&q, "query", "--wiki", "testwiki", "--delete-date", date)
		var got []string
		for _, m := range q.Matches {
			got = append(got, m.Title)
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("deleted at %s: %v, want %v", date, got, want)
		}
	}
	e.run("backup", "--workers", "4")
	e.checkWiki("testwiki", e.public, false)
}

// A version erased in production (eraseArchivedFile.php) but still listed
// by the API is gone, not an error: never retried, counted and explained.
func TestErasedVersionIsGoneNotAnError(t *testing.T) {
	t.Parallel()
	fw := testsvc.FreshWiki(t, "coverage-erased", 3, false)
	e := newEnv(t, 2)
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: fw})
	e.run("inventory", "--wiki", "testwiki")
	erased := testsvc.Maintenance(t, fw, "eraseArchivedFile.php", "--filekey", "*", "--filename", "Deleted_single.jpg", "--delete")
	if !strings.Contains(erased, "Deleted version '") {
		t.Fatalf("eraseArchivedFile.php erased nothing:\n%s", erased)
	}
	code, out := e.exitCode("--json", "backup", "--workers", "4")
	var b backupJSON
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &b); code != 0 || err != nil || b.Total.Gone != 1 || b.Total.Error != 0 {
		t.Fatalf("backup with an erased version: exit %d, %+v (%v)\n%s", code, b.Total, err, out)
	}
	if code, out := e.exitCode("--json", "backup", "--retry-errors"); code != 0 || !strings.Contains(out, `"files": 0`) {
		t.Errorf("backup --retry-errors took the gone version again: exit %d\n%s", code, out)
	}
	var st statusJSON
	e.runJSON(&st, "status")
	if st[0].ByBackupStatus["gone"] != 1 || st[0].ByBackupStatus["error"] != 0 || len(st[0].Reasons["gone"]) != 1 ||
		!strings.Contains(st[0].Reasons["gone"][0].Reason, "erased in production") {
		t.Errorf("status: %+v", st)
	}
	var q queryJSON
	e.runJSON(&q, "query", "--wiki", "testwiki", "--title", "Deleted_single.jpg")
	if len(q.Matches) != 1 || q.Matches[0].BackupStatus != "gone" || q.Matches[0].BackupReason == nil ||
		!strings.Contains(*q.Matches[0].BackupReason, "404") || q.Matches[0].BackupLocation != nil {
		t.Errorf("query of the erased version: %+v", q.Matches)
	}
	if out := e.run("query", "--wiki", "testwiki", "--title", "Deleted_single.jpg"); !strings.Contains(out, "backup_status:        gone\nbackup_reason:        erased in production") {
		t.Errorf("query text of the erased version:\n%s", out)
	}
}
