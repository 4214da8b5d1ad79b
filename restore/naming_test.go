package restore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
		// Long names are cut in the middle: the extension stays.
		{strings.Repeat("a", 300) + ".png", strings.Repeat("a", 196) + ".png"},
		{strings.Repeat("a", 196) + ".png", strings.Repeat("a", 196) + ".png"},
		{strings.Repeat("a", 197) + ".png", strings.Repeat("a", 196) + ".png"},
		{"20250102090000!" + strings.Repeat("Ж", 120) + ".jpeg", "20250102090000!" + strings.Repeat("Ж", 90) + ".jpeg"},
		{strings.Repeat("é", 150) + ".svg", strings.Repeat("é", 98) + ".svg"},
		{"a" + strings.Repeat("é", 150) + ".svg", "a" + strings.Repeat("é", 97) + ".svg"}, // 195 bytes: no half rune
		{strings.Repeat("a", 250) + ".tar.gz", strings.Repeat("a", 250)[:197] + ".gz"},
		{strings.Repeat("a", 250) + "." + strings.Repeat("x", 40), strings.Repeat("a", 200)}, // no extension that long
		{"." + strings.Repeat("a", 250), "_." + strings.Repeat("a", 198)},                    // the dot starts the name
		{strings.Repeat("a", 250) + "/x.png", strings.Repeat("a", 196) + ".png"},
	} {
		got := SafeName(tc.in)
		if got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(got) > maxNameBytes {
			t.Errorf("SafeName(%q) is %d bytes", tc.in, len(got))
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
		if !utf8.ValidString(n) {
			t.Fatalf("SafeName(%q) = %q is not valid UTF-8", s, n)
		}
		// A plain extension survives any cut.
		if ext := filepath.Ext(s); len(ext) > 1 && len(ext) <= maxExtBytes && SafeName(ext[1:]) == ext[1:] && !strings.HasSuffix(n, ext) {
			t.Fatalf("SafeName(%q) = %q lost the extension %q", s, n, ext)
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
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "L.png")); err != nil {
		t.Fatal(err)
	}
	tg, err := openTarget(root)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var got []string
	for range 3 {
		name, err := tg.reserve("A.png")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if strings.Join(got, " ") != "A.png~ A.png~~ A.png~~~" {
		t.Fatalf("names = %v", got)
	}
	// A link counts as taken, and is never followed.
	if name, err := tg.reserve("L.png"); err != nil || name != "L.png~" {
		t.Errorf("reserve(L.png) = %q, %v; want L.png~", name, err)
	}
	if _, err := tg.create("L.png", 0o644); err == nil {
		t.Error("create followed or replaced a symlink")
	}
	// Publishing never replaces: a name taken meanwhile gets one more ~;
	// with an unnamed file linked in, and with a temporary name renamed
	// with renameat2(RENAME_NOREPLACE) or linked and unlinked, for
	// filesystems without unnamed files or that flag.
	if tg.named {
		t.Errorf("unnamed files cannot be linked in %s, on a kernel with O_TMPFILE and /proc", dir)
	}
	for _, tc := range []struct {
		named, noRenameNoReplace bool
		want                     string
	}{{false, false, "A.png~~~~"}, {true, false, "A.png~~~~~"}, {true, true, "A.png~~~~~~"}} {
		tg.named = tc.named
		tg.noRenameNoReplace.Store(tc.noRenameNoReplace)
		f, err := tg.stage(0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("new")
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(tc.want, "~")), []byte("taken meanwhile"), 0o644); err != nil {
			t.Fatal(err)
		}
		if name, err := tg.publish(f, "A.png"); err != nil || name != tc.want {
			t.Errorf("publish over a taken name (named %v, link: %v) = %q, %v; want %s", tc.named, tc.noRenameNoReplace, name, err, tc.want)
		}
		f.Close()
		if b, _ := os.ReadFile(filepath.Join(dir, "A.png")); string(b) != "old" {
			t.Errorf("the existing file was replaced: %q", b)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, tc.want)); string(b) != "new" {
			t.Errorf("%s holds %q, want the published file", tc.want, b)
		}
		if st, err := os.Stat(filepath.Join(dir, tc.want)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", tc.want, st, err)
		}
	}
	// Nothing else is left: no temporary name, no probe.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "A.png A.png~~~ A.png~~~~ A.png~~~~~ A.png~~~~~~ L.png"; strings.Join(names, " ") != want {
		t.Errorf("the directory holds %v, want %s", names, want)
	}
	// A discarded file leaves nothing, named or not.
	for _, named := range []bool{false, true} {
		tg.named = named
		f, err := tg.stage(0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("partial")
		tg.discard(f)
		if after, _ := os.ReadDir(dir); len(after) != len(entries) {
			t.Errorf("discard (named %v) left a file behind: %d entries, want %d", named, len(after), len(entries))
		}
	}
	// A name that would leave the directory is refused.
	for _, bad := range []string{"../escape", "a/b", "..", ".", ""} {
		if _, err := tg.reserve(bad); err == nil {
			t.Errorf("reserve(%q) succeeded", bad)
		}
		if f, err := tg.create(bad, 0o644); err == nil {
			f.Close()
			t.Errorf("create(%q) succeeded", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a file was written outside the target")
	}
}
