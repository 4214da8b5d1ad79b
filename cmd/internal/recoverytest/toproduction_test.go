package recoverytest

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
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
)

// Restore into production, end to end: a wiki of its own is backed up,
// then production loses objects and has others damaged behind the tools'
// back (with Swift's own client, or file operations); restore
// --to-production puts every one back, and MediaWiki itself serves them
// again.

// entry is one object of a production listing.
type entry struct {
	Size     int64
	MD5      string
	Modified string // Swift's Last-Modified, or a file's mtime
}

// prod is a wiki's production store, as a test looks at it and damages it,
// with the store's own tools and not through mediabackups.
type prod interface {
	// list returns every object of the wiki by "container/path".
	list(t *testing.T) map[string]entry
	get(t *testing.T, container, path string) []byte
	remove(t *testing.T, container, path string)
	// overwrite puts other bytes under the name, as damage would.
	overwrite(t *testing.T, container, path string, b []byte)
	// place maps a version of populate-summary.json to its container and
	// path as the metadata names them.
	place(v summaryVersion) (container, path string)
}

type summaryVersion struct {
	Status    string `json:"status"`
	Timestamp string `json:"timestamp"`
	SHA1      string `json:"sha1"`
	Hidden    bool   `json:"hidden"`
	Path      string `json:"path"` // under images/ on disk
	Swift     *struct {
		Container string `json:"container"`
		Object    string `json:"object"`
	} `json:"swift"`
}

type summaryFile struct {
	Name     string           `json:"name"`
	Versions []summaryVersion `json:"versions"`
}

func readPopulateSummary(t *testing.T, w testsvc.Wiki) []summaryFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.Dir, "populate-summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Files []summaryFile }
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s.Files
}

// swiftProd is a Swift-backed wiki's production, through ncw/swift.
type swiftProd struct {
	c      *ncw.Connection
	prefix string // "<wiki ID>-local-"
}

func (s swiftProd) list(t *testing.T) map[string]entry {
	t.Helper()
	ctx := context.Background()
	names, err := s.c.ContainerNamesAll(ctx, &ncw.ContainersOpts{Prefix: s.prefix})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, c := range names {
		objs, err := s.c.ObjectsAll(ctx, c, nil)
		if err != nil {
			t.Fatalf("list %s: %v", c, err)
		}
		for _, o := range objs {
			out[c+"/"+o.Name] = entry{Size: o.Bytes, MD5: o.Hash, Modified: o.LastModified.Format(time.RFC3339Nano)}
		}
	}
	return out
}

func (s swiftProd) get(t *testing.T, container, path string) []byte {
	t.Helper()
	b, err := s.c.ObjectGetBytes(context.Background(), container, path)
	if err != nil {
		t.Fatalf("get %s/%s: %v", container, path, err)
	}
	return b
}

func (s swiftProd) remove(t *testing.T, container, path string) {
	t.Helper()
	if err := s.c.ObjectDelete(context.Background(), container, path); err != nil {
		t.Fatalf("delete %s/%s: %v", container, path, err)
	}
}

func (s swiftProd) overwrite(t *testing.T, container, path string, b []byte) {
	t.Helper()
	if err := s.c.ObjectPutBytes(context.Background(), container, path, b, "application/octet-stream"); err != nil {
		t.Fatalf("overwrite %s/%s: %v", container, path, err)
	}
}

func (s swiftProd) place(v summaryVersion) (string, string) { return v.Swift.Container, v.Swift.Object }

// headers returns what MediaWiki reads of an object: its Content-Type and
// every X-Object-Meta-* header.
func (s swiftProd) headers(t *testing.T, container, path string) map[string]string {
	t.Helper()
	_, h, err := s.c.Object(context.Background(), container, path)
	if err != nil {
		t.Fatalf("head %s/%s: %v", container, path, err)
	}
	out := map[string]string{"Content-Type": h["Content-Type"]}
	for k, v := range h.ObjectMetadata() {
		out["X-Object-Meta-"+k] = v
	}
	return out
}

// diskProd is a disk wiki's upload directory.
type diskProd struct {
	dir             string // images/
	public, deleted string // the metadata's container names
}

