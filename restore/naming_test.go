package restore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

func TestProductionName(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    metadata.File
		want string
	}{
		{"public", metadata.File{Title: "Simple.png", Status: metadata.Public}, "Simple.png"},
		{"deleted", metadata.File{Title: "Deleted_copy.png", Status: metadata.Deleted, StorageKey: "rjr.png"}, "Deleted_copy.png"},
		{"archived, archive name", metadata.File{Title: "Wow!Amazing.png", Status: metadata.Archived, ArchiveName: "20250102090000!Wow!Amazing.png"}, "20250102090000!Wow!Amazing.png"},
		{"archived, from the date", metadata.File{Title: "A.png", Status: metadata.Archived, ArchiveDate: time.Date(2025, 1, 4, 9, 0, 0, 0, time.UTC)}, "20250104090000!A.png"},
		{"hard-deleted", metadata.File{Title: "A.png", Status: metadata.HardDeleted}, "A.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProductionName(tc.f); got != tc.want {
				t.Errorf("ProductionName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSafeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Simple.png", "Simple.png"},
		{"../../etc/x", "_.._.._etc_x"},
		{"/abs/path.png", "_abs_path.png"},
		{"a\x01b.png", "a_b.png"},
		{"a\\b.png", "a_b.png"},
		{"..", "_.."},
		{".", "_."},
		{"", "_"},
		{".hidden", "_.hidden"},
		{"bad\xffutf8", "bad_utf8"},
		{"Emoji_😀_smile.png", "Emoji_😀_smile.png"},
		{"new\nline", "new_line"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100)},
	} {
		if got := SafeName(tc.in); got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"../x", "/a", "a\x00b", "..", strings.Repeat("ü", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := SafeName(s)
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") || len(n) > maxNameBytes || n[0] == '.' {
			t.Fatalf("SafeName(%q) = %q", s, n)
		}
		if filepath.Base(n) != n || !filepath.IsLocal(n) {
			t.Fatalf("SafeName(%q) = %q is not a local base name", s, n)
		}
	})
}

func TestReserveNameAppendsTildes(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := root.WriteFile("A.png", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		name, err := reserveName(root, "A.png")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if strings.Join(got, " ") != "A.png~ A.png~~ A.png~~~" {
		t.Fatalf("names = %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "A.png")); string(b) != "old" {
		t.Errorf("the existing file was replaced: %q", b)
	}
	// A name that would leave the root is refused by os.Root itself.
	if _, err := reserveName(root, "../escape"); err == nil {
		t.Error("reserveName(../escape) succeeded")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a file was written outside the root")
	}
}
