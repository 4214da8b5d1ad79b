package synthwiki

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func mustModel(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ask sends one api.php request to the model's handler and returns the body.
func ask(t testing.TB, m *Model, path, query string) []byte {
	t.Helper()
	v, _ := url.ParseQuery(query)
	v.Set("format", "json")
	v.Set("formatversion", "2")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path+"?"+v.Encode(), nil))
	if rec.Code != 200 {
		t.Fatalf("%s?%s: HTTP %d", path, query, rec.Code)
	}
	return rec.Body.Bytes()
}

func TestNames(t *testing.T) {
	m := mustModel(t, Config{Seed: 1, Files: 100, Tail: 50})
	for i := int64(0); i < 150; i++ {
		for gen := 0; gen <= 1; gen++ {
			name := m.name(i, gen)
			gi, gg, ok := m.parseName(name)
			if !ok || gi != i || gg != gen {
				t.Fatalf("parseName(%q) = %d, %d, %v; want %d, %d", name, gi, gg, ok, i, gen)
			}
			if i > 0 && m.name(i-1, 1) >= name || m.name(i, 0) > m.name(i, 1) {
				t.Fatalf("names out of order around %q", name)
			}
		}
	}
	for _, bad := range []string{"", "Synthetic_", "Synthetic_0000000001", "Synthetic_0000000001.exe", "Synthetic_000000000x.jpg",
		"Synthetic_0000000150.jpg", "synthetic_0000000001.jpg", "Synthetic_0000000001_(moved)_(moved).jpg"} {
		if _, _, ok := m.parseName(bad); ok && bad != m.name(1, 0) {
			t.Errorf("parseName(%q) accepted", bad)
		}
	}
}

