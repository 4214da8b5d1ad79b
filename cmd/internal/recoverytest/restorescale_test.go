package recoverytest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/procmem"
	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// TestRestoreAllScale restores every version of a wiki of n backed-up
// versions (3 000 by default; MEDIABACKUPS_TEST_RESTORE_ENTRIES sets it),
// several pages of matches, with restore-media-file --all: every file is
// written with the right bytes, progress is shown, and memory stays under
// 200 MiB. The versions and their objects are made directly (no wiki has
// thousands of files here).
func TestRestoreAllScale(t *testing.T) {
	t.Parallel()
	n := 3000
	if v := os.Getenv("MEDIABACKUPS_TEST_RESTORE_ENTRIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("MEDIABACKUPS_TEST_RESTORE_ENTRIES=%q", v)
		}
	}
	d := testsvc.NewDeployment(t, 1)
	d.WriteConfig(func(c *config.Config) { c.DefaultWiki = "otherwiki" })
	e := &env{t: t, Deployment: d}
	e.mustRun("mediabackups", "schema", "apply")
	for _, q := range []string{
		`INSERT INTO wikis (id, name, type) VALUES (1, 'testwiki', 'public'), (2, 'otherwiki', 'public')`,
		`INSERT INTO locations (id, endpoint) VALUES (1, '` + d.Endpoints[0] + `')`,
	} {
		if _, err := e.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	content := func(i int) []byte { return []byte(fmt.Sprintf("version %d of a whole-wiki restore\n", i)) }
	// The objects, 16 at a time.
	start := time.Now()
	mc := d.MinIOClient(d.Endpoints[0])
	if err := mc.MakeBucket(context.Background(), d.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, 1)
	for i := 1; i <= n; i++ {
		b := content(i)
		key := fmt.Sprintf("testwiki/%x", sha256.Sum256(b))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := mc.PutObject(context.Background(), d.Bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// The rows, 500 at a time; a version of another wiki that --all
	// must leave out.
	for lo := 1; lo <= n; lo += 500 {
		var bv, fv []string
		var ba, fa []any
		for i := lo; i < lo+500 && i <= n; i++ {
			b := content(i)
			s1, s256 := sha1.Sum(b), sha256.Sum256(b)
			bv = append(bv, "(?, 1, ?, ?, ?, 1, ?, ?, 0, ?, '2025-06-01')")
			ba = append(ba, i, s256[:], s1[:], len(b), d.Bucket, fmt.Sprintf("testwiki/%x", s256), len(b))
			fv = append(fv, "(1, ?, 'c', ?, ?, ?, ?, 'text/plain', 'public', '2020-01-01' + INTERVAL ? MINUTE, 'backedup', ?, '2025-06-01', NOW(), NOW())")
			// Many versions share an upload minute: pages split ties.
			fa = append(fa, fmt.Sprintf("File_%05d.txt", i), fmt.Sprintf("p/%d", i), s1[:], s256[:], len(b), i/7, i)
		}
		if _, err := e.DB.Exec(`INSERT INTO backups (id, wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date) VALUES `+strings.Join(bv, ","), ba...); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DB.Exec(`INSERT INTO files (wiki_id, title, production_container, production_path, sha1, sha256, size, mime, production_status,
			upload_date, backup_status, backup_id, backup_date, created_at, updated_at) VALUES `+strings.Join(fv, ","), fa...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.DB.Exec(`INSERT INTO files (wiki_id, title, production_container, production_path, sha1, production_status, upload_date, created_at, updated_at)
		VALUES (2, 'Other.txt', 'c', 'o', UNHEX(SHA1('o')), 'public', '2020-01-01', NOW(), NOW())`); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d versions and objects made in %s", n, time.Since(start).Round(time.Millisecond))

	dir := filepath.Join(t.TempDir(), "restored")
	cmd := e.command("restore-media-file", "--wiki", "testwiki", "--all", "--yes", "--target", dir, "--parallel", "8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := procmem.WatchPeakRSS(cmd.Process.Pid, 50*time.Millisecond)
	err := cmd.Wait()
	rss := peak()
	took := time.Since(start)
	t.Logf("restore --all of %d versions: %s, peak RSS %d MiB", n, took.Round(time.Millisecond), rss>>20)
	if err != nil {
		t.Fatalf("restore: %v\nstderr:\n%s", err, tail(stderr.String(), 2000))
	}
	if want := fmt.Sprintf("%d out of %d files were successfully written", n, n); !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, tail(stdout.String(), 2000))
	}
	if got := strings.Count(stderr.String(), "progress: "); got < 10 {
		t.Errorf("%d progress lines on stderr, want one per tenth", got)
	}
	if rss > 200<<20 {
		t.Errorf("peak RSS %d MiB, want under 200 MiB", rss>>20)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != n {
		t.Fatalf("%d files in the target (%v), want %d", len(entries), err, n)
	}
	for _, i := range []int{1, n / 2, n} {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("File_%05d.txt", i)))
		if err != nil || !bytes.Equal(b, content(i)) {
			t.Errorf("File_%05d.txt: %q, %v", i, b, err)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