func (d diskProd) file(container, path string) string {
	if container == d.deleted {
		return filepath.Join(d.dir, "deleted", path)
	}
	return filepath.Join(d.dir, path)
}

func (d diskProd) list(t *testing.T) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(d.dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.dir, p)
		top, _, _ := strings.Cut(rel, "/")
		if de.IsDir() {
			if top == "thumb" || top == "temp" || top == "lockdir" {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() || !strings.Contains(rel, "/") || strings.HasSuffix(rel, "index.html") || strings.HasSuffix(rel, ".htaccess") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		sum := md5.Sum(b)
		key := d.public + "/" + rel
		if top == "deleted" {
			key = d.deleted + "/" + strings.TrimPrefix(rel, "deleted/")
		}
		out[key] = entry{Size: int64(len(b)), MD5: hex.EncodeToString(sum[:]), Modified: fi.ModTime().Format(time.RFC3339Nano)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d diskProd) get(t *testing.T, container, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(d.file(container, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (d diskProd) remove(t *testing.T, container, path string) {
	t.Helper()
	if err := os.Remove(d.file(container, path)); err != nil {
		t.Fatal(err)
	}
}

func (d diskProd) overwrite(t *testing.T, container, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(d.file(container, path), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d diskProd) place(v summaryVersion) (string, string) {
	if rest, ok := strings.CutPrefix(v.Path, "deleted/"); ok {
		return d.deleted, rest
	}
	return d.public, v.Path
}

// harm is one thing done to production.
type harm struct {
	title, status string // the version, by title and status
	ts            string // its upload time, to pick among several
	problem       string // audit.Missing or audit.Damaged
	sameSize      bool   // damage: other bytes of the same size

	container, path string
	orig            []byte
}

// theHarms are what the tests do to production: a current, an archived
// and a deleted version lost, a current version damaged with bytes of
// another size and an archived one with bytes of the same size.
func theHarms() []*harm {
	return []*harm{
		{title: "Wow!Amazing.png", status: "public", problem: audit.Missing},
		{title: "Diagram.svg", status: "archived", ts: "2025-01-02T09:00:00Z", problem: audit.Missing},
		{title: "Deleted_single.jpg", status: "deleted", problem: audit.Missing},
		{title: "Document.pdf", status: "public", problem: audit.Damaged},
		{title: "Кириллица_пример.png", status: "archived", ts: "2025-01-01T10:00:00Z", problem: audit.Damaged, sameSize: true},
	}
}

// inflict finds each harm's version in the summary, keeps its bytes, and
// does the harm.
func inflict(t *testing.T, p prod, files []summaryFile, harms []*harm) {
	t.Helper()
	for _, h := range harms {
		for _, f := range files {
			if f.Name != h.title {
				continue
			}
			for _, v := range f.Versions {
				if v.Status == h.status && !v.Hidden && (h.ts == "" || v.Timestamp == h.ts) {
					h.container, h.path = p.place(v)
				}
			}
		}
		if h.container == "" {
			t.Fatalf("no %s version of %s in the summary", h.status, h.title)
		}
		h.orig = p.get(t, h.container, h.path)
		if h.problem == audit.Missing {
			p.remove(t, h.container, h.path)
			continue
		}
		bad := []byte("not the original bytes at all")
		if h.sameSize {
			bad = append([]byte(nil), h.orig...)
			bad[len(bad)/2] ^= 0xff
		}
		p.overwrite(t, h.container, h.path, bad)
	}
}

// writeAudit writes the audit report of harms as `mediabackups audit
// --json` does (an audit.Report), and returns its path.
// TODO(audit): run the real `mediabackups audit --wiki W --json` once it is
// in main, and check that it reports exactly the harms.
func (e *env) writeAudit(wiki string, harms []*harm) string {
	e.t.Helper()
	rep := audit.Report{Wiki: wiki, CheckedAt: time.Now().UTC(), Counts: map[string]int64{}}
	for _, h := range harms {
		vs := e.versions("w.name = ? AND f.production_container = ? AND f.production_path = ?", wiki, h.container, h.path)
		if len(vs) != 1 {
			e.t.Fatalf("%d versions at %s/%s", len(vs), h.container, h.path)
		}
		v := vs[0]
		rep.Problems = append(rep.Problems, audit.Problem{ID: v.id, Wiki: wiki, Title: v.title, Status: v.status,
			ProductionContainer: h.container, ProductionPath: h.path, SHA1: v.sha1, Problem: h.problem, BackupOK: v.key != ""})
		rep.Counts[h.problem]++
	}
	rep.Versions = int64(len(e.versions("w.name = ?", wiki)))
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.Dir, wiki+"-audit.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// productionResult is the part of `restore --to-production --json` tests
// read.
type productionResult struct {
	DryRun bool `json:"dry_run"`
	Files  []struct {
		Place  string `json:"place"`
		Action string `json:"action"`
	} `json:"files"`
	Failed []struct {
		Step  string `json:"step"`
		Error string `json:"error"`
	} `json:"failed"`
	Written, Replaced, Skipped int
	KeptDamaged                int `json:"kept_damaged"`
}

func parseProductionResult(t *testing.T, r result) productionResult {
	t.Helper()
	// The result comes first; a failure adds {"error": ...} after it.
	var out productionResult
	if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&out); err != nil {
		t.Fatalf("restore --to-production --json: %v\n%s", err, r)
	}
	return out
}

func (p productionResult) actions() map[string]string {
	out := map[string]string{}
	for _, f := range p.Files {
		out[f.Place] = f.Action
	}
	return out
}

// imageInfo is a version as the wiki's API gives it.
type imageInfo struct {
	URL         string `json:"url"`
	SHA1        string `json:"sha1"`
	ArchiveName string `json:"archivename"`
}

// versionsServed asks the wiki's API for every version of title, fetches
// each URL it gives, and returns the sha1 of what the wiki served there
// next to the API's sha1, by URL.
func versionsServed(t *testing.T, w testsvc.Wiki, title string) map[string][2]string {
	t.Helper()
	q := url.Values{"action": {"query"}, "prop": {"imageinfo"}, "titles": {"File:" + title}, "iiprop": {"url|sha1|archivename"},
		"iilimit": {"max"}, "format": {"json"}, "formatversion": {"2"}}
	resp, err := http.Get(w.API + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Query struct {
			Pages []struct {
				Missing   bool        `json:"missing"`
				ImageInfo []imageInfo `json:"imageinfo"`
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Query.Pages) != 1 || r.Query.Pages[0].Missing {
		t.Fatalf("the API does not know File:%s: %+v", title, r)
	}
	out := map[string][2]string{}
	for _, ii := range r.Query.Pages[0].ImageInfo {
		got := "HTTP error"
		resp, err := http.Get(ii.URL)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				sum := sha1.Sum(b)
				got = hex.EncodeToString(sum[:])
			} else {
				got = resp.Status
			}
		}
		out[ii.URL] = [2]string{got, ii.SHA1}
	}
	return out
}

// checkServed fails unless the wiki serves every version of title with the
// sha1 its API gives.
func checkServed(t *testing.T, w testsvc.Wiki, title string) {
	t.Helper()
	served := versionsServed(t, w, title)
	if len(served) == 0 {
		t.Errorf("the API lists no version of %s", title)
	}
	for u, s := range served {
		if s[0] != s[1] {
			t.Errorf("%s: the wiki serves %s, its API says sha1 %s", u, s[0], s[1])
		}
	}
}

// productionFixture is a backed-up wiki whose production was harmed.
type productionFixture struct {
	e      *env
	w      testsvc.Wiki
	p      prod
	wiki   string
	harms  []*harm
	before map[string]entry // production before the harm
	audit  string           // the audit file
	// restored, when set, checks more once every harmed version is back
	// (before the deleted one is undeleted).
	restored func(t *testing.T)
}

func (x *productionFixture) restore(args ...string) result {
	x.e.t.Helper()
	return x.e.run("restore-media-file", append([]string{"--json", "--to-production", "--yes", "--parallel", "3"}, args...)...)
}

// runProductionRestore is the "Done when" for restore, on one
// wiki: the dry run changes nothing, --execute --replace-damaged puts
// every harmed version back, and MediaWiki serves them again.
func runProductionRestore(t *testing.T, x *productionFixture) {
	e := x.e
	harmed := x.p.list(t)

	t.Run("bad input: nothing written", func(t *testing.T) {
		corrupt := filepath.Join(e.Dir, "corrupt.json")
		b, _ := os.ReadFile(x.audit)
		os.WriteFile(corrupt, b[:len(b)/2], 0o600)
		foreign := filepath.Join(e.Dir, "foreign.json")
		var rep audit.Report
		json.Unmarshal(b, &rep)
		rep.Problems[0].ID += 100000
		b2, _ := json.Marshal(rep)
		os.WriteFile(foreign, b2, 0o600)
		other := filepath.Join(e.Dir, "otherwiki.json")
		rep.Wiki = "otherwiki"
		for i := range rep.Problems {
			rep.Problems[i].Wiki = "otherwiki"
		}
		b3, _ := json.Marshal(rep)
		os.WriteFile(other, b3, 0o600)
		for _, tc := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"corrupted audit file", []string{"--execute", "--from-audit", corrupt}, 2, "read audit report"},
			{"audit naming versions the metadata does not have", []string{"--execute", "--from-audit", foreign}, 2, "do not match the metadata"},
			{"audit of another wiki", []string{"--execute", "--wiki", x.wiki, "--from-audit", other}, 2, "not of " + x.wiki},
			{"audit of a wiki the metadata does not know", []string{"--execute", "--from-audit", other}, 2, "unknown wiki"},
			{"--target too", []string{"--execute", "--from-audit", x.audit, "--target", e.Dir}, 2, "give one of them"},
			{"a missing audit file", []string{"--execute", "--from-audit", filepath.Join(e.Dir, "nope.json")}, 2, "no such file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := x.restore(tc.args...)
				if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("exit %d, want %d with %q: %s", r.code, tc.code, tc.want, r)
				}
			})
		}
		if got := x.p.list(t); !equalListings(got, harmed) {
			t.Errorf("bad input changed production:\n%s", diffListings(harmed, got))
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		r := x.restore("--from-audit", x.audit, "--replace-damaged")
		if r.code != 0 {
			t.Fatalf("dry run: %s", r)
		}
		res := parseProductionResult(t, r)
		if !res.DryRun || res.Written != len(x.harms) || res.Replaced != 2 || len(res.Failed) != 0 {
			t.Errorf("dry run result: %+v\n%s", res, r)
		}
		for _, h := range x.harms {
			want := "would-write"
			if h.problem == audit.Damaged {
				want = "would-replace"
			}
			if got := res.actions()[h.container+"/"+h.path]; got != want {
				t.Errorf("%s %s: dry run says %q, want %q", h.title, h.status, got, want)
			}
		}
		if !strings.Contains(r.stderr, "DRY RUN: nothing was written into production.") {
			t.Errorf("the dry run does not say it wrote nothing:\n%s", r.stderr)
		}
		if got := x.p.list(t); !equalListings(got, harmed) {
			t.Errorf("the dry run changed production:\n%s", diffListings(harmed, got))
		}
	})

	t.Run("without --replace-damaged the damaged objects stay, exit 3", func(t *testing.T) {
		// Only the damaged ones, by title: nothing is written, they are
		// kept, and the exit code says production is not whole.
		r := x.restore("--execute", "--wiki", x.wiki, "--title", "Document.pdf")
		res := parseProductionResult(t, r)
		if r.code != 3 || res.KeptDamaged != 1 || res.Written != 0 || !strings.Contains(r.stderr, "--replace-damaged") {
			t.Errorf("restore of a damaged file without --replace-damaged: %+v\n%s", res, r)
		}
		if got := x.p.list(t); !equalListings(got, harmed) {
			t.Errorf("production changed:\n%s", diffListings(harmed, got))
		}
	})

	t.Run("execute puts every one back", func(t *testing.T) {
		r := x.restore("--execute", "--replace-damaged", "--from-audit", x.audit)
		if r.code != 0 {
			t.Fatalf("restore --execute: %s", r)
		}
		res := parseProductionResult(t, r)
		if res.DryRun || res.Written != len(x.harms) || res.Replaced != 2 || res.Skipped != 0 || len(res.Failed) != 0 {
			t.Errorf("result: %+v", res)
		}
		after := x.p.list(t)
		for _, h := range x.harms {
			key := h.container + "/" + h.path
			sum := md5.Sum(h.orig)
			if got := after[key]; got.MD5 != hex.EncodeToString(sum[:]) || got.Size != int64(len(h.orig)) {
				t.Errorf("%s: production holds %+v, want the original %d bytes", key, got, len(h.orig))
			}
		}
		// Production is as before the harm, apart from the times of the
		// objects written.
		if !equalContent(after, x.before) {
			t.Errorf("production after the restore is not as before the harm:\n%s", diffListings(x.before, after))
		}
		log, _ := os.ReadFile(filepath.Join(e.LogDir, "recovery.log"))
		if n := strings.Count(string(log), `msg="writing into production"`); n < len(x.harms) {
			t.Errorf("recovery.log has %d 'writing into production' lines, want at least %d", n, len(x.harms))
		}
		if x.restored != nil {
			x.restored(t)
		}
	})

	t.Run("a second run skips everything", func(t *testing.T) {
		before := x.p.list(t)
		r := x.restore("--execute", "--replace-damaged", "--from-audit", x.audit)
		res := parseProductionResult(t, r)
		if r.code != 0 || res.Skipped != len(x.harms) || res.Written != 0 {
			t.Errorf("second run: %+v\n%s", res, r)
		}
		if got := x.p.list(t); !equalListings(got, before) {
			t.Errorf("the second run changed production:\n%s", diffListings(before, got))
		}
	})

	t.Run("MediaWiki serves them again", func(t *testing.T) {
		for _, h := range x.harms {
			if h.status != "deleted" {
				checkServed(t, x.w, h.title)
			}
		}
		// The deleted file can be undeleted, and then serves its bytes.
		testsvc.Maintenance(t, x.w, "undelete.php", "--user", "Admin", "File:Deleted_single.jpg")
		checkServed(t, x.w, "Deleted_single.jpg")
		for _, s := range versionsServed(t, x.w, "Deleted_single.jpg") {
			for _, h := range x.harms {
				if h.title == "Deleted_single.jpg" {
					sum := sha1.Sum(h.orig)
					if s[0] != hex.EncodeToString(sum[:]) {
						t.Errorf("undeleted Deleted_single.jpg serves sha1 %s, its original bytes have %x", s[0], sum)
					}
				}
			}
		}
	})
}

func equalListings(a, b map[string]entry) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// equalContent compares listings without the objects' times.
func equalContent(a, b map[string]entry) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Size != w.Size || v.MD5 != w.MD5 {
			return false
		}
	}
	return true
}

func diffListings(want, got map[string]entry) string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, "- "+k)
		} else if g != v {
			out = append(out, fmt.Sprintf("~ %s: %+v → %+v", k, v, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "+ "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// swiftACL is what MediaWiki gives the test Swift's containers (API-NOTES
// §10), and what a created container must get.
var swiftACL = &config.SwiftACL{PublicRead: ".r:*,test:tester", PublicWrite: "test:tester", PrivateRead: "test:tester", PrivateWrite: "test:tester"}

func TestRestoreToProductionSwift(t *testing.T) {
	t.Parallel()
	sw := testsvc.FreshSwiftWiki(t, "prodrestoreswift", 3, false)
	e := &env{t: t, Deployment: testsvc.NewDeployment(t, 3)}
	e.RecoveryUser()
	key := e.Secret("swift-key", sw.Swift.Key)
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "swiftwiki", Type: "public", Wiki: sw.Wiki, Tune: func(w *config.Wiki) {
		w.Project, w.Lang, w.PublicShards, w.DeletedShards = sw.Project, sw.Lang, true, true
		w.Production = &config.Production{Type: config.ProductionSwift, AuthURL: sw.Swift.AuthURL, User: sw.Swift.User, KeyFile: key, ACL: swiftACL}
	}})
	e.mustRun("mediabackups", "schema", "apply")
	e.mustRun("mediabackups", "inventory", "--wiki", "swiftwiki")
	e.mustRun("mediabackups", "backup", "--workers", "4")

	p := swiftProd{c: sw.Swift.Connection(t), prefix: sw.WikiID() + "-local-"}
	x := &productionFixture{e: e, w: sw.Wiki, p: p, wiki: "swiftwiki", harms: theHarms(), before: p.list(t)}
	headers := map[string]map[string]string{}
	files := readPopulateSummary(t, sw.Wiki)
	for _, h := range x.harms {
		for _, f := range files {
			for _, v := range f.Versions {
				if f.Name == h.title && v.Status == h.status && (h.ts == "" || v.Timestamp == h.ts) {
					headers[h.title] = p.headers(t, v.Swift.Container, v.Swift.Object)
				}
			}
		}
	}
	inflict(t, p, files, x.harms)
	x.audit = e.writeAudit("swiftwiki", x.harms)

	// The deleted version's shard holds nothing else: the harm took the
	// container with it.
	deleted := x.harms[2]
	if err := p.c.ContainerDelete(context.Background(), deleted.container); err != nil {
		t.Fatalf("delete the container %s: %v", deleted.container, err)
	}
	t.Run("a missing container is an error, and nothing is written", func(t *testing.T) {
		before := p.list(t)
		r := x.restore("--execute", "--replace-damaged", "--from-audit", x.audit)
		if r.code != 1 || !strings.Contains(r.stderr, deleted.container) || !strings.Contains(r.stderr, "--create-containers") {
			t.Errorf("restore into a missing container: %s", r)
		}
		if got := p.list(t); !equalListings(got, before) {
			t.Errorf("production changed:\n%s", diffListings(before, got))
		}
	})
	t.Run("wrong Swift credentials", func(t *testing.T) {
		os.WriteFile(key, []byte("wrong-key\n"), 0o600)
		defer os.WriteFile(key, []byte(sw.Swift.Key+"\n"), 0o600)
		r := x.restore("--execute", "--replace-damaged", "--create-containers", "--from-audit", x.audit)
		if r.code != 1 || !strings.Contains(r.stderr, "Swift refused the user or key") {
			t.Errorf("wrong key: %s", r)
		}
		os.Chmod(key, 0o644)
		r = x.restore("--execute", "--replace-damaged", "--create-containers", "--from-audit", x.audit)
		if r.code == 0 || !strings.Contains(r.stderr, "key_file") {
			t.Errorf("world-readable key file: %s", r)
		}
		os.Remove(key)
		r = x.restore("--execute", "--replace-damaged", "--create-containers", "--from-audit", x.audit)
		if r.code == 0 || !strings.Contains(r.stderr, "key_file") {
			t.Errorf("missing key file: %s", r)
		}
	})
	t.Run("--create-containers gives MediaWiki's ACLs", func(t *testing.T) {
		r := x.restore("--from-audit", x.audit, "--create-containers", "--replace-damaged")
		if r.code != 0 || !strings.Contains(r.stderr, "DRY RUN: would create the container") {
			t.Fatalf("dry run with --create-containers: %s", r)
		}
		if _, _, err := p.c.Container(context.Background(), deleted.container); !errors.Is(err, ncw.ContainerNotFound) {
			t.Fatalf("the dry run created %s: %v", deleted.container, err)
		}
		// Only the deleted version: the container is made, then it is
		// written.
		r = x.restore("--execute", "--create-containers", "--wiki", "swiftwiki", "--title", "Deleted_single.jpg")
		if r.code != 0 {
			t.Fatalf("restore with --create-containers: %s", r)
		}
		_, h, err := p.c.Container(context.Background(), deleted.container)
		if err != nil {
			t.Fatal(err)
		}
		if h["X-Container-Read"] != "test:tester" || h["X-Container-Write"] != "test:tester" {
			t.Errorf("created container %s has the ACLs %q, %q; MediaWiki gives a deleted container test:tester, test:tester",
				deleted.container, h["X-Container-Read"], h["X-Container-Write"])
		}
		// Put the harm back, so that the shared steps below find it.
		p.remove(t, deleted.container, deleted.path)
	})

	x.restored = func(t *testing.T) {
		for _, h := range x.harms {
			got := p.headers(t, h.container, h.path)
			if want := headers[h.title]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: the restored object has %v, MediaWiki wrote %v", h.title, got, want)
			}
		}
	}
	runProductionRestore(t, x)
}

