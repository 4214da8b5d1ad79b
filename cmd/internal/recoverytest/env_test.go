// Package recoverytest holds the end-to-end tests of the recovery binaries
// (query-media-file, restore-media-file, delete-media-file) against the
// real services testenv/up.sh starts: MariaDB, MinIO, and the MediaWiki
// test wikis. Backups are made with the real mediabackups binary.
package recoverytest

import (
	"bytes"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
)

var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "recovery-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, name := range []string{"mediabackups", "query-media-file", "restore-media-file", "delete-media-file"} {
		bins[name] = filepath.Join(dir, name)
		out, err := exec.Command("go", testsvc.BuildArgs(bins[name], "../../"+name)...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wikiConf is one wiki of a test config.
type wikiConf struct {
	name, typ string
	w         testsvc.Wiki
}

// env is one test's world: its own deployment (database, bucket on three
// MinIO servers, config, age identity), backed up from the given wikis.
type env struct {
	t *testing.T
	*testsvc.Deployment
}

func newEnv(t *testing.T, wikis ...wikiConf) *env {
	t.Helper()
	e := &env{t: t, Deployment: testsvc.NewDeployment(t, 3)}
	// The recovery tools get a credential that may read, list and delete,
	// never write, as in production: every test below proves they need no more.
	e.RecoveryUser()
	var ws []testsvc.DeployedWiki
	for _, w := range wikis {
		ws = append(ws, testsvc.DeployedWiki{Name: w.name, Type: w.typ, Wiki: w.w})
	}
	e.WriteConfig(func(c *config.Config) { c.DefaultWiki = "testwiki" }, ws...)
	e.mustRun("mediabackups", "schema", "apply")
	for _, w := range wikis {
		e.mustRun("mediabackups", "inventory", "--wiki", w.name)
	}
	e.mustRun("mediabackups", "backup", "--workers", "4")
	return e
}

// result is what one run of a binary did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func (e *env) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bins[bin], append([]string{"--config", e.ConfigPath}, args...)...)
	cmd.Env = append(os.Environ(), "MEDIABACKUPS_CONFIG=")
	cmd.Dir = e.Dir
	return cmd
}

// run runs a binary with stdin not a terminal and returns what it did.
func (e *env) run(bin string, args ...string) result {
	e.t.Helper()
	cmd := e.command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("%s: %v", bin, err)
	}
	return r
}

func (e *env) mustRun(bin string, args ...string) result {
	e.t.Helper()
	r := e.run(bin, args...)
	if r.code != 0 {
		e.t.Fatalf("%s %s: %s", bin, strings.Join(args, " "), r)
	}
	return r
}

// objects returns every "endpoint key" stored in the test bucket, sorted.
func (e *env) objects() []string {
	e.t.Helper()
	var out []string
	for ep, keys := range e.Objects() {
		for _, k := range keys {
			out = append(out, ep+" "+k)
		}
	}
	sort.Strings(out)
	return out
}

// dbState is a checksum of the tables a recovery tool could change.
func (e *env) dbState() string {
	e.t.Helper()
	rows, err := e.DB.Query("CHECKSUM TABLE files, backups, file_history")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var name string
		var sum sql.NullInt64
		if err := rows.Scan(&name, &sum); err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d ", name, sum.Int64)
	}
	return b.String()
}

// version is a row of the files table, as the tests look at it.
type version struct {
	id                            int64
	title, status, sha1, sha256   string
	endpoint, key, uploaded, wiki string
}

func (e *env) versions(where string, args ...any) []version {
	e.t.Helper()
	rows, err := e.DB.Query(`SELECT f.id, w.name, f.title, f.production_status, LOWER(HEX(f.sha1)), LOWER(COALESCE(HEX(f.sha256), '')),
		COALESCE(l.endpoint, ''), COALESCE(b.object_key, ''), DATE_FORMAT(f.upload_date, '%Y%m%d%H%i%s')
		FROM files f JOIN wikis w ON w.id = f.wiki_id LEFT JOIN backups b ON b.id = f.backup_id
		LEFT JOIN locations l ON l.id = b.location_id WHERE `+where+` ORDER BY f.id`, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		var v version
		if err := rows.Scan(&v.id, &v.wiki, &v.title, &v.status, &v.sha1, &v.sha256, &v.endpoint, &v.key, &v.uploaded); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// originals indexes every file a test wiki holds on disk (current,
// archived and deleted versions) by sha1, so that restored bytes can be
// compared with production's own.
func originals(t *testing.T, w testsvc.Wiki) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(w.Dir, "images"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "/thumb/") || strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".htaccess") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha1.Sum(b)
		out[hex.EncodeToString(sum[:])] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
