package restore

import (
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

func TestQueryFor(t *testing.T) {
	simple1 := "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"
	for _, tc := range []struct {
		name      string
		m         Method
		value     string
		container string
		want      metadata.Query
		err       string // substring of the error; "" means success
	}{
		{"title: spaces to underscores", ByTitle, "Old version deleted.png", "", metadata.Query{Title: "Old_version_deleted.png"}, ""},
		{"title: File: prefix removed", ByTitle, "File:Simple.png", "", metadata.Query{Title: "Simple.png"}, ""},
		{"title: file: prefix in lower case", ByTitle, "file:Simple.png", "", metadata.Query{Title: "Simple.png"}, ""},
		{"title: no capitalisation", ByTitle, "  simple.png ", "", metadata.Query{Title: "simple.png"}, ""},
		{"title: empty", ByTitle, "   ", "", metadata.Query{}, "empty"},
		{"title: only File:", ByTitle, "File:", "", metadata.Query{}, "empty"},
		{"sha1 hex", BySHA1, strings.ToUpper(simple1), "", metadata.Query{SHA1: simple1}, ""},
		{"sha1 hex short is zero-padded", BySHA1, "abc", "", metadata.Query{SHA1: strings.Repeat("0", 37) + "abc"}, ""},
		{"sha1 hex too long", BySHA1, simple1 + "0", "", metadata.Query{}, "at most 40"},
		{"sha1 hex bad alphabet", BySHA1, "rjrzta2uecby71eo37q33rfc4bdtzyv", "", metadata.Query{}, "not hexadecimal"},
		{"sha1 hex empty", BySHA1, "", "", metadata.Query{}, "empty"},
		{"sha1 base36", BySHA1Base36, "rjrzta2uecby71eo37q33rfc4bdtzyv", "", metadata.Query{SHA1: simple1}, ""},
		{"sha1 base36 too long", BySHA1Base36, "rjrzta2uecby71eo37q33rfc4bdtzyv0", "", metadata.Query{}, "base 36"},
		{"sha1 base36 bad alphabet", BySHA1Base36, "rjrzta2uecby71eo37q33rfc4bdtzy!", "", metadata.Query{}, "base 36"},
		{"path", ByPath, "/2/2e/Simple.png", "wikipedia-test-local-public", metadata.Query{Container: "wikipedia-test-local-public", Path: "2/2e/Simple.png"}, ""},
		{"path without container", ByPath, "2/2e/Simple.png", "", metadata.Query{}, "container"},
		{"path empty", ByPath, "", "c", metadata.Query{}, "path is empty"},
		{"sha256", BySHA256, strings.Repeat("A", 64), "", metadata.Query{SHA256: strings.Repeat("a", 64)}, ""},
		{"sha256 short", BySHA256, "abc", "", metadata.Query{}, "exactly 64"},
		{"sha256 bad alphabet", BySHA256, strings.Repeat("g", 64), "", metadata.Query{}, "exactly 64"},
		{"upload date with dashes", ByUploadDate, "2025-01-02 09:00:00", "", metadata.Query{UploadDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}, ""},
		{"archive date compact", ByArchiveDate, "20250102090000", "", metadata.Query{ArchiveDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}, ""},
		{"delete date ISO", ByDeleteDate, "2025-01-02T09:00:00Z", "", metadata.Query{DeleteDate: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)}, ""},
		{"date without time", ByUploadDate, "2025-01-02", "", metadata.Query{}, "YYYY-MM-DD hh:mm:ss"},
		{"date out of range", ByUploadDate, "20251302090000", "", metadata.Query{}, "not a date"},
		{"unknown method", Method("size"), "1", "", metadata.Query{}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := QueryFor(tc.m, tc.value, tc.container)
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

func TestEveryMethodIsDescribed(t *testing.T) {
	if len(Methods) != 8 {
		t.Fatalf("%d methods, want 8", len(Methods))
	}
	for _, m := range Methods {
		if m.Describe() == string(m) {
			t.Errorf("method %s has no description", m)
		}
	}
}

func FuzzQueryFor(f *testing.F) {
	for _, s := range []string{"File:A b.png", "abc", "rjrzta2uecby71eo37q33rfc4bdtzyv", "2025-01-02 09:00:00", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range Methods {
			q, err := QueryFor(m, s, "c")
			if err != nil {
				continue
			}
			if q.SHA1 != "" && len(q.SHA1) != 40 || q.SHA256 != "" && len(q.SHA256) != 64 {
				t.Fatalf("%s %q: bad hash length in %+v", m, s, q)
			}
			if q == (metadata.Query{}) {
				t.Fatalf("%s %q: accepted but the query is empty", m, s)
			}
		}
	})
}
