package search

import (
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

func day(m, d int) time.Time { return time.Date(2025, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func TestQueryFor(t *testing.T) {
	simple1 := "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"
	for _, tc := range []struct {
		name      string
		m         string
		value     string
		container string
		want      metadata.Query
		err       string // substring of the error; "" means success
	}{
		{"title: spaces to underscores", "title", "Old version deleted.png", "", metadata.Query{Title: "Old_version_deleted.png"}, ""},
		{"title: File: prefix removed", "title", "File:Simple.png", "", metadata.Query{Title: "Simple.png"}, ""},
		{"title: file: prefix in lower case", "title", "file:Simple.png", "", metadata.Query{Title: "Simple.png"}, ""},
		{"title: no capitalisation", "title", "  simple.png ", "", metadata.Query{Title: "simple.png"}, ""},
		{"title: empty", "title", "   ", "", metadata.Query{}, "empty"},
		{"title: only File:", "title", "File:", "", metadata.Query{}, "empty"},
		{"sha1 hex", "sha1", strings.ToUpper(simple1), "", metadata.Query{SHA1: simple1}, ""},
		{"sha1 hex short is zero-padded", "sha1", "abc", "", metadata.Query{SHA1: strings.Repeat("0", 37) + "abc"}, ""},
		{"sha1 hex too long", "sha1", simple1 + "0", "", metadata.Query{}, "at most 40"},
		{"sha1 hex bad alphabet", "sha1", "rjrzta2uecby71eo37q33rfc4bdtzyv", "", metadata.Query{}, "not hexadecimal"},
		{"sha1 hex empty", "sha1", "", "", metadata.Query{}, "empty"},
		{"sha1 base36", "sha1-base36", "rjrzta2uecby71eo37q33rfc4bdtzyv", "", metadata.Query{SHA1: simple1}, ""},
		{"sha1 base36 too long", "sha1-base36", "rjrzta2uecby71eo37q33rfc4bdtzyv0", "", metadata.Query{}, "base 36"},
		{"sha1 base36 bad alphabet", "sha1-base36", "rjrzta2uecby71eo37q33rfc4bdtzy!", "", metadata.Query{}, "base 36"},
		{"path", "path", "/2/2e/Simple.png", "wikipedia-test-local-public", metadata.Query{Container: "wikipedia-test-local-public", Path: "2/2e/Simple.png"}, ""},
		{"path without container", "path", "2/2e/Simple.png", "", metadata.Query{}, "container"},
		{"path empty", "path", "", "c", metadata.Query{}, "path is empty"},
		{"sha256", "sha256", strings.Repeat("A", 64), "", metadata.Query{SHA256: strings.Repeat("a", 64)}, ""},
		{"sha256 short", "sha256", "abc", "", metadata.Query{}, "exactly 64"},
		{"sha256 bad alphabet", "sha256", strings.Repeat("g", 64), "", metadata.Query{}, "exactly 64"},
		{"upload date with dashes", "upload-date", "2025-01-02 09:00:00", "", metadata.Query{UploadDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}, ""},
		{"archive date compact", "archive-date", "20250102090000", "", metadata.Query{ArchiveDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}, ""},
		{"delete date ISO", "delete-date", "2025-01-02T09:00:00Z", "", metadata.Query{DeleteDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}, ""},
		{"date without time", "upload-date", "2025-01-02", "", metadata.Query{}, "YYYY-MM-DD hh:mm:ss"},
		{"date out of range", "upload-date", "20251302090000", "", metadata.Query{}, "not a date"},
		{"upload range of days", "upload-between", "2025-01-01..2025-02-01", "", metadata.Query{UploadRange: metadata.TimeRange{From: day(1, 1), To: day(2, 1)}}, ""},
		{"archive range, open end", "archive-between", " 2025-01-02 09:00:00 .. ", "", metadata.Query{ArchiveRange: metadata.TimeRange{From: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}}, ""},
		{"delete range, open start", "delete-between", "..20250102090000", "", metadata.Query{DeleteRange: metadata.TimeRange{To: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}}, ""},
		{"range without ends", "upload-between", "..", "", metadata.Query{}, "--all"},
		{"range without ..", "upload-between", "2025-01-01", "", metadata.Query{}, "FROM..TO"},
		{"range upside down", "upload-between", "2025-02-01..2025-01-01", "", metadata.Query{}, "empty"},
		{"range of no time", "upload-between", "2025-01-01..2025-01-01 00:00:00", "", metadata.Query{}, "empty"},
		{"range with a bad end", "upload-between", "2025-01-01..tomorrow", "", metadata.Query{}, "TO: \"tomorrow\" is not a day or a date"},
		{"range too old", "upload-between", "0999-12-31..", "", metadata.Query{}, "year 1000"},
		{"all", "all", "true", "", metadata.Query{All: true}, ""},
		{"all with a value", "all", "yes", "", metadata.Query{}, "no value"},
		{"unknown method", "size", "1", "", metadata.Query{}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := Lookup(tc.m)
			got, err := m.Query(tc.value, tc.container)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("QueryFor(%s, %q) error = %v, want one containing %q", tc.m, tc.value, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("QueryFor(%s, %q) = %+v, want %+v", tc.m, tc.value, got, tc.want)
			}
		})
	}
}

func TestEveryMethodIsComplete(t *testing.T) {
	if len(Methods) != 12 {
		t.Fatalf("%d methods, want 12", len(Methods))
	}
	seen := map[string]bool{}
	for _, m := range Methods {
		if m.Name == "" || m.Label == "" || m.Prompt == "" || m.Help == "" || (m.Placeholder == "") != m.NoValue || m.parse == nil || m.valueOf == nil {
			t.Errorf("method %q lacks a field: %+v", m.Name, m)
		}
		if seen[m.Name] || m.Name == "container" || m.Name == "wiki" {
			t.Errorf("method name %q is taken", m.Name)
		}
		seen[m.Name] = true
		if got, ok := Lookup(m.Name); !ok || got.Name != m.Name {
			t.Errorf("Lookup(%q) = %v, %v", m.Name, got.Name, ok)
		}
	}
	if _, ok := Lookup("size"); ok {
		t.Error("Lookup found an unknown method")
	}
}

// TestValueOfRoundTrip: the value ValueOf gives for a version is accepted
// by Query and selects that version's own field.
func TestValueOfRoundTrip(t *testing.T) {
	f := metadata.File{
		Title: "Wow!Amazing.png", SHA1: "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457",
		SHA256:    "1cefba1594308f0a81be212daed3c9966e3e3564b7916d200a632be217015b2f",
		Container: "wikipedia-test-local-public", Path: "archive/9/9b/20250102090000!Wow!Amazing.png",
		UploadDate:  time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC),
		ArchiveDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC),
	}
	want := map[string]metadata.Query{
		"title": {Title: f.Title}, "sha1": {SHA1: f.SHA1}, "sha1-base36": {SHA1: f.SHA1},
		"path": {Container: f.Container, Path: f.Path}, "sha256": {SHA256: f.SHA256},
		"upload-date": {UploadDate: f.UploadDate}, "archive-date": {ArchiveDate: f.ArchiveDate},
		"upload-between":  {UploadRange: metadata.TimeRange{From: f.UploadDate, To: f.UploadDate.Add(time.Second)}},
		"archive-between": {ArchiveRange: metadata.TimeRange{From: f.ArchiveDate, To: f.ArchiveDate.Add(time.Second)}},
		"all":             {All: true},
	}
	for _, m := range Methods {
		v, c, ok := m.ValueOf(f)
		if m.Name == "delete-date" || m.Name == "delete-between" {
			if ok {
				t.Errorf("delete-date: a version never deleted has a value %q", v)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no value for %+v", m.Name, f)
			continue
		}
		q, err := m.Query(v, c)
		if err != nil || q != want[m.Name] {
			t.Errorf("%s: Query(%q, %q) = %+v, %v; want %+v", m.Name, v, c, q, err, want[m.Name])
		}
	}
}

func FuzzQuery(f *testing.F) {
	for _, s := range []string{"File:A b.png", "abc", "rjrzta2uecby71eo37q33rfc4bdtzyv", "2025-01-02 09:00:00", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range Methods {
			q, err := m.Query(s, "c")
			if err != nil {
				continue
			}
			if q.SHA1 != "" && len(q.SHA1) != 40 || q.SHA256 != "" && len(q.SHA256) != 64 {
				t.Fatalf("%s %q: bad hash length in %+v", m.Name, s, q)
			}
			if q == (metadata.Query{}) {
				t.Fatalf("%s %q: accepted but the query is empty", m.Name, s)
			}
		}
	})
}

