// Package recoverytest holds the end-to-end tests of the recovery binaries
// (query-media-file, restore-media-file, delete-media-file) against the
// real services testenv/up.sh starts: MariaDB, MinIO, and the MediaWiki
// test wikis. Backups are made with the real mediabackups binary.
package recoverytest

import (
	"bytes"
	"context"
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

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"filippo.io/age"

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
		out, err := exec.Command("go", "build", "-o", bins[name], "../../"+name).CombinedOutput()
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

// env is one test's world: a database, a bucket, a config, an age identity.
type env struct {
	t       *testing.T
	dir     string
	config  string
	logDir  string
	dsn     string
	db      *sql.DB
	bucket  string
	minio   testsvc.MinIO
	servers []string
}

func newEnv(t *testing.T, wikis ...wikiConf) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), dsn: testsvc.Database(t), bucket: testsvc.Bucket(), minio: testsvc.MinIOServers(t)}
	e.servers = e.minio.Endpoints[:3]
	var err error
	if e.db, err = sql.Open("mysql", e.dsn+"?parseTime=true"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	secret := func(name, value string) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	e.logDir = filepath.Join(e.dir, "log")
	var ws strings.Builder
	for _, w := range wikis {
		fmt.Fprintf(&ws, "  - {name: %s, api: %q, type: %s, user: %s, password_file: %s, web_user: %s, web_password_file: %s}\n",
			w.name, w.w.API, w.typ, w.w.BotUser, secret("bot", w.w.BotPassword), w.w.AdminUser, secret("admin", w.w.AdminPassword))
	}
	cfg := fmt.Sprintf(`datacenter: dc1
metadata:
  dsn: %q
storage:
  bucket: %s
  endpoints: [%s]
  generation: {access_key: %s, secret_key_file: %s}
  recovery: {access_key: %s, secret_key_file: %s}
encryption:
  identity_file: %s
tmpdir: %s
logdir: %s
user_agent: "mediabackups-tests/1.0 (recovery tests; root@localhost)"
default_wiki: testwiki
wikis:
%s`, e.dsn, e.bucket, strings.Join(e.servers, ", "),
		e.minio.AccessKey, secret("minio-rw", e.minio.SecretKey), e.minio.AccessKey, secret("minio-recovery", e.minio.SecretKey),
		secret("identity.txt", id.String()), filepath.Join(e.dir, "tmp"), e.logDir, ws.String())
	e.config = filepath.Join(e.dir, "mediabackups.yaml")
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.removeBucket)
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
	cmd := exec.Command(bins[bin], append([]string{"--config", e.config}, args...)...)
	cmd.Env = append(os.Environ(), "MEDIABACKUPS_CONFIG=")
	cmd.Dir = e.dir
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

func (e *env) client(endpoint string) *minio.Client {
	e.t.Helper()
	c, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(e.minio.AccessKey, e.minio.SecretKey, ""),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) removeBucket() {
	if !strings.HasPrefix(e.bucket, "mbtest-") {
		panic("refusing to remove bucket " + e.bucket)
	}
	ctx := context.Background()
	for _, ep := range e.servers {
		c := e.client(ep)
		if ok, _ := c.BucketExists(ctx, e.bucket); !ok {
			continue
		}
		for o := range c.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Recursive: true}) {
			c.RemoveObject(ctx, e.bucket, o.Key, minio.RemoveObjectOptions{})
		}
		c.RemoveBucket(ctx, e.bucket)
	}
}

// objects returns every "endpoint key" stored in the test bucket, sorted.
func (e *env) objects() []string {
	e.t.Helper()
	var out []string
	for _, ep := range e.servers {
		c := e.client(ep)
		if ok, _ := c.BucketExists(context.Background(), e.bucket); !ok {
			continue
		}
		for o := range c.ListObjects(context.Background(), e.bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				e.t.Fatal(o.Err)
			}
			out = append(out, ep+" "+o.Key)
		}
	}
	sort.Strings(out)
	return out
}

// dbState is a checksum of the tables a recovery tool could change.
func (e *env) dbState() string {
	e.t.Helper()
	rows, err := e.db.Query("CHECKSUM TABLE files, backups, file_history")
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
	rows, err := e.db.Query(`SELECT f.id, w.name, f.title, f.production_status, LOWER(HEX(f.sha1)), LOWER(COALESCE(HEX(f.sha256), '')),
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
