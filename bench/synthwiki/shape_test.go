package synthwiki

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
)

// The synthetic wiki is a fake: Wikimedia Commons, the scale it stands in
// for, cannot run here. This test keeps the fake honest. For every kind of
// query mediabackups makes, it asks the real MediaWiki 1.39 test wiki and
// the synthetic wiki the same question (about comparable files: with old
// versions, renamed, hidden, deleted, missing) and requires the same JSON
// shape: the same keys at the same places, with the same JSON types, and
// the same continuation keys. Both answers are then parsed with the real
// parsers of package mediawiki.

// shape adds to out one "path:type" entry per value in v, arrays merged.
func shape(v any, path string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		out[path+":object"] = true
		for k, c := range x {
			shape(c, path+"."+k, out)
		}
	case []any:
		out[path+":array"] = true
		for _, c := range x {
			shape(c, path+"[]", out)
		}
	case string:
		out[path+":string"] = true
	case json.Number:
		out[path+":number"] = true
	case bool:
		out[path+":bool"] = true
	case nil:
		out[path+":null"] = true
	}
}

func shapeOf(t *testing.T, body []byte) map[string]bool {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	out := map[string]bool{}
	shape(v, "", out)
	return out
}

// apiClient makes raw api.php requests, with a cookie jar.
type apiClient struct {
	api string
	hc  *http.Client
}

func newAPIClient(t *testing.T, api string) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{api: api, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *apiClient) get(t *testing.T, params string) []byte {
	t.Helper()
	v, err := url.ParseQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	v.Set("format", "json")
	v.Set("formatversion", "2")
	resp, err := c.hc.Get(c.api + "?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", params, resp.StatusCode, err)
	}
	return b
}

