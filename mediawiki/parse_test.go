package mediawiki

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The testdata/*.json files are real responses of the public test wiki
// (see shared/testwiki), saved with curl.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseAllVersionsReal(t *testing.T) {
	vs, cont, err := ParseAllVersions(readTestdata(t, "allversions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cont != nil {
		t.Errorf("continue = %v, want nil", cont)
	}
	var hidden, archived int
	byKey := map[string]FileVersion{}
	for _, v := range vs {
		if v.Hidden {
			hidden++
			if v.SHA1 != "" || v.URL != "" || v.ArchiveName != "" {
				t.Errorf("hidden version has sha1/url/archivename: %+v", v)
			}
			continue
		}
		if strings.Contains(v.Title, " ") || strings.HasPrefix(v.Title, "File:") {
			t.Errorf("title %q is not a DB key", v.Title)
		}
		if len(v.SHA1) != 40 || v.URL == "" {
			t.Errorf("visible version lacks sha1 or url: %+v", v)
		}
		if v.ArchiveName != "" {
			archived++
		}
		byKey[v.Title+"|"+v.ArchiveName] = v
	}
	if len(vs) != 39 || hidden != 1 || archived != 13 {
		t.Errorf("got %d versions, %d hidden, %d archived; want 39, 1, 13", len(vs), hidden, archived)
	}
	want := FileVersion{
		Title:       "Wow!Amazing.png",
		Timestamp:   mustTime("2025-01-01T10:00:00Z"),
		SHA1:        "2124fdb9b84a6667f0cb76400eed2615213af9b0",
		Size:        95,
		MIME:        "image/png",
		MediaType:   "BITMAP",
		URL:         "http://127.0.0.1:8090/images/archive/9/9b/20250102090000%21Wow%21Amazing.png",
		ArchiveName: "20250102090000!Wow!Amazing.png",
		ArchiveTime: mustTime("2025-01-02T09:00:00Z"),
	}
	if got := byKey["Wow!Amazing.png|20250102090000!Wow!Amazing.png"]; !reflect.DeepEqual(got, want) {
		t.Errorf("Wow!Amazing.png archived version:\n got %+v\nwant %+v", got, want)
	}
	if got := byKey["Simple.png|"]; got.SHA1 != "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457" || !got.IsCurrent() || !got.ArchiveTime.IsZero() {
		t.Errorf("Simple.png current version: %+v", got)
	}
}

func TestParseAllVersionsContinuation(t *testing.T) {
	vs, cont, err := ParseAllVersions(readTestdata(t, "allversions-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Errorf("got %d versions, want 3", len(vs))
	}
	want := map[string]string{"gaicontinue": "Document.pdf", "continue": "gaicontinue||"}
	if !reflect.DeepEqual(cont, want) {
		t.Errorf("continue = %v, want %v", cont, want)
	}
}

func TestParseAllVersionsErrors(t *testing.T) {
	page := func(ii string) string {
		return `{"batchcomplete":true,"query":{"pages":[{"pageid":1,"ns":6,"title":"File:A b.png","imagerepository":"local","imageinfo":[` + ii + `]}]}}`
	}
	tests := []struct {
		name       string
		body       string
		wantErr    bool
		wantCode   string // APIError code
		wantN      int
		permission bool
	}{
		{"api error", string(readTestdata(t, "readapidenied.json")), true, "readapidenied", 0, true},
		{"not json", "<html>", true, "", 0, false},
		{"empty object", "{}", false, "", 0, false},
		{"empty", "", true, "", 0, false},
		{"ok", page(`{"timestamp":"2025-01-01T10:00:00Z","sha1":"EBD86F06D1C6B7DFE02A6E4A5DFC11DFCDF9D457","size":94}`), false, "", 1, false},
		{"size as string", page(`{"timestamp":"2025-01-01T10:00:00Z","size":"94"}`), false, "", 1, false},
		{"bad timestamp", page(`{"timestamp":"yesterday"}`), true, "", 0, false},
		{"missing timestamp", page(`{"sha1":"ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"}`), true, "", 0, false},
		{"bad sha1", page(`{"timestamp":"2025-01-01T10:00:00Z","sha1":"xyz"}`), true, "", 0, false},
		{"bad archive name", page(`{"timestamp":"2025-01-01T10:00:00Z","archivename":"A_b.png"}`), true, "", 0, false},
		{"negative size", page(`{"timestamp":"2025-01-01T10:00:00Z","size":-1}`), true, "", 0, false},
		{"hidden ignores the rest", page(`{"timestamp":"2025-01-01T10:00:00Z","filehidden":true,"sha1":"bad"}`), false, "", 1, false},
		{"missing page", `{"query":{"pages":[{"ns":6,"title":"File:X.png","missing":true,"imagerepository":""}]}}`, false, "", 0, false},
		{"foreign repository skipped", `{"query":{"pages":[{"ns":6,"title":"File:X.png","missing":true,"known":true,"imagerepository":"shared","imageinfo":[{"timestamp":"2025-01-01T10:00:00Z"}]}]}}`, false, "", 0, false},
		{"wrong type", `{"query":{"pages":{"1":{}}}}`, true, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, _, err := ParseAllVersions([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			var apiErr *APIError
			if tt.wantCode != "" && (!errors.As(err, &apiErr) || apiErr.Code != tt.wantCode) {
				t.Errorf("error = %v, want APIError %s", err, tt.wantCode)
			}
			if errors.Is(err, ErrPermission) != tt.permission {
				t.Errorf("errors.Is(%v, ErrPermission) = %v, want %v", err, !tt.permission, tt.permission)
			}
			if len(vs) != tt.wantN {
				t.Errorf("got %d versions, want %d", len(vs), tt.wantN)
			}
		})
	}
	vs, _, _ := ParseAllVersions([]byte(page(`{"timestamp":"2025-01-01T10:00:00Z","sha1":"EBD86F06D1C6B7DFE02A6E4A5DFC11DFCDF9D457","size":94}`)))
	if vs[0].Title != "A_b.png" || vs[0].SHA1 != "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457" {
		t.Errorf("title/sha1 not normalised: %+v", vs[0])
	}
}

func TestParseFileArchive(t *testing.T) {
	rows, cont, err := ParseFileArchive(readTestdata(t, "filearchive.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cont != nil || len(rows) != 8 {
		t.Fatalf("got %d rows, continue %v; want 8 rows and no continue", len(rows), cont)
	}
	want := DeletedVersion{
		ID: 5, Title: "Deleted_photo.jpeg", Timestamp: mustTime("2025-01-01T12:00:00Z"),
		SHA1: "614425acf44b09081d6744a4f60706320b2c7d57", Size: 384, MIME: "image/jpeg", MediaType: "BITMAP",
		StorageKey: "bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg",
	}
	var archived int
	for _, r := range rows {
		if r.ID == want.ID && !reflect.DeepEqual(r, want) {
			t.Errorf("row 5:\n got %+v\nwant %+v", r, want)
		}
		if r.Title == "Deleted_copy.png" && r.StorageKey != "rjrzta2uecby71eo37q33rfc4bdtzyv.png" {
			t.Errorf("Deleted_copy.png storage key %q", r.StorageKey)
		}
		if r.ArchiveName != "" {
			archived++
		}
		if r.Size <= 0 || r.StorageKey == "" {
			t.Errorf("row without size or storage key: %+v", r)
		}
	}
	if archived != 2 {
		t.Errorf("%d rows with an archive name, want 2", archived)
	}

	rows, cont, err = ParseFileArchive(readTestdata(t, "filearchive-page.json"))
	if err != nil || len(rows) != 3 {
		t.Fatalf("page: %d rows, %v", len(rows), err)
	}
	if want := map[string]string{"facontinue": "Deleted_Ärger.svg|20250101120000|4", "continue": "-||"}; !reflect.DeepEqual(cont, want) {
		t.Errorf("continue = %v, want %v", cont, want)
	}

	for name, body := range map[string]string{
		"bad size":      `{"query":{"filearchive":[{"id":1,"name":"a.png","timestamp":"2025-01-01T12:00:00Z","size":"x"}]}}`,
		"no name":       `{"query":{"filearchive":[{"id":1,"timestamp":"2025-01-01T12:00:00Z"}]}}`,
		"bad timestamp": `{"query":{"filearchive":[{"id":1,"name":"a.png","timestamp":"2025"}]}}`,
		"bad sha1":      `{"query":{"filearchive":[{"id":1,"name":"a.png","timestamp":"2025-01-01T12:00:00Z","sha1":"zz"}]}}`,
		"api error":     `{"error":{"code":"permissiondenied","info":"no"}}`,
	} {
		if _, _, err := ParseFileArchive([]byte(body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseLogEvents(t *testing.T) {
	evs, cont, err := ParseLogEvents(readTestdata(t, "logevents.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cont != nil {
		t.Errorf("continue = %v", cont)
	}
	// API-NOTES §5: the counts after populate, without create/create and
	// newusers/autocreate, which are not file events.
	want := map[string]int{"upload/upload": 31, "upload/overwrite": 15, "upload/revert": 1,
		"delete/delete": 8, "delete/restore": 1, "delete/revision": 1, "move/move": 1}
	got := map[string]int{}
	for _, e := range evs {
		got[e.Type+"/"+e.Action]++
		if e.Type == "upload" && (len(e.SHA1) != 40 || e.ImgTimestamp.IsZero()) {
			t.Errorf("upload event without sha1 or img_timestamp: %+v", e)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	byID := map[int64]LogEvent{}
	for _, e := range evs {
		byID[e.ID] = e
	}
	if e := byID[89]; e.Action != "revert" || e.Title != "Reverted.png" ||
		e.SHA1 != "7ab51a5c774e457ce09c6d0832eff45f0f0556d5" || !e.ImgTimestamp.Equal(mustTime("2025-01-05T15:00:00Z")) {
		t.Errorf("event 89: %+v", e)
	}
	if e := byID[86]; e.TargetTitle != "Move_target.png" || e.Title != "Move_source.png" || e.PageID != 32 || e.LogPage != 22 {
		t.Errorf("event 86: %+v", e)
	}
	if e := byID[85]; e.Action != "revision" || e.RevisionType != "oldimage" ||
		!reflect.DeepEqual(e.RevisionIDs, []string{"20250102090000"}) || e.OldBits != 0 || e.NewBits != 1 {
		t.Errorf("event 85: %+v", e)
	}
	if e := byID[84]; !strings.HasPrefix(e.Comment, "Deleted old revision 20250102090000!Old_version_deleted.png") || string(e.Params) != "{}" {
		t.Errorf("event 84: %+v", e)
	}
	if e := byID[88]; string(e.Params) != `{"count":{"revisions":2,"files":2}}` {
		t.Errorf("event 88 params: %s", e.Params)
	}

	evs, cont, err = ParseLogEvents(readTestdata(t, "logevents-page.json"))
	if err != nil || len(evs) != 5 || evs[0].ID != 86 {
		t.Fatalf("page: %d events, %v", len(evs), err)
	}
	if want := map[string]string{"lecontinue": "20250105160000|91", "continue": "-||"}; !reflect.DeepEqual(cont, want) {
		t.Errorf("continue = %v, want %v", cont, want)
	}
}

func TestParseLogEventsOddParams(t *testing.T) {
	tests := []struct {
		name  string
		entry string
		check func(LogEvent) bool
	}{
		{"params as array", `{"logid":1,"ns":6,"title":"File:A.png","type":"upload","action":"upload","timestamp":"2025-01-01T10:00:00Z","params":[]}`,
			func(e LogEvent) bool { return e.SHA1 == "" && string(e.Params) == "[]" }},
		{"bad base36", `{"logid":1,"ns":6,"title":"File:A.png","type":"upload","action":"upload","timestamp":"2025-01-01T10:00:00Z","params":{"img_sha1":"!!","img_timestamp":"20250101100000"}}`,
			func(e LogEvent) bool { return e.SHA1 == "" && e.ImgTimestamp.Equal(mustTime("2025-01-01T10:00:00Z")) }},
		{"numeric ids and legacy fields", `{"logid":1,"ns":6,"title":"File:A.png","type":"suppress","action":"revision","timestamp":"2025-01-01T10:00:00Z","params":{"type":"oldimage","ids":[20250101100000],"ofield":0,"nfield":15}}`,
			func(e LogEvent) bool {
				return e.RevisionType == "oldimage" && len(e.RevisionIDs) == 1 && e.RevisionIDs[0] == "20250101100000" && e.NewBits == 15
			}},
		{"localised namespace", `{"logid":1,"ns":6,"title":"Datei:A b:c.png","type":"move","action":"move","timestamp":"2025-01-01T10:00:00Z","params":{"target_ns":6,"target_title":"Datei:X y.png"}}`,
			func(e LogEvent) bool { return e.Title == "A_b:c.png" && e.TargetTitle == "X_y.png" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, _, err := ParseLogEvents([]byte(`{"query":{"logevents":[` + tt.entry + `]}}`))
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			if !tt.check(evs[0]) {
				t.Errorf("unexpected %+v", evs[0])
			}
		})
	}
	skipped := `{"query":{"logevents":[
		{"logid":1,"ns":0,"title":"Main Page","type":"delete","action":"delete","timestamp":"2025-01-01T10:00:00Z"},
		{"logid":2,"ns":6,"title":"File:A.png","type":"create","action":"create","timestamp":"2025-01-01T10:00:00Z"},
		{"logid":3,"type":"delete","action":"delete","actionhidden":true,"timestamp":"2025-01-01T10:00:00Z"}]}}`
	if evs, _, err := ParseLogEvents([]byte(skipped)); err != nil || len(evs) != 0 {
		t.Errorf("got %v, %v; want nothing", evs, err)
	}
	if _, _, err := ParseLogEvents([]byte(`{"query":{"logevents":[{"logid":1,"ns":6,"title":"File:A.png","type":"upload","timestamp":"bad"}]}}`)); err == nil {
		t.Error("bad timestamp: no error")
	}
}

// fuzzSeeds adds the real responses and a few hand-made ones.
func fuzzSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(readTestdata(f, name))
	}
	f.Add(readTestdata(f, "readapidenied.json"))
	for _, s := range []string{"", "{}", "null", "[]", `{"continue":{"a":1,"b":null}}`, `{"query":null}`,
		`{"errors":[{"code":"maxlag","text":"lag"}]}`} {
		f.Add([]byte(s))
	}
}

func FuzzParseAllVersions(f *testing.F) {
	fuzzSeeds(f, "allversions.json", "allversions-page.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		vs, _, err := ParseAllVersions(body)
		if err != nil {
			return
		}
		for _, v := range vs {
			if v.Title == "" || strings.Contains(v.Title, " ") {
				t.Fatalf("bad title %q", v.Title)
			}
			if v.SHA1 != "" && len(v.SHA1) != 40 {
				t.Fatalf("bad sha1 %q", v.SHA1)
			}
			if v.Hidden && (v.SHA1 != "" || v.URL != "" || v.ArchiveName != "") {
				t.Fatalf("hidden version with details: %+v", v)
			}
			if (v.ArchiveName == "") != v.ArchiveTime.IsZero() {
				t.Fatalf("archive name and time disagree: %+v", v)
			}
		}
	})
}

func FuzzParseFileArchive(f *testing.F) {
	fuzzSeeds(f, "filearchive.json", "filearchive-page.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, _, err := ParseFileArchive(body)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Title == "" || r.Size < 0 {
				t.Fatalf("bad row %+v", r)
			}
			if (r.SHA1 == "") != (r.StorageKey == "") {
				t.Fatalf("sha1 and storage key disagree: %+v", r)
			}
		}
	})
}

func FuzzParseLogEvents(f *testing.F) {
	fuzzSeeds(f, "logevents.json", "logevents-page.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, _, err := ParseLogEvents(body)
		if err != nil {
			return
		}
		for _, e := range evs {
			if !fileLogType(e.Type) || e.Title == "" {
				t.Fatalf("event that should have been skipped: %+v", e)
			}
			if e.SHA1 != "" && len(e.SHA1) != 40 {
				t.Fatalf("bad sha1 %q", e.SHA1)
			}
		}
	})
}
