package recoverytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// maintenance runs a MediaWiki maintenance script on a test wiki, as
// testenv/testwiki/start.sh does.
func maintenance(t *testing.T, w testsvc.Wiki, script string, args ...string) string {
	t.Helper()
	code := "/opt/testwiki-mediawiki"
	cmd := exec.Command("php", append([]string{filepath.Join(code, "maintenance", script)}, args...)...)
	cmd.Env = append(os.Environ(), "MW_INSTALL_PATH="+code, "MW_CONFIG_FILE="+filepath.Join(w.Dir, "LocalSettings.php"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
	return string(out)
}

// TestDeleteAfterProductionErased backs a wiki of its own up, erases files
// in it with the real eraseArchivedFile.php and deleteBatch.php, and
// deletes the backups: in batch mode from the erase log, and by title for a
// file whose URL production now answers with 404.
func TestDeleteAfterProductionErased(t *testing.T) {
	w := testsvc.FreshWiki(t, "recovery-wiki", 2, false)
	e := newEnv(t, wikiConf{"testwiki", "public", w})

	// A file deleted in production after its backup: its old URL is 404.
	list := filepath.Join(e.Dir, "delete-list")
	os.WriteFile(list, []byte("File:Photo.jpeg\n"), 0o600)
	maintenance(t, w, "deleteBatch.php", "-u", "Admin", "-r", "recovery test", list)
	photo := e.versions("f.title = 'Photo.jpeg'")
	if len(photo) != 1 || photo[0].key == "" {
		t.Fatalf("Photo.jpeg: %+v", photo)
	}
	before := e.objects()
	r := e.run("delete-media-file", "--execute", "--yes", "--title", "Photo.jpeg")
	if r.code != 0 || !strings.Contains(r.stderr, "status=404") || !strings.Contains(r.stdout, "1 object removed") {
		t.Fatalf("delete of a file production erased: %s", r)
	}
	if got := e.objects(); len(got) != len(before)-1 || slices.Contains(got, photo[0].endpoint+" "+photo[0].key) {
		t.Errorf("after deleting Photo.jpeg: %d objects (was %d)", len(got), len(before))
	}

	// eraseArchivedFile.php on two deleted files; Deleted_copy.png has the
	// same bytes as the public Simple.png, so its object must stay. The log
	// is kept as an operator's terminal shows it, as a Windows editor saves
	// it: shell prompts, sudo php instead of mwscript (naming no wiki: the
	// current one stays), CRLF and a byte order mark.
	var log strings.Builder
	log.WriteString("\ufeffuser@mwmaint2002:~$ mwscript eraseArchivedFile.php --wiki testwiki --filename \"To_be_deleted.png\" --filekey \"*\" --delete\n")
	log.WriteString(maintenance(t, w, "eraseArchivedFile.php", "--filekey", "*", "--filename", "To_be_deleted.png", "--delete"))
	log.WriteString("user@mwmaint2002:~$ sudo -u www-data php /srv/mediawiki/php-1.39/maintenance/eraseArchivedFile.php\t--filekey '*' --filename Deleted_copy.png --delete\n")
	log.WriteString(maintenance(t, w, "eraseArchivedFile.php", "--filekey", "*", "--filename", "Deleted_copy.png", "--delete"))
	log.WriteString("user@mwmaint2002:~$ \n")
	if n := strings.Count(log.String(), "Deleted version '"); n != 3 {
		t.Fatalf("eraseArchivedFile.php deleted %d versions, want 3:\n%s", n, log.String())
	}
	logFile := filepath.Join(e.Dir, "erase.log")
	os.WriteFile(logFile, []byte(strings.ReplaceAll(log.String(), "\n", "\r\n")), 0o600)

	// Query in batch mode first: found 3, none missing.
	r = e.mustRun("query-media-file", "--json", logFile)
	if !strings.Contains(r.stdout, `"found": 3`) || !strings.Contains(r.stdout, `"missing": 0`) {
		t.Errorf("batch query: %s", r)
	}

	doomed := e.versions("f.title = 'To_be_deleted.png'")
	objects := e.objects()
	r = e.run("delete-media-file", "--execute", "--yes", logFile)
	if r.code != 0 || !strings.Contains(r.stderr, "SHARED CONTENT") || !strings.Contains(r.stdout, "2 objects removed, 1 kept (shared), 3 marked hard-deleted") {
		t.Fatalf("batch delete: %s", r)
	}
	var want []string
	for _, o := range objects {
		if o != doomed[0].endpoint+" "+doomed[0].key && o != doomed[1].endpoint+" "+doomed[1].key {
			want = append(want, o)
		}
	}
	if got := e.objects(); !slices.Equal(got, want) {
		t.Errorf("objects after the batch delete: %d, want %d", len(got), len(want))
	}
	for _, v := range e.versions("f.title IN ('To_be_deleted.png', 'Deleted_copy.png', 'Photo.jpeg')") {
		if v.status != "hard-deleted" {
			t.Errorf("%s: %s, want hard-deleted", v.title, v.status)
		}
	}
	if v := e.versions("f.title = 'Simple.png'"); len(v) != 1 || v[0].key == "" {
		t.Errorf("Simple.png lost its backup: %+v", v)
	}

	// The same log again: nothing left to delete, every entry found
	// (hard-deleted rows), nothing removed.
	r = e.run("delete-media-file", "--execute", "--yes", logFile)
	if r.code != 0 || !strings.Contains(r.stdout, "0 objects removed") {
		t.Errorf("second batch delete: %s", r)
	}
	// A binary file, or one without deletion lines, is a usage error.
	for _, bad := range []string{bins["query-media-file"], list} {
		if r = e.run("delete-media-file", "--execute", "--yes", bad); r.code != 2 || !strings.Contains(r.stderr, "no deletion lines found in "+bad) {
			t.Errorf("batch file %s: %s\nwant exit 2, no deletion lines found", bad, r)
		}
	}
	// A version unknown to the backups is missing: exit 3, with counts.
	os.WriteFile(logFile, []byte("mwscript eraseArchivedFile.php --wiki=testwiki\nDeleted version '1.png' (20250101120000) of file 'Nope.png'\n"), 0o600)
	if r = e.run("query-media-file", logFile); r.code != 4 || !strings.Contains(r.stderr, "missing=1") {
		t.Errorf("batch with an unknown version: %s", r)
	}
}
