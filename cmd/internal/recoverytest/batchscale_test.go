package recoverytest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/procmem"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
)

// TestBatchScale matches a generated erase log of n entries against a
// metadata database holding n backed-up versions: once when every entry
// is backed up (a million matches streamed out as JSON), once when none is
// (a million misses). Each run must stay under 200 MiB of memory and a
// minute, and log a summary instead of a line per miss. n is 20 000 by
// default; MEDIABACKUPS_TEST_BATCH_ENTRIES=1000000 runs the size the
// README reports.
func TestBatchScale(t *testing.T) {
	n := 20_000
	if v := os.Getenv("MEDIABACKUPS_TEST_BATCH_ENTRIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("MEDIABACKUPS_TEST_BATCH_ENTRIES=%q", v)
		}
	}
	d := testsvc.NewDeployment(t, 1)
	d.WriteConfig(func(c *config.Config) { c.DefaultWiki = "testwiki" })
	e := &env{t: t, Deployment: d}
	e.mustRun("mediabackups", "schema", "apply")
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO wikis (name, type) VALUES ('testwiki', 'public')`,
		`INSERT INTO locations (endpoint) VALUES ('http://127.0.0.1:9101')`,
		fmt.Sprintf(`INSERT INTO backups (id, wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date)
			SELECT seq, 1, UNHEX(SHA2(seq, 256)), UNHEX(SHA1(seq)), 1000, 1, 'mediabackups', CONCAT('testwiki/', SHA2(seq, 256)), 0, 1000, '2025-06-01'
			FROM seq_1_to_%d`, n),
		fmt.Sprintf(`INSERT INTO files (wiki_id, title, production_container, production_path, sha1, sha256, size, mime, production_status,
			upload_date, backup_status, backup_id, backup_date, created_at, updated_at)
			SELECT 1, CONCAT('Batch_file_', seq, '.jpg'), 'wikipedia-test-local-public', CONCAT('a/ab/Batch_file_', seq, '.jpg'),
			UNHEX(SHA1(seq)), UNHEX(SHA2(seq, 256)), 1000, 'image/jpeg', 'deleted', '2020-01-01' + INTERVAL seq SECOND, 'backedup', seq,
			'2025-06-01', NOW(), NOW() FROM seq_1_to_%d`, n),
	} {
		if _, err := e.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d versions loaded in %s", n, time.Since(start).Round(time.Millisecond))

	// The logs: the versions as eraseArchivedFile.php names them, and as
	// many versions the backups do not have.
	write := func(name string, line func(w io.Writer) error) string {
		path := filepath.Join(e.Dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		fmt.Fprintln(w, "user@mwmaint2002:~$ mwscript eraseArchivedFile.php --wiki testwiki --filekey '*' --delete")
		if err := line(w); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	found := write("found.log", func(w io.Writer) error {
		rows, err := e.DB.Query(`SELECT title, DATE_FORMAT(upload_date, '%Y%m%d%H%i%s'), LOWER(HEX(sha1)) FROM files ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var title, date, sha1 string
			if err := rows.Scan(&title, &date, &sha1); err != nil {
				return err
			}
			b36, err := mediawiki.SHA1HexToBase36(sha1)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Purging all thumbnails for file '%s'...done.\nDeleted version '%s.jpg' (%s) of file '%s'\n", title, b36, date, title)
		}
		return rows.Err()
	})
	missing := write("missing.log", func(w io.Writer) error {
		for i := range n {
			fmt.Fprintf(w, "Deleted version '%x.jpg' (20240101000000) of file 'Never_backed_up_%d.jpg'\n", i+1, i)
		}
		return nil
	})

	for _, tc := range []struct {
		name, log string
		code      int
		want      string
	}{
		{"every entry backed up", found, 0, fmt.Sprintf("found=%d missing=0", n)},
		{"no entry backed up", missing, 4, fmt.Sprintf("found=0 missing=%d", n)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--json", tc.log}
			if p := os.Getenv("MEDIABACKUPS_TEST_BATCH_PROFILE"); p != "" {
				args = append(args, "--cpuprofile", p+"."+strings.Fields(tc.name)[0])
			}
			cmd := e.command("query-media-file", args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			peak := procmem.WatchPeakRSS(cmd.Process.Pid, 50*time.Millisecond)
			matches, _ := countLines(stdout, `    {"id":`)
			cmd.Wait()
			took := time.Since(start)
			rss := peak()
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			t.Logf("%d entries, %s: exit %d in %s (CPU %s; %s to %s), peak RSS %d MiB, %d matches printed, %d lines on stderr",
				n, tc.name, cmd.ProcessState.ExitCode(), took.Round(time.Millisecond), cpu.Round(time.Millisecond), start.Format("15:04:05"),
				time.Now().Format("15:04:05"), rss>>20, matches, strings.Count(stderr.String(), "\n"))
			if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%.3000s", code, tc.code, tc.want, stderr.String())
			}
			if tc.code == 0 && matches != n {
				t.Errorf("%d matches printed, want %d", matches, n)
			}
			if lines := strings.Count(stderr.String(), "\n"); lines > 100 {
				t.Errorf("%d lines on stderr for %d entries: the misses are not summarised", lines, n)
			}
			if rss > 200<<20 {
				t.Errorf("peak RSS %d MiB, want under 200 MiB", rss>>20)
			}
		})
	}
}

// countLines reads r to its end and counts the lines that start with
// prefix.
func countLines(r io.Reader, prefix string) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			n++
		}
	}
	return n, sc.Err()
}