func TestRestoreToProductionDisk(t *testing.T) {
	t.Parallel()
	w := testsvc.FreshWiki(t, "prodrestore-disk", 12, false)
	e := &env{t: t, Deployment: testsvc.NewDeployment(t, 3)}
	e.RecoveryUser()
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: w, Tune: func(cw *config.Wiki) {
		cw.Production = &config.Production{Type: config.ProductionFilesystem, Root: filepath.Join(w.Dir, "images")}
	}})
	e.mustRun("mediabackups", "schema", "apply")
	e.mustRun("mediabackups", "inventory", "--wiki", "testwiki")
	e.mustRun("mediabackups", "backup", "--workers", "4")
	p := diskProd{dir: filepath.Join(w.Dir, "images"), public: "wikipedia-test-local-public", deleted: "wikipedia-test-local-deleted"}
	x := &productionFixture{e: e, w: w, p: p, wiki: "testwiki", harms: theHarms(), before: p.list(t)}
	inflict(t, p, readPopulateSummary(t, w), x.harms)
	x.audit = e.writeAudit("testwiki", x.harms)
	x.restored = func(t *testing.T) {
		for _, h := range x.harms {
			fi, err := os.Stat(p.file(h.container, h.path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: mode %v, want 0644", h.path, fi.Mode())
			}
		}
	}
	runProductionRestore(t, x)
}