func (c *apiClient) login(t *testing.T, user, password string) []byte {
	t.Helper()
	var tok struct {
		Query struct{ Tokens struct{ LoginToken string } }
	}
	if err := json.Unmarshal(c.get(t, "action=query&meta=tokens&type=login"), &tok); err != nil {
		t.Fatal(err)
	}
	resp, err := c.hc.PostForm(c.api, url.Values{"action": {"login"}, "lgname": {user}, "lgpassword": {password},
		"lgtoken": {tok.Query.Tokens.LoginToken}, "format": {"json"}, "formatversion": {"2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte(`"Success"`)) {
		t.Fatalf("login as %s: %s", user, b)
	}
	return b
}

// sample finds names in the model for the shape queries.
type sample struct {
	m *Model
	k int64
}

// file returns the name of the first file (current name) that exists, is
// not deleted, and satisfies ok.
func (s sample) file(t *testing.T, what string, ok func(f *file) bool) string {
	t.Helper()
	var out string
	s.m.files(s.k, "", func(f *file, name string) bool {
		if ok(f) {
			out = name
			return false
		}
		return true
	})
	if out == "" {
		t.Fatalf("the model has no file that is %s", what)
	}
	return out
}

func live(f *file) int {
	n := 0
	for _, v := range f.vs {
		if v.deleted == 0 {
			n++
		}
	}
	return n
}

func TestShapeMatchesRealWiki(t *testing.T) {
	w := testsvc.PublicWiki(t)
	t.Log("the synthetic wiki is a fake MediaWiki API, because Commons cannot run here; " +
		"its answers must have the shape of the real MediaWiki 1.39 test wiki's at " + w.API)
	real := newAPIClient(t, w.API)
	realLogin := real.login(t, w.BotUser, w.BotPassword)

	m, srv := newTestModel(t, 3000, 1500, DefaultHighLimit)
	fake := newAPIClient(t, srv.URL+"/api.php")
	fakeLogin := fake.login(t, "Bench@synth", "x")
	s := sample{m, m.cfg.Tail}

	multi := s.file(t, "with 3 visible versions", func(f *file) bool { return live(f) >= 3 && !f.hidden })
	// The first of two consecutive files, one with old versions, neither hidden.
	var pair string
	m.files(s.k, "", func(f *file, name string) bool {
		if live(f) < 2 || f.hidden {
			return true
		}
		next := 0
		m.files(s.k, name, func(g *file, _ string) bool {
			next++
			if g.hidden {
				next = -10
			}
			return next < 2
		})
		if next == 2 {
			pair = name
			return false
		}
		return true
	})
	moved := s.file(t, "renamed", func(f *file) bool { return f.gen == 1 && !f.hidden && live(f) >= 2 })
	hidden := s.file(t, "with a hidden version", func(f *file) bool { return f.hidden })
	var faOld string // a deleted row with an archive name, then more rows
	m.deletedRows(s.k, "", func(r faRow) bool {
		if r.f.vs[r.v].archived != 0 {
			faOld = r.name
			return false
		}
		return true
	})
	oldName := strings.Replace(moved, movedSuffix, "", 1)

	const iiprop = "&iiprop=timestamp|sha1|size|url|mime|mediatype|archivename"
	const faprop = "&faprop=sha1|timestamp|size|mime|mediatype|archivename"
	const leprop = "&leprop=ids|title|type|user|timestamp|comment|details&lenamespace=6&ledir=newer"
	type pair2 struct{ real, fake string }
	queries := []struct {
		name  string
		q     pair2
		parse func([]byte) error
	}{
		{"generator=allimages, a batch of two files with old versions (one over iilimit: dropped)",
			pair2{"action=query&generator=allimages&gailimit=2&gaifrom=Deleted&prop=imageinfo&iilimit=2" + iiprop,
				"action=query&generator=allimages&gailimit=2&gaifrom=" + pair + "&prop=imageinfo&iilimit=2" + iiprop},
			parseVersions},
		{"generator=allimages, a batch of one file over iilimit: continued with iistart",
			pair2{"action=query&generator=allimages&gailimit=1&gaicontinue=Diagram.svg&continue=gaicontinue||&prop=imageinfo&iilimit=2" + iiprop,
				"action=query&generator=allimages&gailimit=1&gaicontinue=" + multi + "&continue=gaicontinue||&prop=imageinfo&iilimit=2" + iiprop},
			parseVersions},
		{"generator=allimages, the first batch of one file over iilimit",
			pair2{"action=query&generator=allimages&gailimit=1&gaifrom=Diagram&prop=imageinfo&iilimit=2" + iiprop,
				"action=query&generator=allimages&gailimit=1&gaifrom=" + multi + "&prop=imageinfo&iilimit=2" + iiprop},
			parseVersions},
		{"generator=allimages with limit=max",
			pair2{"action=query&generator=allimages&gailimit=max&gaito=Diagram.svg&prop=imageinfo&iilimit=max" + iiprop,
				"action=query&generator=allimages&gailimit=max&gaito=" + multi + "&prop=imageinfo&iilimit=max" + iiprop},
			parseVersions},
		{"titles= with redirects=1: old versions, a renamed file, a hidden version, a missing file",
			pair2{"action=query&titles=File:File_with_spaces.png|File:Move_source.png|File:Revdel_old_version.png|File:Never_existed.png&redirects=1&prop=imageinfo&iilimit=max" + iiprop,
				"action=query&titles=File:" + multi + "|File:" + oldName + "|File:" + hidden + "|File:Never_existed.png&redirects=1&prop=imageinfo&iilimit=max" + iiprop},
			parseVersions},
		{"titles= of one file over iilimit: continued with iistart",
			pair2{"action=query&titles=File:Diagram.svg&redirects=1&prop=imageinfo&iilimit=2" + iiprop,
				"action=query&titles=" + title(multi) + "&redirects=1&prop=imageinfo&iilimit=2" + iiprop},
			parseVersions},
		{"titles= of a renamed file's old title, not following redirects",
			pair2{"action=query&titles=File:Move_source.png&prop=imageinfo&iilimit=max" + iiprop,
				"action=query&titles=File:" + oldName + "&prop=imageinfo&iilimit=max" + iiprop},
			parseVersions},
		{"list=allimages",
			pair2{"action=query&list=allimages&ailimit=2&aiprop=sha1|size|timestamp|url|mime|mediatype",
				"action=query&list=allimages&ailimit=2&aiprop=sha1|size|timestamp|url|mime|mediatype"},
			nil},
		{"list=filearchive from a row with an archive name, continued",
			pair2{"action=query&list=filearchive&falimit=2&fafrom=Old" + faprop,
				"action=query&list=filearchive&falimit=2&fafrom=" + faOld + faprop},
			parseFileArchive},
		{"list=filearchive with falimit=max, complete",
			pair2{"action=query&list=filearchive&falimit=max" + faprop,
				"action=query&list=filearchive&falimit=max&fafrom=" + faOld + "&fato=" + faOld + faprop},
			parseFileArchive},
		{"list=filearchive of one name (DeletedVersionsOf)",
			pair2{"action=query&list=filearchive&falimit=max&fafrom=To_be_deleted.png&fato=To_be_deleted.png" + faprop,
				"action=query&list=filearchive&falimit=max&fafrom=" + faOld + "&fato=" + faOld + faprop},
			parseFileArchive},
		{"list=logevents from the start, continued",
			pair2{"action=query&list=logevents&lelimit=3" + leprop, "action=query&list=logevents&lelimit=3" + leprop},
			parseLogEvents},
		{"list=logevents from lestart",
			pair2{"action=query&list=logevents&lelimit=2&lestart=2025-01-02T09:00:00Z" + leprop,
				"action=query&list=logevents&lelimit=2&lestart=" + m.T0().Format(time.RFC3339) + leprop},
			parseLogEvents},
		{"meta=tokens&type=login",
			pair2{"action=query&meta=tokens&type=login", "action=query&meta=tokens&type=login"}, nil},
		{"an error: a bad limit",
			pair2{"action=query&list=filearchive&falimit=abc", "action=query&list=filearchive&falimit=abc"}, nil},
		{"an error: a bad continuation",
			pair2{"action=query&list=logevents&lelimit=1&lecontinue=garbage" + leprop, "action=query&list=logevents&lelimit=1&lecontinue=garbage" + leprop}, nil},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			rb, fb := real.get(t, q.q.real), fake.get(t, q.q.fake)
			compareShapes(t, shapeOf(t, rb), shapeOf(t, fb), rb, fb)
			if q.parse != nil {
				if err := q.parse(rb); err != nil {
					t.Errorf("real answer does not parse: %v", err)
				}
				if err := q.parse(fb); err != nil {
					t.Errorf("synthetic answer does not parse: %v", err)
				}
			}
		})
	}
	t.Run("action=login", func(t *testing.T) {
		compareShapes(t, shapeOf(t, realLogin), shapeOf(t, fakeLogin), realLogin, fakeLogin)
	})

	// The log, event kind by event kind: every kind the synthetic wiki
	// writes must look like the real one.
	t.Run("list=logevents, each kind", func(t *testing.T) {
		byKind := func(c *apiClient, q string) map[string]map[string]bool {
			var r struct {
				Query struct{ LogEvents []json.RawMessage }
			}
			if err := json.Unmarshal(c.get(t, q), &r); err != nil {
				t.Fatal(err)
			}
			out := map[string]map[string]bool{}
			for _, raw := range r.Query.LogEvents {
				var e struct{ Type, Action, Comment string }
				json.Unmarshal(raw, &e)
				k := e.Type + "/" + e.Action
				if e.Type == "delete" && e.Action == "delete" && strings.HasPrefix(e.Comment, "Deleted old revision") {
					k += " (one old version)"
				}
				if out[k] == nil {
					out[k] = map[string]bool{}
				}
				for p := range shapeOf(t, raw) {
					out[k][p] = true
				}
			}
			return out
		}
		realKinds := byKind(real, "action=query&list=logevents&lelimit=max"+leprop)
		// Base history and tail: every kind the model makes.
		fakeKinds := byKind(fake, "action=query&list=logevents&lelimit=max"+leprop)
		for k, v := range byKind(fake, "action=query&list=logevents&lelimit=max&lestart="+m.T0().Format(time.RFC3339)+leprop) {
			if fakeKinds[k] == nil {
				fakeKinds[k] = v
			}
		}
		want := []string{"upload/upload", "create/create", "upload/overwrite", "upload/revert", "delete/delete",
			"delete/delete (one old version)", "delete/revision", "move/move"}
		for _, k := range want {
			if fakeKinds[k] == nil {
				t.Errorf("the synthetic log has no %s event", k)
				continue
			}
			if realKinds[k] == nil {
				t.Errorf("the real log has no %s event to compare with", k)
				continue
			}
			t.Run(k, func(t *testing.T) { compareShapes(t, realKinds[k], fakeKinds[k], nil, nil) })
		}
		for k := range fakeKinds {
			if !slices.Contains(want, k) {
				t.Errorf("the synthetic log has %s events, which this test does not compare", k)
			}
		}
	})
}

func compareShapes(t *testing.T, real, fake map[string]bool, rb, fb []byte) {
	t.Helper()
	var onlyReal, onlyFake []string
	for p := range real {
		if !fake[p] {
			onlyReal = append(onlyReal, p)
		}
	}
	for p := range fake {
		if !real[p] {
			onlyFake = append(onlyFake, p)
		}
	}
	sort.Strings(onlyReal)
	sort.Strings(onlyFake)
	if len(onlyReal)+len(onlyFake) > 0 {
		t.Errorf("shapes differ:\n only real:      %v\n only synthetic: %v\nreal:      %.1500s\nsynthetic: %.1500s", onlyReal, onlyFake, rb, fb)
	}
}

func parseVersions(b []byte) error {
	_, _, err := mediawiki.ParseAllVersions(b)
	return err
}

func parseFileArchive(b []byte) error {
	rows, _, err := mediawiki.ParseFileArchive(b)
	if err == nil && len(rows) == 0 {
		return fmt.Errorf("no rows")
	}
	return err
}

func parseLogEvents(b []byte) error {
	evs, _, err := mediawiki.ParseLogEvents(b)
	if err == nil && len(evs) == 0 {
		return fmt.Errorf("no events")
	}
	return err
}
