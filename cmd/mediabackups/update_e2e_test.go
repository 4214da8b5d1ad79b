package main_test

// End-to-end tests of `mediabackups update`: real changes made through the
// MediaWiki API of fresh test wikis (FreshWiki slots 0 and 1), then the metadata
// compared with the wiki's own database, and the bytes in MinIO checked.

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
)

// wikiAPI makes changes through a wiki's Action API as Admin@full.
type wikiAPI struct {
	t     *testing.T
	api   string
	hc    *http.Client
	token string
}

func newWikiAPI(t *testing.T, api string) *wikiAPI {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	w := &wikiAPI{t: t, api: api, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
	lt := w.get(url.Values{"action": {"query"}, "meta": {"tokens"}, "type": {"login"}})
	var r struct {
		Query struct{ Tokens map[string]string }
	}
	json.Unmarshal(lt, &r)
	out := w.post(url.Values{"action": {"login"}, "lgname": {"Admin@full"},
		"lgpassword": {"fullfullfullfullfullfullfullfull"}, "lgtoken": {r.Query.Tokens["logintoken"]}}, nil)
	if !bytes.Contains(out, []byte(`"Success"`)) {
		t.Fatalf("login as Admin@full: %s", out)
	}
	ct := w.get(url.Values{"action": {"query"}, "meta": {"tokens"}})
	json.Unmarshal(ct, &r)
	w.token = r.Query.Tokens["csrftoken"]
	return w
}

func (w *wikiAPI) get(p url.Values) []byte {
	w.t.Helper()
	p.Set("format", "json")
	p.Set("formatversion", "2")
	resp, err := w.hc.Get(w.api + "?" + p.Encode())
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// post sends an API POST; file, when set, is sent as the multipart "file".
func (w *wikiAPI) post(p url.Values, file []byte) []byte {
	w.t.Helper()
	p.Set("format", "json")
	p.Set("formatversion", "2")
	if w.token != "" {
		p.Set("token", w.token)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range p {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", p.Get("filename"))
		fw.Write(file)
	}
	mw.Close()
	resp, err := w.hc.Post(w.api, mw.FormDataContentType(), &body)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// do runs an action and fails the test on an API error.
func (w *wikiAPI) do(p url.Values, file []byte) {
	w.t.Helper()
	out := w.post(p, file)
	if bytes.Contains(out, []byte(`"error"`)) {
		w.t.Fatalf("%s %v: %s", p.Get("action"), p, out)
	}
}

func (w *wikiAPI) upload(name string, data []byte) {
	w.t.Helper()
	w.do(url.Values{"action": {"upload"}, "filename": {name}, "ignorewarnings": {"1"}, "comment": {"update test"}}, data)
	time.Sleep(1100 * time.Millisecond) // one upload per name and second (API-NOTES §5)
}

// archiveNames returns the archive names of a file's old versions, newest first.
func (w *wikiAPI) archiveNames(title string) []string {
	w.t.Helper()
	var r struct {
		Query struct {
			Pages []struct {
				ImageInfo []struct{ ArchiveName string }
			}
		}
	}
	json.Unmarshal(w.get(url.Values{"action": {"query"}, "prop": {"imageinfo"}, "titles": {"File:" + title},
		"iiprop": {"archivename"}, "iilimit": {"max"}}), &r)
	var out []string
	for _, p := range r.Query.Pages {
		for _, ii := range p.ImageInfo {
			if ii.ArchiveName != "" {
				out = append(out, ii.ArchiveName)
			}
		}
	}
	return out
}

// pngBytes makes a small valid PNG, different for each n.
func pngBytes(n int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8+n, 5))
	for x := range 8 + n {
		img.Set(x, 2, color.RGBA{uint8(n * 37), uint8(x * 11), 200, 255})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// changeWiki makes the changes of the update scenario through the API.
func changeWiki(t *testing.T, api string) {
	w := newWikiAPI(t, api)
	// A new file, overwritten twice, then reverted to its first version.
	w.upload("Update_new.png", pngBytes(1))
	w.upload("Update_new.png", pngBytes(2))
	w.upload("Update_new.png", pngBytes(3))
	names := w.archiveNames("Update_new.png")
	if len(names) != 2 {
		t.Fatalf("Update_new.png has old versions %v, want 2", names)
	}
	w.do(url.Values{"action": {"filerevert"}, "filename": {"Update_new.png"}, "archivename": {names[len(names)-1]},
		"comment": {"update test: revert"}}, nil)
	// A file with history deleted, then undeleted.
	w.do(url.Values{"action": {"delete"}, "title": {"File:Wow!Amazing.png"}, "reason": {"update test"}}, nil)
	time.Sleep(1100 * time.Millisecond)
	w.do(url.Values{"action": {"undelete"}, "title": {"File:Wow!Amazing.png"}, "reason": {"update test"}}, nil)
	// Another deleted for good.
	w.do(url.Values{"action": {"delete"}, "title": {"File:Diagram.svg"}, "reason": {"update test"}}, nil)
	// A move.
	w.do(url.Values{"action": {"move"}, "from": {"File:File with spaces.png"}, "to": {"File:Moved with spaces.png"},
		"reason": {"update test"}}, nil)
	// A single old version deleted.
	old := w.archiveNames("Кириллица_пример.png")
	if len(old) == 0 {
		t.Fatal("Кириллица_пример.png has no old version")
	}
	w.do(url.Values{"action": {"delete"}, "title": {"File:Кириллица пример.png"}, "oldimage": {old[len(old)-1]},
		"reason": {"update test"}}, nil)
}

// prodVersion is one version as the wiki's database has it.
type prodVersion struct {
	Title, Status, SHA1, Uploaded, Container, Path, ArchiveName, StorageKey string
	Deleted                                                                 string // fa_deleted_timestamp, 14 digits
}

func (v prodVersion) key() string { return v.Title + "|" + v.Uploaded + "|" + v.SHA1 }

// prodVersions reads every version from the wiki's SQLite database.
func prodVersions(t *testing.T, dir string, c mediawiki.Containers) map[string]prodVersion {
	t.Helper()
	q := `SELECT 'image', img_name, img_timestamp, img_sha1, '', 0, '' FROM image
UNION ALL SELECT 'oldimage', oi_name, oi_timestamp, oi_sha1, oi_archive_name, oi_deleted, '' FROM oldimage
UNION ALL SELECT 'filearchive', fa_name, fa_timestamp, fa_sha1, COALESCE(fa_archive_name, ''), 0, fa_deleted_timestamp FROM filearchive;`
	cmd := exec.Command("sqlite3", "-readonly", "-separator", "\t", filepath.Join(dir, "data", "testwiki.sqlite"), q)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sqlite3: %v", err)
	}
	res := map[string]prodVersion{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			t.Fatalf("sqlite3 line %q", line)
		}
		sha, err := mediawiki.SHA1Base36ToHex(f[3])
		if err != nil {
			t.Fatal(err)
		}
		ts, _ := time.Parse("20060102150405", f[2])
		v := prodVersion{Title: f[1], SHA1: sha, Uploaded: ts.Format(time.RFC3339), ArchiveName: f[4]}
		sk, _ := mediawiki.StorageKey(sha, f[1])
		switch {
		case f[0] == "image":
			v.Status = "public"
			v.Container, v.Path = c.Public(f[1])
		case f[0] == "oldimage" && f[5] != "0":
			v.Status, v.StorageKey = "deleted", sk
			v.Container, v.Path = c.Deleted(sk)
		case f[0] == "oldimage":
			v.Status = "archived"
			v.Container, v.Path = c.Archived(f[1], f[4])
		default:
			v.Status, v.StorageKey, v.Deleted = "deleted", sk, f[6]
			v.Container, v.Path = c.Deleted(sk)
		}
		res[v.key()] = v
	}
	return res
}

// metaVersion is one version as the metadata has it.
type metaVersion struct {
	prodVersion
	DeleteDate, Backup, SHA256, Endpoint, ObjectKey string
}

func (e *env) metaVersions(wiki string) []metaVersion {
	e.t.Helper()
	rs, err := e.DB.Query(`SELECT f.title, f.production_status, LOWER(HEX(f.sha1)), DATE_FORMAT(f.upload_date, '%Y-%m-%dT%H:%i:%sZ'),
		f.production_container, f.production_path, COALESCE(f.archive_name, ''), COALESCE(f.storage_key, ''),
		COALESCE(DATE_FORMAT(f.delete_date, '%Y%m%d%H%i%s'), ''), f.backup_status, COALESCE(LOWER(HEX(f.sha256)), ''),
		COALESCE(l.endpoint, ''), COALESCE(b.object_key, '')
		FROM files f JOIN wikis w ON w.id = f.wiki_id LEFT JOIN backups b ON b.id = f.backup_id
		LEFT JOIN locations l ON l.id = b.location_id WHERE w.name = ? ORDER BY f.id`, wiki)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []metaVersion
	for rs.Next() {
		var m metaVersion
		if err := rs.Scan(&m.Title, &m.Status, &m.SHA1, &m.Uploaded, &m.Container, &m.Path, &m.ArchiveName, &m.StorageKey,
			&m.DeleteDate, &m.Backup, &m.SHA256, &m.Endpoint, &m.ObjectKey); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// checkAgainstProduction compares every version in the metadata with the
// wiki's database and checks the bytes of each in MinIO.
// Deletions made at or after changed must have the log's time as delete date.
func (e *env) checkAgainstProduction(wiki string, w testsvc.Wiki, c mediawiki.Containers, encrypted bool, changed time.Time) {
	t := e.t
	t.Helper()
	prod := prodVersions(t, w.Dir, c)
	meta := e.metaVersions(wiki)
	seen := map[string]bool{}
	for _, m := range meta {
		k := m.key()
		seen[k] = true
		p, ok := prod[k]
		if !ok {
			t.Errorf("%s: %s (uploaded %s, sha1 %s) is in the metadata as %s, not in production", wiki, m.Title, m.Uploaded, m.SHA1, m.Status)
			continue
		}
		got := m.prodVersion
		got.Deleted = p.Deleted
		if got != p {
			t.Errorf("%s: %s uploaded %s:\n metadata   %+v\n production %+v", wiki, m.Title, m.Uploaded, got, p)
		}
		if (m.Status == "deleted") != (m.DeleteDate != "") && !(m.Status == "deleted" && p.Deleted == "") {
			t.Errorf("%s: %s uploaded %s is %s with delete date %q", wiki, m.Title, m.Uploaded, m.Status, m.DeleteDate)
		}
		// Deletions made by the test happened just now: fa_deleted_timestamp
		// (real time) and the log's time (the delete date) are the same second,
		// give or take the request's duration.
		if fa, err := time.Parse("20060102150405", p.Deleted); err == nil && !fa.Before(changed.UTC().Truncate(time.Second)) {
			dd, err := time.Parse("20060102150405", m.DeleteDate)
			if err != nil || dd.Sub(fa).Abs() > 5*time.Second {
				t.Errorf("%s: %s uploaded %s: delete date %q, deleted at %s", wiki, m.Title, m.Uploaded, m.DeleteDate, p.Deleted)
			}
		}
		if m.Backup != "backedup" && m.Backup != "duplicate" {
			t.Errorf("%s: %s uploaded %s: backup status %s", wiki, m.Title, m.Uploaded, m.Backup)
			continue
		}
		data := e.Get(m.Endpoint, m.ObjectKey)
		if encrypted {
			data = e.ageDecrypt(data)
		}
		s256, s1 := sha256.Sum256(data), sha1.Sum(data)
		if hex.EncodeToString(s256[:]) != m.SHA256 || hex.EncodeToString(s1[:]) != m.SHA1 {
			t.Errorf("%s: %s uploaded %s: object %s holds sha256 %x sha1 %x, want %s and %s", wiki, m.Title, m.Uploaded,
				m.ObjectKey, s256, s1, m.SHA256, m.SHA1)
		}
	}
	for k, p := range prod {
		if !seen[k] {
			t.Errorf("%s: production has %s %s uploaded %s (sha1 %s), the metadata does not", wiki, p.Status, p.Title, p.Uploaded, p.SHA1)
		}
	}
}

// history returns "field:old>new" of every history row of a wiki with a source starting with "log:".
func (e *env) logHistory(wiki string) []string {
	e.t.Helper()
	rs, err := e.DB.Query(`SELECT h.field, COALESCE(h.old_value, ''), COALESCE(h.new_value, '') FROM file_history h
		JOIN files f ON f.id = h.file_id JOIN wikis w ON w.id = f.wiki_id WHERE w.name = ? AND h.source LIKE 'log:%' ORDER BY h.id`, wiki)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var f, o, n string
		rs.Scan(&f, &o, &n)
		out = append(out, f+":"+o+">"+n)
	}
	return out
}

// faultProxy stands in front of a wiki: it answers the requests whose
// numbers (from 1) are in fail503 with 503 and Retry-After, those in
// failLag with a maxlag error, and passes everything else through.
type faultProxy struct {
	srv              *httptest.Server
	n                atomic.Int64
	armed            atomic.Bool
	fail503, failLag map[int64]bool
	injected         atomic.Int64
}

func newFaultProxy(t *testing.T, api string) *faultProxy {
	u, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{fail503: map[int64]bool{1: true, 2: true, 9: true}, failLag: map[int64]bool{5: true, 6: true}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.armed.Load() && strings.HasSuffix(r.URL.Path, "api.php") {
			n := p.n.Add(1)
			switch {
			case p.fail503[n]:
				p.injected.Add(1)
				w.Header().Set("Retry-After", "1")
				http.Error(w, "Service Unavailable (injected)", http.StatusServiceUnavailable)
				return
			case p.failLag[n]:
				p.injected.Add(1)
				w.Header().Set("Retry-After", "1")
				w.Header().Set("MediaWiki-API-Error", "maxlag")
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"error":{"code":"maxlag","info":"Waiting for 10.0.0.1: 7 seconds lagged.","host":"10.0.0.1","lag":7}}`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// writeUpdateConfig replaces the env's config with one naming the given
// wikis (name → API), of one type, sharded like Commons.
func (e *env) writeUpdateConfig(w testsvc.Wiki, wikis map[string]string, typ string) {
	e.t.Helper()
	names := make([]string, 0, len(wikis))
	for n := range wikis {
		names = append(names, n)
	}
	sort.Strings(names)
	var ws []testsvc.DeployedWiki
	for _, n := range names {
		ws = append(ws, testsvc.DeployedWiki{Name: n, Type: typ, Wiki: w, API: wikis[n],
			Tune: func(c *config.Wiki) {
				c.Project, c.Lang, c.PublicShards, c.DeletedShards = "wikipedia", "commons", true, true
			}})
	}
	e.WriteConfig(nil, ws...)
}

type updateStats struct {
	Events, Skipped, Added, Changed, Renamed, Unreadable int
}

func (e *env) update(wiki string) updateStats {
	e.t.Helper()
	var st updateStats
	if err := json.Unmarshal([]byte(e.run("--json", "update", "--wiki", wiki)), &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

var commons = mediawiki.Containers{Project: "wikipedia", Lang: "commons", PublicShards: true, DeletedShards: true}

func TestUpdateFollowsEveryChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		slot    int
		private bool
	}{{"public", 0, false}, {"private", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 3)
			fw := testsvc.FreshWiki(t, "update-"+tc.name, tc.slot, tc.private)
			typ := "public"
			if tc.private {
				typ = "private"
			}
			wikis := map[string]string{"testwiki": fw.API}
			var proxy *faultProxy
			if !tc.private {
				// The same wiki a second time, behind a proxy that injects
				// 503s and maxlag errors during the update.
				proxy = newFaultProxy(t, fw.API)
				wikis["proxiedwiki"] = proxy.srv.URL + "/api.php"
			}
			e.writeUpdateConfig(fw, wikis, typ)
			for w := range wikis {
				e.run("inventory", "--wiki", w)
			}
			e.run("backup", "--workers", "4")

			changed := time.Now()
			changeWiki(t, fw.API)
			// An old version hidden (revision-deleted) before update ever
			// saw it: update must download it to learn its sha1 (before
			// the transaction that records it).
			w := newWikiAPI(t, fw.API)
			w.upload("Update_hidden.png", pngBytes(4))
			w.upload("Update_hidden.png", pngBytes(5))
			hidden := w.archiveNames("Update_hidden.png")
			if len(hidden) != 1 {
				t.Fatalf("Update_hidden.png has old versions %v, want 1", hidden)
			}
			testsvc.Maintenance(t, fw, filepath.Join(testsvc.RepoRoot(t), "testenv", "testwiki", "lib", "TestWikiOps.php"),
				"--op=revdel-old", "--file=Update_hidden.png", "--archive-name="+hidden[0], "--reason=update test")
			st := e.update("testwiki")
			if st.Added == 0 || st.Changed == 0 || st.Renamed == 0 || st.Unreadable != 0 {
				t.Errorf("first update: %+v, want versions added, changed and renamed, none unreadable", st)
			}
			e.run("backup", "--workers", "4")
			e.checkAgainstProduction("testwiki", fw, commons, tc.private, changed)

			// The move left the old title in the history.
			hist := strings.Join(e.logHistory("testwiki"), "\n")
			if !strings.Contains(hist, "title:File_with_spaces.png>Moved_with_spaces.png") {
				t.Errorf("no title change in the history:\n%s", hist)
			}

			// Again: nothing to do, nothing changes.
			before := e.metaVersions("testwiki")
			st = e.update("testwiki")
			if st.Events != st.Skipped || st.Added+st.Changed+st.Renamed != 0 {
				t.Errorf("second update: %+v, want only skipped events", st)
			}
			if after := e.metaVersions("testwiki"); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the second update changed the metadata")
			}

			if proxy != nil {
				proxy.armed.Store(true)
				e.update("proxiedwiki")
				if proxy.injected.Load() < 5 {
					t.Errorf("the proxy injected %d faults, want 5", proxy.injected.Load())
				}
				e.run("backup", "--wiki", "proxiedwiki", "--workers", "4")
				proxy.armed.Store(false)
				e.checkAgainstProduction("proxiedwiki", fw, commons, false, changed)
			}
		})
	}
}

// TestUpdateFollowStopsOnSIGTERM runs `update --follow` on a shared,
// read-only wiki and checks that it catches up and ends cleanly on SIGTERM.
func TestUpdateFollowStopsOnSIGTERM(t *testing.T) {
	e := newEnv(t, 1)
	cmd := e.command("update", "--wiki", "testwiki", "--follow", "--interval", "1s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		var n int
		e.DB.QueryRow("SELECT COUNT(*) FROM wiki_cursors").Scan(&n)
		var files int
		e.DB.QueryRow("SELECT COUNT(*) FROM files").Scan(&files)
		if n == 1 && files >= 40 {
			break
		}
		if ctx.Err() != nil {
			cmd.Process.Kill()
			t.Fatalf("update --follow never caught up\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // at least one more polling round
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("update --follow after SIGTERM: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatalf("update --follow did not stop after SIGTERM\n%s", out.String())
	}
}