func TestNormalizeTitle(t *testing.T) {
	for in, want := range map[string]string{
		"File:Synthetic_0000000001.jpg": "File:Synthetic 0000000001.jpg",
		"file:synthetic 1.jpg":          "File:Synthetic 1.jpg",
		"File:Synthetic 1.jpg":          "File:Synthetic 1.jpg",
		"Never_existed.png":             "Never existed.png",
		" File: x_y ":                   "File:X y",
	} {
		if got := normalizeTitle(in); got != want {
			t.Errorf("normalizeTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatePaths(t *testing.T) {
	m := mustModel(t, Config{Files: 10, Tail: 5})
	for path, want := range map[string]int64{"/api.php": 5, "/tail/0/api.php": 0, "/tail/5/api.php": 5, "/tail/6/api.php": -1,
		"/tail/-1/api.php": -1, "/tail/x/api.php": -1, "/index.php": -1, "/tail/3/index.php": -1} {
		k, ok := m.state(path)
		if !ok {
			k = -1
		}
		if k != want {
			t.Errorf("state(%q) = %d, want %d", path, k, want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	q := "action=query&generator=allimages&gailimit=20&prop=imageinfo&iilimit=max&iiprop=timestamp|sha1|size|url|archivename"
	a := ask(t, mustModel(t, Config{Seed: 5, Files: 200, Tail: 100}), "/api.php", q)
	b := ask(t, mustModel(t, Config{Seed: 5, Files: 200, Tail: 100}), "/api.php", q)
	c := ask(t, mustModel(t, Config{Seed: 6, Files: 200, Tail: 100}), "/api.php", q)
	if string(a) != string(b) {
		t.Error("two models with the same configuration answer differently")
	}
	if string(a) == string(c) {
		t.Error("models with different seeds answer alike")
	}
}

// TestProportions checks the model against the distribution its package
// documentation promises, on 200 000 files.
func TestProportions(t *testing.T) {
	const n = 200_000
	m := mustModel(t, Config{Seed: 9, Files: n, Tail: n / 2})
	var versions, deleted, moved int64
	for i := int64(0); i < n; i++ {
		f := m.file(i, 0)
		for _, v := range f.vs {
			if !v.hidden {
				versions++
			}
		}
		if f.deleted {
			deleted++
		}
		if f.gen == 1 {
			moved++
		}
	}
	within := func(what string, got, want, tol float64) {
		if got < want*(1-tol) || got > want*(1+tol) {
			t.Errorf("%s: %.4f, want %.4f ± %.0f%%", what, got, want, 100*tol)
		}
	}
	within("versions per file", float64(versions)/n, MeanVersions, 0.01)
	within("deleted files", float64(deleted)/n, 0.04, 0.05)
	within("renamed files", float64(moved)/n, 0.02, 0.07)
	kinds := map[kind]int{}
	for j := int64(0); j < n/2; j++ {
		kinds[m.kind(j)]++
	}
	for k, want := range map[kind]float64{kUpload: 0.40, kOverwrite: 0.27, kRevert: 0.03, kDeleteFile: 0.12, kDeleteOld: 0.03, kMove: 0.15} {
		got := float64(kinds[k]) / (n / 2)
		// Events that do not apply to their file become uploads.
		if k == kUpload {
			if got < want || got > want+0.08 {
				t.Errorf("tail uploads: %.3f, want %.2f to %.2f", got, want, want+0.08)
			}
			continue
		}
		// An old version can only be deleted where there is one (about one
		// file in ten).
		if got > want || got < want*0.6 && k != kDeleteOld || got < want*0.05 {
			t.Errorf("tail kind %d: %.3f, want up to %.2f", k, got, want)
		}
	}
}

// TestMemoryDoesNotGrowWithSize answers the same kinds of request on a
// wiki of a thousand files and on one of a billion: nothing is stored, so
// the allocations per request must be alike.
func TestMemoryDoesNotGrowWithSize(t *testing.T) {
	small := mustModel(t, Config{Seed: 3, Files: 20_000, Tail: 1000})
	huge := mustModel(t, Config{Seed: 3, Files: 1_000_000_000, Tail: 100_000_000})
	for _, q := range []string{
		"action=query&generator=allimages&gailimit=max&gaifrom=Synthetic_0000000500&prop=imageinfo&iilimit=max&iiprop=timestamp|sha1|size|url|mime|mediatype|archivename",
		"action=query&list=filearchive&falimit=50&fafrom=Synthetic_0000000500&faprop=sha1|timestamp|size|mime|mediatype|archivename",
		"action=query&list=logevents&lelimit=500&ledir=newer&lenamespace=6&leprop=ids|title|type|user|timestamp|comment|details",
	} {
		allocs := func(m *Model) float64 {
			return testing.AllocsPerRun(3, func() { ask(t, m, "/api.php", strings.Replace(q, "gailimit=max", "gailimit=400", 1)) })
		}
		s, h := allocs(small), allocs(huge)
		if h > 1.5*s+100 {
			t.Errorf("%s: %.0f allocations on a billion files, %.0f on twenty thousand", q, h, s)
		}
	}
}

func TestUnsupportedParameters(t *testing.T) {
	m := mustModel(t, Config{Seed: 1, Files: 10})
	for _, q := range []string{
		"action=query&list=allimages&aisort=timestamp",
		"action=query&list=logevents&ledir=older",
		"action=query&list=logevents&ledir=newer&leuser=Admin",
		"action=query&list=filearchive&fasha1=abc",
		"action=query&prop=revisions&titles=File:X.jpg",
		"action=edit",
		"action=query&list=allimages&ailimit=abc",
		"action=query&list=filearchive&facontinue=x",
		"action=query&list=logevents&ledir=newer&lecontinue=x|y",
	} {
		var r struct {
			Error *struct{ Code, Info string }
		}
		if err := json.Unmarshal(ask(t, m, "/api.php", q), &r); err != nil || r.Error == nil {
			t.Errorf("%s: no error (%v)", q, err)
		}
	}
}

// FuzzHandler sends arbitrary parameters: the handler must never panic
// and always answer JSON.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{
		"action=query&list=filearchive&facontinue=Synthetic_0000000003.jpg|20040907000136|4",
		"action=query&list=logevents&ledir=newer&lecontinue=20040907000000|1",
		"action=query&list=logevents&ledir=newer&lestart=2004-09-07T00:00:00Z",
		"action=query&generator=allimages&gaicontinue=Synthetic_0000000005.png&prop=imageinfo&iistart=2004-09-07T00:00:00Z",
		"action=query&titles=File:Synthetic_0000000001.jpg|x|File:&prop=imageinfo&redirects=1",
		"action=query&list=allimages&aifrom=Synthetic_00000000zz&aito=Synthetic_1",
	} {
		f.Add(s)
	}
	m := mustModel(f, Config{Seed: 2, Files: 40, Tail: 30, HighLimit: 5})
	h := m.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		v.Set("format", "json")
		v.Set("formatversion", "2")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api.php?"+v.Encode(), nil))
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: not JSON: %s", query, rec.Body.Bytes())
		}
	})
}

// FuzzSeek checks that seek never starts after a name at or after s.
func FuzzSeek(f *testing.F) {
	for _, s := range []string{"", "A", "Synthetic_", "Synthetic_00000000", "Synthetic_0000000012.jpg", "Synthetic_000000001:", "Synthetic_00000000/", "Z"} {
		f.Add(s)
	}
	m := mustModel(f, Config{Seed: 4, Files: 60, Tail: 40})
	f.Fuzz(func(t *testing.T, s string) {
		i := m.seek(s)
		if i < 0 {
			t.Fatalf("seek(%q) = %d", s, i)
		}
		for j := int64(0); j < min(i, 100); j++ {
			if m.name(j, 0) >= s || m.name(j, 1) >= s {
				t.Fatalf("seek(%q) = %d skips %q", s, i, m.name(j, 1))
			}
		}
	})
}
