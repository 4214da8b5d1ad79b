package audit_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/filesystem"
	"github.com/mediabackups/mediabackups/production/swift"
)

// world is a production store under test and the means to change it
// behind its back, as an operator's tools would.
type world struct {
	name   string
	layout mediawiki.Containers
	store  production.Store
	// put writes an object; header adds MediaWiki's X-Object-Meta-Sha1base36
	// (Swift only).
	put func(t *testing.T, container, path string, body []byte, header bool)
	del func(t *testing.T, container, path string)
	// lists reports whether the store lists md5s (Swift).
	lists bool
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func swiftWorld(t *testing.T, pageSize int) *world {
	sw := testsvc.SwiftService(t)
	project, lang := sw.TestWiki(t)
	ctx := ctxT(t)
	s, err := swift.New(ctx, swift.Config{AuthURL: sw.AuthURL, User: sw.User, Key: config.NewSecret(sw.Key),
		UserAgent: "mediabackups-tests", PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	conn := sw.Connection(t)
	made := map[string]bool{}
	return &world{
		name: "swift", layout: mediawiki.Containers{Project: project, Lang: lang}, store: s, lists: true,
		put: func(t *testing.T, container, path string, body []byte, header bool) {
			t.Helper()
			if !made[container] {
				if err := conn.ContainerCreate(ctx, container, nil); err != nil {
					t.Fatal(err)
				}
				made[container] = true
			}
			h := ncw.Headers{}
			if header {
				sum := sha1.Sum(body)
				b36, err := mediawiki.SHA1HexToBase36(hex.EncodeToString(sum[:]))
				if err != nil {
					t.Fatal(err)
				}
				h["X-Object-Meta-Sha1base36"] = b36
			}
			if _, err := conn.ObjectPut(ctx, container, path, bytes.NewReader(body), false, "", "image/png", h); err != nil {
				t.Fatal(err)
			}
		},
		del: func(t *testing.T, container, path string) {
			t.Helper()
			if err := conn.ObjectDelete(ctx, container, path); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func fsWorld(t *testing.T) *world {
	dir := t.TempDir()
	layout := mediawiki.Containers{Project: "mbtest", Lang: "fs"}
	cfg, err := filesystem.WikiConfig(layout, filepath.Join(dir, "images"), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := filesystem.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := func(t *testing.T, container, name string) string {
		p, err := s.Path(container, name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &world{
		name: "filesystem", layout: layout, store: s,
		put: func(t *testing.T, container, name string, body []byte, _ bool) {
			t.Helper()
			p := path(t, container, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, body, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		del: func(t *testing.T, container, name string) {
			t.Helper()
			if err := os.Remove(path(t, container, name)); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// lagging is a store whose listings leave out the objects in hide, as
// Swift's do for an object written while its container update timed out
// (the object updater replays it later). That cannot be provoked on demand
// in the real Swift here, so this wraps the real store and only drops names
// from its listings; Stat and Open are the real store's.
type lagging struct {
	production.Store
	hide map[string]bool // "container/name"
}

func (l lagging) Objects(ctx context.Context, container, after string, fn func(production.Object) error) error {
	return l.Store.Objects(ctx, container, after, func(o production.Object) error {
		if l.hide[container+"/"+o.Name] {
			return nil
		}
		return fn(o)
	})
}

func (w *world) public() string  { return w.layout.Project + "-" + w.layout.Lang + "-local-public" }
func (w *world) deleted() string { return w.layout.Project + "-" + w.layout.Lang + "-local-deleted" }

func hexSum(b []byte) (sha1hex, md5hex string) {
	s, m := sha1.Sum(b), md5.Sum(b)
	return hex.EncodeToString(s[:]), hex.EncodeToString(m[:])
}

// fixture is a metadata store with one wiki and its versions.
type fixture struct {
	t      *testing.T
	s      *metadata.Store
	wikiID int64
	ids    map[string]int64 // by title
}

func newFixture(t *testing.T) *fixture {
	ctx := ctxT(t)
	s, err := metadata.Open(ctx, testsvc.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := s.EnsureWiki(ctx, "testwiki", "public")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, wikiID: id, ids: map[string]int64{}}
}

// version registers a version of title at container/path with body's
// hashes and size; withMD5 records its md5 as a backup would have.
func (f *fixture) version(title string, st metadata.ProductionStatus, container, path string, body []byte, withMD5 bool) {
	f.t.Helper()
	ctx := ctxT(f.t)
	s1, m5 := hexSum(body)
	v := metadata.File{Title: title, Container: container, Path: path, SHA1: s1, Size: int64(len(body)), Status: st,
		UploadDate: time.Date(2025, 1, 1+len(f.ids), 10, 0, 0, 0, time.UTC)}
	if st == metadata.HardDeleted {
		v.Status = metadata.Deleted
	}
	if _, err := f.s.SyncVersions(ctx, f.wikiID, []metadata.File{v}, "test"); err != nil {
		f.t.Fatal(err)
	}
	var id int64
	if err := f.s.DB().QueryRowContext(ctx, `SELECT id FROM files WHERE wiki_id = ? AND title = ?`, f.wikiID, title).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	f.ids[title] = id
	if withMD5 {
		raw, _ := hex.DecodeString(m5)
		if _, err := f.s.DB().ExecContext(ctx, `UPDATE files SET md5 = ? WHERE id = ?`, raw, id); err != nil {
			f.t.Fatal(err)
		}
	}
	if st == metadata.HardDeleted {
		if err := f.s.HardDelete(ctx, id, false); err != nil {
			f.t.Fatal(err)
		}
	}
}

func body(s string, n int) []byte { return bytes.Repeat([]byte(s), n) }

// problems sums a report up as "problem container/path" lines, sorted.
func problems(r audit.Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Problem+" "+p.ProductionPath)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) md5Of(title string) string {
	f.t.Helper()
	var m []byte
	if err := f.s.DB().QueryRow(`SELECT md5 FROM files WHERE id = ?`, f.ids[title]).Scan(&m); err != nil {
		f.t.Fatal(err)
	}
	return hex.EncodeToString(m)
}

// TestAudit builds one production of every kind of finding on each real
// store, with the metadata in a real MariaDB, and checks that an audit
// reports exactly them, records them, and that the next audit compares.
func TestAudit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mk   func(*testing.T) *world
	}{
		{"swift", func(t *testing.T) *world { return swiftWorld(t, 2) }}, // two names a page: paging at every step
		{"filesystem", fsWorld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.mk(t)
			t.Logf("store %s", w.store)
			f := newFixture(t)
			ctx := ctxT(t)
			pub, del := w.public(), w.deleted()
			delShard := del
			if w.lists { // Swift: a sharded deleted zone, as on big wikis
				delShard = del + ".rj"
			}
			good := body("good", 25)
			// The versions and what production holds of each.
			f.version("Good.png", metadata.Public, pub, "2/2e/Good.png", good, true)
			w.put(t, pub, "2/2e/Good.png", good, true)
			f.version("Lost.png", metadata.Public, pub, "3/3a/Lost.png", body("lost", 10), true)
			f.version("Old.png", metadata.Archived, pub, "archive/3/3a/20250101000000!Old.png", body("old", 10), true)
			f.version("Short.png", metadata.Public, pub, "4/4b/Short.png", body("short", 10), true)
			w.put(t, pub, "4/4b/Short.png", body("short", 9), true) // another size
			f.version("Swapped.png", metadata.Public, pub, "5/5c/Swapped.png", body("aaaa", 10), true)
			w.put(t, pub, "5/5c/Swapped.png", body("bbbb", 10), true) // same size, other bytes
			w.put(t, pub, "6/6d/Stray.png", body("stray", 3), false)
			// Legacy versions, backed up before md5s were recorded.
			f.version("Legacy.png", metadata.Public, pub, "7/7e/Legacy.png", body("legacy", 10), false)
			w.put(t, pub, "7/7e/Legacy.png", body("legacy", 10), true) // with MediaWiki's sha1 header
			f.version("Headless.png", metadata.Public, pub, "8/8f/Headless.png", body("headless", 10), false)
			w.put(t, pub, "8/8f/Headless.png", body("headless", 10), false) // no header: read
			f.version("Forged.png", metadata.Public, pub, "9/9a/Forged.png", body("cccc", 10), false)
			w.put(t, pub, "9/9a/Forged.png", body("dddd", 10), false) // no header, other bytes
			// Two deleted versions share one storage key; a hard-deleted
			// version's bytes were left behind; a deleted version is lost.
			shared := body("shared", 7)
			f.version("Shared_a.png", metadata.Deleted, delShard, "r/j/r/rjrshared.png", shared, true)
			f.version("Shared_b.png", metadata.Deleted, delShard, "r/j/r/rjrshared.png", shared, true)
			w.put(t, delShard, "r/j/r/rjrshared.png", shared, true)
			f.version("Erased.png", metadata.HardDeleted, delShard, "r/j/x/rjxerased.png", body("erased", 5), true)
			w.put(t, delShard, "r/j/x/rjxerased.png", body("erased", 5), true)
			f.version("Gone_deleted.png", metadata.Deleted, delShard, "r/j/z/rjzgone.png", body("gone", 5), true)
			// Two objects the listing does not show yet: found by a HEAD,
			// and compared like any other.
			f.version("Late.png", metadata.Public, pub, "1/1a/Late.png", body("late", 10), true)
			w.put(t, pub, "1/1a/Late.png", body("late", 10), true)
			f.version("Late_short.png", metadata.Public, pub, "1/1b/Late_short.png", body("lates", 10), true)
			w.put(t, pub, "1/1b/Late_short.png", body("lates", 9), true)
			store := lagging{Store: w.store, hide: map[string]bool{pub + "/1/1a/Late.png": true, pub + "/1/1b/Late_short.png": true}}
			lostContainer := del + ".zz"
			if !w.lists {
				lostContainer = "" // a filesystem store has its two directories only
			} else {
				f.version("In_lost_container.png", metadata.Deleted, lostContainer, "z/z/a/zzalost.png", body("zz", 5), true)
			}

			res, err := audit.Run(ctx, store, f.s, audit.Options{Wiki: "testwiki", WikiID: f.wikiID, Containers: w.layout,
				Parallel: 3, PageSize: 2, Host: "test"})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				"damaged 1/1b/Late_short.png", "damaged 4/4b/Short.png", "damaged 5/5c/Swapped.png", "damaged 9/9a/Forged.png",
				"missing 3/3a/Lost.png", "missing archive/3/3a/20250101000000!Old.png", "missing r/j/z/rjzgone.png",
				"unexpected 6/6d/Stray.png", "unexpected r/j/x/rjxerased.png",
			}
			if lostContainer != "" {
				want = append(want, "missing z/z/a/zzalost.png")
				sort.Strings(want)
			}
			if got := problems(res.Report); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			byPath := map[string]audit.Finding{}
			for _, p := range res.Findings {
				byPath[p.ProductionPath] = p
				if !p.New {
					t.Errorf("first audit: %s %s is not new", p.Problem.Problem, p.ProductionPath)
				}
			}
			for path, detail := range map[string]string{
				"4/4b/Short.png":      "size 45, want 50",
				"r/j/x/rjxerased.png": "hard-deleted version",
				"6/6d/Stray.png":      "no version is at this place",
				"1/1b/Late_short.png": "size 45, want 50; not in the listing of " + pub + " when the audit read it, but there",
			} {
				if !strings.Contains(byPath[path].Detail, detail) {
					t.Errorf("%s: detail %q, want it to say %q", path, byPath[path].Detail, detail)
				}
			}
			if w.lists {
				if d := byPath["5/5c/Swapped.png"].Detail; !strings.HasPrefix(d, "md5 ") {
					t.Errorf("Swapped.png: detail %q, want an md5 mismatch found in the listing", d)
				}
				if d := byPath["z/z/a/zzalost.png"].Detail; !strings.Contains(d, "does not exist") {
					t.Errorf("a version in a lost container: detail %q", d)
				}
			}
			if d := byPath["9/9a/Forged.png"].Detail; !strings.HasPrefix(d, "sha1 ") {
				t.Errorf("Forged.png: detail %q, want a sha1 mismatch found by reading it", d)
			}
			if p := byPath["3/3a/Lost.png"]; p.ID != f.ids["Lost.png"] || p.Title != "Lost.png" || p.Status != "public" || len(p.SHA1) != 40 {
				t.Errorf("Lost.png: %+v", p)
			}
			// The report is what restore --from-audit reads.
			var buf bytes.Buffer
			if err := writeJSON(&buf, res.Report); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.ReadReport(&buf); err != nil {
				t.Fatalf("ReadReport of the audit's own report: %v", err)
			}
			wantVersions := int64(13)
			if lostContainer != "" {
				wantVersions++
			}
			c := res.Counts
			if res.Report.Versions != wantVersions || c.Missing != int64(len(want)-6) || c.Damaged != 4 || c.Unexpected != 2 {
				t.Errorf("counts %+v, report versions %d; want %d versions", c, res.Report.Versions, wantVersions)
			}
			// How each was compared: Legacy.png by its header on Swift, and
			// its md5 recorded; Headless.png read (and its md5 recorded).
			if res.Checks.Unlisted != 2 || res.Report.Unlisted != 2 {
				t.Errorf("checks %+v, want 2 unlisted (Late, Late_short)", res.Checks)
			}
			if w.lists {
				if res.Checks.Header != 1 || res.Checks.Read != 1 || res.Checks.ObjectsRead != 2 || res.Checks.Learned != 2 || res.Checks.MD5 != 4 {
					t.Errorf("checks %+v, want whole by header 1 (Legacy), by reading 1 (Headless), 2 objects read (and Forged), learned 2, md5 4 (Good, Shared ×2, Late by its HEAD)", res.Checks)
				}
			} else if res.Checks.ObjectsRead != 8 || res.Checks.Read != 6 || res.Checks.Learned != 2 {
				t.Errorf("checks %+v, want 8 objects read (every one at a version's place, but the size of Short.png and Late_short.png says enough), 6 of them whole, and 2 md5s learned", res.Checks)
			}
			_, m5 := hexSum(body("legacy", 10))
			if got := f.md5Of("Legacy.png"); got != m5 {
				t.Errorf("Legacy.png's md5 = %q, want %s recorded by the audit", got, m5)
			}
			if got := f.md5Of("Forged.png"); got != "" {
				t.Errorf("Forged.png got an md5 (%s) from bytes that are not its own", got)
			}
			// Recorded per version, for query-media-file.
			list, err := f.s.Search(ctx, metadata.Query{WikiID: f.wikiID, Title: "Lost.png"})
			if err != nil || len(list) != 1 {
				t.Fatal(list, err)
			}
			if a := list[0].Audit; a.Status != metadata.AuditMissing || !a.Since.Equal(res.Report.CheckedAt) || a.Checked.IsZero() {
				t.Errorf("Lost.png audit state %+v", a)
			}
			list, _ = f.s.Search(ctx, metadata.Query{WikiID: f.wikiID, Title: "Good.png"})
			if a := list[0].Audit; a.Status != metadata.AuditOK {
				t.Errorf("Good.png audit state %+v", a)
			}

			// Nothing changed: the same report, and nothing new.
			again, err := audit.Run(ctx, w.store, f.s, audit.Options{Wiki: "testwiki", WikiID: f.wikiID, Containers: w.layout, PageSize: 3})
			if err != nil {
				t.Fatal(err)
			}
			if got := problems(again.Report); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("second audit: problems\n%s", strings.Join(got, "\n"))
			}
			if again.Previous == nil || again.Previous.Started != res.Report.CheckedAt ||
				again.Changes != (audit.Changes{Unchanged: int64(len(want))}) {
				t.Errorf("second audit: previous %+v, changes %+v; want all %d unchanged", again.Previous, again.Changes, len(want))
			}
			for _, p := range again.Findings {
				if p.New || p.Since.IsZero() {
					t.Errorf("second audit: %s %s new %v since %v", p.Problem.Problem, p.ProductionPath, p.New, p.Since)
				}
			}
			if w.lists && again.Checks.Header != 0 {
				t.Errorf("second audit HEADed %d objects; the md5 learned should do", again.Checks.Header)
			}

			// Repair two, lose one more, remove the stray: the comparison
			// says so.
			w.put(t, pub, "3/3a/Lost.png", body("lost", 10), true)
			w.put(t, pub, "4/4b/Short.png", body("short", 10), true)
			w.del(t, pub, "2/2e/Good.png")
			w.del(t, pub, "6/6d/Stray.png")
			third, err := audit.Run(ctx, w.store, f.s, audit.Options{Wiki: "testwiki", WikiID: f.wikiID, Containers: w.layout})
			if err != nil {
				t.Fatal(err)
			}
			if third.Changes.New != 1 || third.Changes.Fixed != 3 || third.Changes.Unchanged != int64(len(want)-3) {
				t.Errorf("third audit: changes %+v, want 1 new (Good.png), 3 fixed (Lost, Short, the stray)", third.Changes)
			}
			unexp, err := f.s.UnexpectedObjects(ctx, f.wikiID)
			if err != nil || len(unexp) != 1 || unexp[0].Path != "r/j/x/rjxerased.png" {
				t.Errorf("unexpected objects recorded: %+v, %v", unexp, err)
			}
		})
	}
}

// TestAuditRefusesBadInput: a wiki the metadata knows nothing of, and a
// production without any of the wiki's containers, are errors that say
// what to do, and nothing is recorded.
func TestAuditRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	w := fsWorld(t)
	f := newFixture(t)
	opts := audit.Options{Wiki: "testwiki", WikiID: f.wikiID, Containers: w.layout}
	if _, err := audit.Run(ctx, w.store, f.s, opts); !errors.Is(err, audit.ErrNoVersions) || !strings.Contains(err.Error(), "inventory") {
		t.Errorf("no versions: %v", err)
	}
	f.version("A.png", metadata.Public, w.public(), "2/2e/A.png", body("a", 3), true)
	if _, err := audit.Run(ctx, w.store, f.s, opts); !errors.Is(err, audit.ErrNoContainers) || !strings.Contains(err.Error(), "check the wiki's project") {
		t.Errorf("no containers: %v", err)
	}
	var runs int
	if err := f.s.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM audits) + (SELECT COUNT(*) FROM audit_containers) +
		(SELECT COUNT(*) FROM files WHERE audit_status IS NOT NULL)`).Scan(&runs); err != nil || runs != 0 {
		t.Errorf("%d rows written (%v), want none", runs, err)
	}
}

func writeJSON(w *bytes.Buffer, r audit.Report) error {
	return json.NewEncoder(w).Encode(r)
}