// TestRestoreToProductionPrivate restores a private wiki, whose backups are
// encrypted, into its production: the files are back in plaintext, byte
// for byte.
func TestRestoreToProductionPrivate(t *testing.T) {
	t.Parallel()
	w := testsvc.FreshWiki(t, "prodrestore-private", 13, true)
	e := &env{t: t, Deployment: testsvc.NewDeployment(t, 3)}
	e.RecoveryUser()
	e.WriteConfig(nil, testsvc.DeployedWiki{Name: "privatewiki", Type: "private", Wiki: w, Tune: func(cw *config.Wiki) {
		cw.Production = &config.Production{Type: config.ProductionFilesystem, Root: filepath.Join(w.Dir, "images")}
	}})
	e.mustRun("mediabackups", "schema", "apply")
	e.mustRun("mediabackups", "inventory", "--wiki", "privatewiki")
	e.mustRun("mediabackups", "backup", "--workers", "4")
	for _, v := range e.versions("w.name = 'privatewiki'") {
		if v.key != "" && !strings.HasSuffix(v.key, ".age") {
			t.Fatalf("%s is backed up unencrypted: %s", v.title, v.key)
		}
	}
	p := diskProd{dir: filepath.Join(w.Dir, "images"), public: "wikipedia-private-local-public", deleted: "wikipedia-private-local-deleted"}
	before := p.list(t)
	harms := theHarms()
	inflict(t, p, readPopulateSummary(t, w), harms)
	auditFile := e.writeAudit("privatewiki", harms)
	r := e.run("restore-media-file", "--json", "--to-production", "--execute", "--yes", "--replace-damaged", "--from-audit", auditFile)
	if r.code != 0 {
		t.Fatalf("restore: %s", r)
	}
	for _, h := range harms {
		if got := p.get(t, h.container, h.path); string(got) != string(h.orig) {
			t.Errorf("%s: %d bytes in production after the restore, want the original %d", h.path, len(got), len(h.orig))
		}
	}
	if after := p.list(t); !equalContent(after, before) {
		t.Errorf("production after the restore:\n%s", diffListings(before, after))
	}
}
