package recoverytest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/restore"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestRecoveryTools backs the shared public and private wikis up once, then
// queries, restores and deletes against that backup. The subtests run in
// order: the deletions come last.
func TestRecoveryTools(t *testing.T) {
	pub, priv := testsvc.PublicWiki(t), testsvc.PrivateWiki(t)
	e := newEnv(t, wikiConf{"testwiki", "public", pub}, wikiConf{"privatewiki", "private", priv})
	pubBytes, privBytes := originals(t, pub), originals(t, priv)

	t.Run("the recovery credential may read but not write", func(t *testing.T) {
		ctx := context.Background()
		c, err := minio.New(strings.TrimPrefix(e.Endpoints[0], "http://"), &minio.Options{
			Creds: credentials.NewStaticV4(e.RecoveryAccessKey, e.RecoverySecretKey, ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.PutObject(ctx, e.Bucket, "testwiki/intruder", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		if minio.ToErrorResponse(err).Code != "AccessDenied" {
			t.Fatalf("PutObject with the recovery credential = %v, want AccessDenied", err)
		}
		n := 0
		for o := range c.ListObjects(ctx, e.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("list with the recovery credential: %v", o.Err)
			}
			n++
		}
		if n == 0 {
			t.Fatal("the recovery credential lists no objects")
		}
	})

	t.Run("query by each flag", func(t *testing.T) {
		simple := e.versions("w.name = 'testwiki' AND f.title = 'Simple.png'")[0]
		for _, tc := range []struct {
			args []string
			want []string // titles, in id order
		}{
			{[]string{"--title", "File:Wow!Amazing.png"}, []string{"Wow!Amazing.png", "Wow!Amazing.png"}},
			{[]string{"--title", "Old version deleted.png"}, []string{"Old_version_deleted.png", "Old_version_deleted.png", "Old_version_deleted.png"}},
			{[]string{"--sha1", "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"}, []string{"Simple.png", "Deleted_copy.png"}},
			{[]string{"--sha1-base36", "rjrzta2uecby71eo37q33rfc4bdtzyv"}, []string{"Simple.png", "Deleted_copy.png"}},
			{[]string{"--sha256", simple.sha256}, []string{"Simple.png", "Deleted_copy.png"}},
			{[]string{"--container", "wikipedia-test-local-public", "--path", "2/2e/Simple.png"}, []string{"Simple.png"}},
			{[]string{"--upload-date", "20250105160000"}, []string{"Reused_name.png"}},
			{[]string{"--archive-date", "2025-01-04 09:00:00"}, []string{"Diagram.svg"}},
			{[]string{"--wiki", "privatewiki", "--title", "Simple.png"}, []string{"Simple.png"}},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				r := e.mustRun("query-media-file", append([]string{"--json"}, tc.args...)...)
				var res struct {
					Matches []struct {
						Title, Wiki      string
						ProductionURL    *string `json:"production_url"`
						ProductionStatus string  `json:"production_status"`
						BackupLocation   *string `json:"backup_location"`
						BackupPath       *string `json:"backup_path"`
						MD5              *string `json:"md5"`
						AuditStatus      *string `json:"audit_status"`
					}
					Batch *struct{} `json:"batch"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
					t.Fatalf("%v\n%s", err, r)
				}
				if res.Batch != nil {
					t.Errorf("batch counts without a batch file: %s", r.stdout)
				}
				got := res.Matches
				var titles []string
				for _, g := range got {
					titles = append(titles, g.Title)
					if g.BackupLocation == nil || g.BackupPath == nil {
						t.Errorf("%s: no backup location in %s", g.Title, r.stdout)
					}
					// The backup records the md5 with sha1 and sha256.
					if g.MD5 == nil || len(*g.MD5) != 32 || g.AuditStatus != nil {
						t.Errorf("%s: md5 %v, audit_status %v; want an md5 and no audit yet", g.Title, g.MD5, g.AuditStatus)
					}
					if (g.ProductionStatus == "deleted") != (g.ProductionURL == nil) {
						t.Errorf("%s (%s): production_url %v", g.Title, g.ProductionStatus, g.ProductionURL)
					}
				}
				sort.Strings(titles)
				want := slices.Clone(tc.want)
				sort.Strings(want)
				if !slices.Equal(titles, want) {
					t.Errorf("titles %v, want %v", titles, want)
				}
			})
		}
		// Text output has every field.
		r := e.mustRun("query-media-file", "--title", "Deleted_copy.png")
		for _, field := range []string{"wiki:", "title:", "production_container:", "production_path:", "sha1:", "sha256:", "size:", "type:",
			"production_status:", "production_url:       none", "upload_date:", "archive_date:", "delete_date:", "backup_status:",
			"backup_date:", "backup_location:", "backup_container:", "backup_path:", "md5:", "audit_status:", "never audited", "audit_checked:"} {
			if !strings.Contains(r.stdout, field) {
				t.Errorf("text output lacks %q:\n%s", field, r.stdout)
			}
		}
		if b, err := os.ReadFile(filepath.Join(e.LogDir, "query.log")); err != nil || !strings.Contains(string(b), "Deleted_copy.png") {
			t.Errorf("query.log does not record the session: %v", err)
		}
	})

	t.Run("query errors and exit codes", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"--title", "Nope.png"}, 4, "no backed-up file version matches"},
			{[]string{"--sha1", "xyz"}, 2, "not hexadecimal"},
			{[]string{"--upload-date", "yesterday"}, 2, "YYYY-MM-DD hh:mm:ss"},
			{[]string{"--wiki", "testwik", "--title", "Simple.png"}, 2, "did you mean: testwiki"},
			{[]string{}, 2, "give a search flag"},
			{[]string{"--title", "Simple.png", "--logdir", "/proc/nope"}, 2, "--logdir"},
		} {
			r := e.run("query-media-file", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("query %v: %s\nwant exit %d and %q", tc.args, r, tc.code, tc.msg)
			}
		}
		r := e.run("query-media-file", "--json", "--title", "Nope.png")
		var je struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &je); err != nil || je.ExitCode != 4 {
			t.Errorf("--json error output: %v\n%s", err, r)
		}
	})

	checkRestored := func(t *testing.T, dir string, want map[string]string, originals map[string][]byte) {
		t.Helper()
		for name, sha := range want {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			orig, ok := originals[sha]
			if !ok {
				t.Fatalf("no original with sha1 %s on the wiki's disk", sha)
			}
			if !bytes.Equal(b, orig) {
				t.Errorf("%s: restored bytes differ from production's (%d vs %d bytes)", name, len(b), len(orig))
			}
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != len(want) {
			var names []string
			for _, en := range entries {
				names = append(names, en.Name())
			}
			t.Errorf("target holds %v, want exactly %d files", names, len(want))
		}
	}

	t.Run("restore public, archived, deleted and encrypted versions", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		// Public + archived (Wow!Amazing.png), public + archived + deleted
		// (Old_version_deleted.png), one after the other into one directory.
		for _, title := range []string{"Wow!Amazing.png", "Old_version_deleted.png"} {
			r := e.mustRun("restore-media-file", "--yes", "--target", dir, "--title", title)
			if !strings.Contains(r.stdout, "files were successfully written to the local filesystem") ||
				!strings.Contains(r.stderr, "repeat it in the other datacenter(s)") {
				t.Errorf("restore %s: %s", title, r)
			}
		}
		checkRestored(t, dir, map[string]string{
			"Wow!Amazing.png":                        "f6acdd72afe01d29332a00df841f15feb98f1fa1",
			"20250102090000!Wow!Amazing.png":         "2124fdb9b84a6667f0cb76400eed2615213af9b0",
			"Old_version_deleted.png":                e.versions("f.title = 'Old_version_deleted.png' AND f.production_status = 'public'")[0].sha1,
			"20250103090000!Old_version_deleted.png": e.versions("f.title = 'Old_version_deleted.png' AND f.production_status = 'archived'")[0].sha1,
			"Old_version_deleted.png~":               "ca7091b6603091461d63b6ce842dd1f375089ff4", // the deleted version, same production name
		}, pubBytes)

		// Encrypted (private wiki): decrypted and byte-identical.
		pdir := t.TempDir()
		r := e.mustRun("restore-media-file", "--yes", "--json", "--wiki", "privatewiki", "--target", pdir, "--title", "Wow!Amazing.png")
		var out struct {
			Written []struct {
				Name  string
				Match struct {
					BackupPath string `json:"backup_path"`
				}
			}
			Total int
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Total != 2 || len(out.Written) != 2 {
			t.Fatalf("%v: %s", err, r)
		}
		if !strings.HasSuffix(out.Written[0].Match.BackupPath, ".age") {
			t.Errorf("private object %s is not encrypted", out.Written[0].Match.BackupPath)
		}
		checkRestored(t, pdir, map[string]string{
			"Wow!Amazing.png":                "f6acdd72afe01d29332a00df841f15feb98f1fa1",
			"20250102090000!Wow!Amazing.png": "2124fdb9b84a6667f0cb76400eed2615213af9b0",
		}, privBytes)
		if b, err := os.ReadFile(filepath.Join(e.LogDir, "recovery.log")); err != nil || !strings.Contains(string(b), "2 out of 2 files were successfully written") {
			t.Errorf("recovery.log: %v", err)
		}
	})

	t.Run("restore many files in parallel, clashing names get ~", func(t *testing.T) {
		dir := t.TempDir()
		batch1 := e.versions("w.name = 'testwiki' AND f.upload_date = '2025-01-01 10:00:00'")
		if len(batch1) < 8 {
			t.Fatalf("only %d versions uploaded in batch 1", len(batch1))
		}
		for range 2 {
			e.mustRun("restore-media-file", "--yes", "--parallel", "3", "--target", dir, "--upload-date", "2025-01-01 10:00:00")
		}
		want := map[string]string{}
		for _, v := range batch1 {
			name := restore.SafeName(v.title)
			if v.status == "archived" {
				continue // named by archive date; checked by count below
			}
			want[name], want[name+"~"] = v.sha1, v.sha1
		}
		for name, sha := range want {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if sum := sha1.Sum(b); err != nil || hex.EncodeToString(sum[:]) != sha {
				t.Errorf("%s: %v, sha1 %x, want %s", name, err, sum, sha)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2*len(batch1) {
			t.Errorf("%d files in the target, want %d", len(entries), 2*len(batch1))
		}
	})

	t.Run("hostile titles stay inside the target", func(t *testing.T) {
		for i, title := range []string{"../../escaped.png", "/tmp/abs-escaped.png", "a\x01b\x1b[31m.png", "..", "sub/dir/x.png"} {
			if _, err := e.DB.Exec(`INSERT INTO files (wiki_id, title, production_container, production_path, sha1, sha256, size, mime,
				production_status, upload_date, backup_status, backup_id, backup_date, created_at, updated_at)
				SELECT wiki_id, ?, production_container, production_path, sha1, sha256, size, mime, 'deleted', ?, backup_status,
				backup_id, backup_date, created_at, updated_at FROM files WHERE title = 'Simple.png' AND wiki_id = (SELECT id FROM wikis WHERE name = 'testwiki')`,
				title, "2030-01-01 00:00:0"+string(rune('0'+i))); err != nil {
				t.Fatal(err)
			}
		}
		parent := t.TempDir()
		dir := filepath.Join(parent, "a", "target")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			e.mustRun("restore-media-file", "--yes", "--target", dir, "--upload-date", "2030-01-01 00:00:0"+string(rune('0'+i)))
		}
		simple := "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"
		checkRestored(t, dir, map[string]string{
			"_.._.._escaped.png": simple, "_tmp_abs-escaped.png": simple, "a_b_[31m.png": simple, "_..": simple, "sub_dir_x.png": simple,
		}, pubBytes)
		for _, p := range []string{filepath.Join(parent, "escaped.png"), filepath.Join(parent, "a", "escaped.png"), "/tmp/abs-escaped.png"} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s was written outside the target", p)
			}
		}
		if entries, _ := os.ReadDir(filepath.Join(parent, "a")); len(entries) != 1 {
			t.Errorf("the target's parent holds %d entries, want only the target", len(entries))
		}
		e.DB.Exec(`DELETE FROM files WHERE upload_date >= '2030-01-01'`)
	})

	t.Run("a full log disk stops every tool before it acts", func(t *testing.T) {
		logDir := testsvc.SmallDisk(t, 256<<10)
		testsvc.FillDisk(t, logDir)
		objects, db := e.objects(), e.dbState()
		target := filepath.Join(t.TempDir(), "restored")
		for _, args := range [][]string{
			{"delete-media-file", "--execute", "--yes", "--title", "To_be_deleted.png"},
			{"delete-media-file", "--execute", "--yes", "--json", "--title", "To_be_deleted.png"},
			{"restore-media-file", "--yes", "--target", target, "--title", "Wow!Amazing.png"},
			{"query-media-file", "--title", "Wow!Amazing.png"},
		} {
			r := e.run(args[0], append(args[1:], "--logdir", logDir)...)
			if r.code != 1 || !strings.Contains(r.stderr, "write the session log "+logDir) || !strings.Contains(r.stderr, "no space left on device") ||
				!strings.Contains(r.stderr, "--logdir") {
				t.Errorf("%v: %s\nwant exit 1 and the log's failure", args, r)
			}
			if strings.Contains(r.stdout, "match 1 of") {
				t.Errorf("%v showed matches without logging them:\n%s", args, r.stdout)
			}
		}
		if !slices.Equal(objects, e.objects()) || db != e.dbState() {
			t.Errorf("a session without its log changed MinIO or MariaDB")
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("restore wrote its target without a log: %v", err)
		}
	})

	t.Run("restore refuses a target it cannot write, before searching", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		for target, msg := range map[string]string{"/dev/null": "it is a device, not a directory", file: "it is a regular file, not a directory",
			testsvc.ReadOnlyDisk(t): "it is on a read-only file system"} {
			r := e.run("restore-media-file", "--yes", "--json", "--target", target, "--title", "Wow!Amazing.png")
			if r.code != 2 || !strings.Contains(r.stderr, "--target "+target+": "+msg) || strings.Contains(r.stderr, "msg=search") ||
				!strings.Contains(r.stdout, `"exit_code":2`) {
				t.Errorf("--target %s: %s\nwant exit 2, %q, no search", target, r, msg)
			}
		}
	})

	t.Run("delete dry run changes nothing", func(t *testing.T) {
		objects, db := e.objects(), e.dbState()
		r := e.run("delete-media-file", "--title", "To_be_deleted.png")
		if r.code != 0 || !strings.Contains(r.stderr, "DRY RUN") || !strings.Contains(r.stdout, "DRY RUN, nothing changed") ||
			!strings.Contains(r.stderr, "would remove object") {
			t.Errorf("dry run: %s", r)
		}
		if !slices.Equal(objects, e.objects()) || db != e.dbState() {
			t.Errorf("the dry run changed MinIO or MariaDB")
		}
	})

	t.Run("delete is refused while production serves the file", func(t *testing.T) {
		objects, db := e.objects(), e.dbState()
		for _, args := range [][]string{{"--title", "Simple.png"}, {"--execute", "--yes", "--title", "Simple.png"}, {"--execute", "--yes", "--sha1", "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"}} {
			r := e.run("delete-media-file", args...)
			if r.code != 6 || !strings.Contains(r.stderr, "answered 200, want 404") || !strings.Contains(r.stderr, "nothing was deleted") {
				t.Errorf("delete %v: %s\nwant exit 6", args, r)
			}
		}
		if !slices.Equal(objects, e.objects()) || db != e.dbState() {
			t.Errorf("a refused delete changed MinIO or MariaDB")
		}
	})

	t.Run("private wiki: production is checked with the wiki's own session", func(t *testing.T) {
		// Its current files answer 200 to the logged-in backup account: refused.
		r := e.run("delete-media-file", "--wiki", "privatewiki", "--execute", "--yes", "--title", "Simple.png")
		if r.code != 6 || !strings.Contains(r.stderr, "answered 200, want 404") {
			t.Errorf("delete of a served private file: %s\nwant exit 6 after a logged-in 200", r)
		}
		// A file gone from production: img_auth.php would answer 403 even to
		// the logged-in account; the API, asked with its session, says it is
		// no longer there.
		if _, err := e.DB.Exec(`UPDATE files f JOIN wikis w ON w.id = f.wiki_id SET f.title = 'Document_gone.pdf'
			WHERE w.name = 'privatewiki' AND f.title = 'Document.pdf'`); err != nil {
			t.Fatal(err)
		}
		r = e.run("delete-media-file", "--wiki", "privatewiki", "--title", "Document_gone.pdf")
		if r.code != 0 || !strings.Contains(r.stderr, "status=404") {
			t.Errorf("dry-run delete of a private file gone from production: %s\nwant the check to pass on a logged-in 404", r)
		}
	})

	t.Run("delete keeps content shared with versions not deleted", func(t *testing.T) {
		objects := e.objects()
		r := e.run("delete-media-file", "--execute", "--yes", "--title", "Deleted_copy.png")
		if r.code != 0 || !strings.Contains(r.stderr, "SHARED CONTENT") || !strings.Contains(r.stderr, "Simple.png") ||
			!strings.Contains(r.stdout, "0 objects removed, 1 kept") {
			t.Fatalf("delete Deleted_copy.png: %s", r)
		}
		if !slices.Equal(objects, e.objects()) {
			t.Errorf("the shared object was removed")
		}
		v := e.versions("w.name = 'testwiki' AND f.title IN ('Deleted_copy.png', 'Simple.png')")
		for _, x := range v {
			switch x.title {
			case "Deleted_copy.png":
				if x.status != "hard-deleted" || x.key != "" {
					t.Errorf("Deleted_copy.png: %s, object %q; want hard-deleted without backup", x.status, x.key)
				}
			case "Simple.png":
				if x.status != "public" || x.key == "" {
					t.Errorf("Simple.png lost its backup: %+v", x)
				}
			}
		}
	})

	t.Run("delete --execute removes exactly the named objects", func(t *testing.T) {
		before := e.objects()
		doomed := e.versions("w.name = 'testwiki' AND f.title = 'To_be_deleted.png'")
		gone := map[string]bool{}
		for _, v := range doomed {
			if v.key != "" {
				gone[v.endpoint+" "+v.key] = true
			}
		}
		if len(gone) != 2 {
			t.Fatalf("To_be_deleted.png has %d objects, want 2", len(gone))
		}
		r := e.run("delete-media-file", "--execute", "--yes", "--json", "--title", "To_be_deleted.png")
		if r.code != 0 {
			t.Fatal(r)
		}
		var rep struct {
			DryRun         bool `json:"dry_run"`
			ObjectsRemoved int  `json:"objects_removed"`
			MarkedDeleted  int  `json:"marked_hard_deleted"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.DryRun || rep.ObjectsRemoved != 2 || rep.MarkedDeleted != 2 {
			t.Fatalf("%v: %s", err, r)
		}
		var want []string
		for _, o := range before {
			if !gone[o] {
				want = append(want, o)
			}
		}
		if got := e.objects(); !slices.Equal(got, want) {
			t.Errorf("objects after the delete: %d, want %d (exactly the two removed)", len(got), len(want))
		}
		for _, v := range e.versions("w.name = 'testwiki' AND f.title = 'To_be_deleted.png'") {
			if v.status != "hard-deleted" || v.key != "" {
				t.Errorf("%+v, want hard-deleted without backup", v)
			}
		}
		var hist int
		e.DB.QueryRow(`SELECT COUNT(*) FROM file_history WHERE source = 'recovery:delete'`).Scan(&hist)
		if hist == 0 {
			t.Error("no history rows from recovery:delete")
		}
		// Never backed up again; restore now finds no backup.
		e.mustRun("mediabackups", "backup", "--wiki", "testwiki")
		if got := e.objects(); !slices.Equal(got, want) {
			t.Errorf("a backup after the delete stored %d objects, want %d", len(got), len(want))
		}
		r = e.run("restore-media-file", "--yes", "--target", t.TempDir(), "--title", "To_be_deleted.png")
		if r.code != 3 || !strings.Contains(r.stdout, "0 out of 2 files were successfully written") || !strings.Contains(r.stderr, "step=locate") {
			t.Errorf("restore of hard-deleted versions: %s", r)
		}
		if b, err := os.ReadFile(filepath.Join(e.LogDir, "deletion.log")); err != nil || !strings.Contains(string(b), "removed object") {
			t.Errorf("deletion.log: %v", err)
		}
	})
}