func TestParseRange(t *testing.T) {
	at := func(h, m, s int) time.Time { return time.Date(2025, 1, 2, h, m, s, 0, time.UTC) }
	for _, tc := range []struct {
		in   string
		want metadata.TimeRange
		err  string
	}{
		{"2025-01-01..2025-02-01", metadata.TimeRange{From: day(1, 1), To: day(2, 1)}, ""},
		{"2025-01-02 09:00:00..2025-01-02 10:30:00", metadata.TimeRange{From: at(9, 0, 0), To: at(10, 30, 0)}, ""},
		{"20250102090000..2025-01-02T09:00:01Z", metadata.TimeRange{From: at(9, 0, 0), To: at(9, 0, 1)}, ""},
		{"2025-01-02..", metadata.TimeRange{From: day(1, 2)}, ""},
		{"..2025-01-02", metadata.TimeRange{To: day(1, 2)}, ""},
		{"  2025-01-02  ..  2025-01-03 ", metadata.TimeRange{From: day(1, 2), To: day(1, 3)}, ""},
		{"2025-01-02...2025-01-03", metadata.TimeRange{}, "is not a day or a date"}, // TO would be ".2025-01-03"
		{"..", metadata.TimeRange{}, "neither end"},
		{"", metadata.TimeRange{}, "not a range"},
		{"2025-01-02", metadata.TimeRange{}, "not a range"},
		{"2025-01-02/2025-01-03", metadata.TimeRange{}, "not a range"},
		{"2025-01-03..2025-01-02", metadata.TimeRange{}, "empty"},
		{"2025-01-02..2025-01-02", metadata.TimeRange{}, "empty"},
		{"2025-02-30..", metadata.TimeRange{}, "FROM: \"2025-02-30\" is not a day or a date"},
		{"..2025-01-02 25:00:00", metadata.TimeRange{}, "TO:"},
		{"0000-01-01..", metadata.TimeRange{}, "year 1000"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRange(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseRange(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRange(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			// What the log shows is read back the same.
			if back, err := ParseRange(got.String()); err != nil || back != got {
				t.Errorf("ParseRange(%q) = %v, %v; want %v", got.String(), back, err, got)
			}
		})
	}
}

// FuzzParseRange: a range that is accepted has an end, in UTC, whole
// seconds, FROM before TO, and its String reads back the same; nothing
// panics.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"2025-01-01..2025-02-01", "..20250102090000", "2025-01-02 09:00:00..", "..", "...", "2025-01-01T00:00:00Z..x", "\x00..\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			if r != (metadata.TimeRange{}) {
				t.Fatalf("%q: error %v with a range %v", s, err, r)
			}
			return
		}
		if r.IsZero() {
			t.Fatalf("%q: accepted without an end", s)
		}
		for _, e := range []time.Time{r.From, r.To} {
			if !e.IsZero() && (e.Location() != time.UTC || e.Nanosecond() != 0 || e.Year() < 1000) {
				t.Fatalf("%q: end %v is not a whole second in UTC after the year 1000", s, e)
			}
		}
		if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
			t.Fatalf("%q: FROM %v not before TO %v", s, r.From, r.To)
		}
		if back, err := ParseRange(r.String()); err != nil || back != r {
			t.Fatalf("%q: String %q reads back as %v, %v", s, r.String(), back, err)
		}
	})
}
