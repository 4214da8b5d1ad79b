package filesystem_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/filesystem"
)

var layout = mediawiki.Containers{Project: "wikipedia", Lang: "test"}

const (
	public  = "wikipedia-test-local-public"
	deleted = "wikipedia-test-local-deleted"
)

func newStore(t testing.TB, root, deletedRoot string, mode fs.FileMode) *filesystem.Store {
	t.Helper()
	cfg, err := filesystem.WikiConfig(layout, root, deletedRoot)
	if err != nil {
		t.Fatal(err)
	}
	cfg.FileMode = mode
	s, err := filesystem.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func meta(b []byte) production.Meta {
	m, s := md5.Sum(b), sha1.Sum(b)
	return production.Meta{Size: int64(len(b)), MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s[:]), ContentType: "image/png"}
}

func TestPath(t *testing.T) {
	s := newStore(t, "/srv/images", "/srv/deleted-files", 0)
	tests := []struct {
		container, name, want string
	}{
		{public, "2/2e/Simple.png", "/srv/images/2/2e/Simple.png"},
		{public, "archive/9/9b/20250102090000!Wow!Amazing.png", "/srv/images/archive/9/9b/20250102090000!Wow!Amazing.png"},
		{public, "0/05/Ελληνικά_γράμματα.png", "/srv/images/0/05/Ελληνικά_γράμματα.png"},
		{deleted, "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png", "/srv/deleted-files/r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png"},
		{deleted, "z/z/z/zzz.png", "/srv/deleted-files/z/z/z/zzz.png"},
		// Refused: other zones' directories, the lock dir, names outside
		// the hash directories, our temporary files, other containers.
		{public, "thumb/2/2e/Simple.png/20px-Simple.png", ""},
		{public, "temp/2/2e/x.png", ""},
		{public, "deleted/r/j/r/x.png", ""},
		{public, "lockdir/x", ""},
		{public, "Simple.png", ""},
		{public, "g/2e/Simple.png", ""},
		{public, "2/2e/.mbtmp-0123456789abcdef", ""},
		{public, "2/2e/.67a1_abc_def.tmpfsfile", ""},
		{public, "../deleted/r/j/r/x.png", ""},
		{deleted, "archive/9/9b/x.png", ""},
		{deleted, ".htaccess", ""},
		{"wikipedia-test-local-thumb", "2/2e/Simple.png", ""},
		{"wikipedia-test-local-public.2e", "2/2e/Simple.png", ""},
		{"wikipedia-other-local-public", "2/2e/Simple.png", ""},
	}
	for _, tt := range tests {
		got, err := s.Path(tt.container, tt.name)
		if tt.want == "" {
			if !errors.Is(err, production.ErrInvalidName) {
				t.Errorf("Path(%s, %q) = %q, %v; want ErrInvalidName", tt.container, tt.name, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Path(%s, %q) = %q, %v; want %q", tt.container, tt.name, got, err, tt.want)
		}
	}
}

// FuzzPath checks that no name maps outside its container's directory, nor
// into the directory of another zone.
func FuzzPath(f *testing.F) {
	f.Add("2/2e/Simple.png")
	f.Add("../x")
	f.Add("archive/../../x")
	f.Add("d/../deleted/x")
	s := newStore(f, "/srv/images", "", 0)
	f.Fuzz(func(t *testing.T, name string) {
		for _, c := range []string{public, deleted} {
			p, err := s.Path(c, name)
			if err != nil {
				if !errors.Is(err, production.ErrInvalidName) {
					t.Fatalf("Path(%s, %q): %v does not wrap ErrInvalidName", c, name, err)
				}
				continue
			}
			dir := "/srv/images"
			if c == deleted {
				dir = "/srv/images/deleted"
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil || rel != filepath.FromSlash(name) || strings.HasPrefix(rel, "..") || filepath.Clean(p) != p {
				t.Fatalf("Path(%s, %q) = %q, outside %s", c, name, p, dir)
			}
			top := strings.SplitN(rel, "/", 2)[0]
			if c == public && slices.Contains([]string{"deleted", "thumb", "temp", "transcoded", "lockdir"}, top) {
				t.Fatalf("Path(%s, %q) = %q, in another zone", c, name, p)
			}
		}
	})
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func list(t *testing.T, s production.Store, container string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	var names []string
	err := s.Objects(context.Background(), container, "", func(o production.Object) error {
		got[o.Name] = o.Size
		names = append(names, o.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("Objects(%s): %v", container, err)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("Objects(%s) out of byte order: %q", container, names)
	}
	return got
}

// TestWhatBelongs pins what the listing of each zone holds in an upload
// directory that has everything MediaWiki and others put there.
func TestWhatBelongs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "images")
	for p, c := range map[string]string{
		"2/2e/Simple.png":                       "current",
		"2/2e/.hidden.png":                      "a dot file is listed",
		"2/2e/index.html":                       "<html>", // not empty: an object
		"2/2e/.67a1f0_abc_def.tmpfsfile":        "FSFileBackend staging",
		"2/2e/.mbtmp-0123456789abcdef":          "ours, left by kill -9",
		"archive/9/9b/2025!Wow!Amazing.png":     "archived",
		"a/ab/Stray file.txt":                   "listed: the audit reports it",
		"thumb/2/2e/Simple.png/20px-Simple.png": "another zone",
		"temp/2/2e/x.png":                       "another zone",
		"transcoded/a/ab/x.webm/x.480p.webm":    "another zone",
		"lockdir/abc":                           "locks",
		"math/a/b/c/x.png":                      "an extension's",
		"README":                                "not in a hash directory",
		".htaccess":                             "not in a hash directory",
		"xy/ab/x.png":                           "not a hash directory",
		"deleted/.htaccess":                     "Require all denied\nSatisfy All\n",
		"deleted/index.html":                    "",
		"deleted/r/j/r/index.html":              "",
		"deleted/r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png": "deleted",
		"deleted/b/d/0/bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg": "deleted",
		"deleted/archive/x/y.png":                           "not a hash directory",
	} {
		write(t, filepath.Join(root, p), c)
	}
	if err := os.Symlink("Simple.png", filepath.Join(root, "2/2e/Link.png")); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root, "", 0)
	want := map[string]map[string]int64{
		public: {"2/2e/Simple.png": 7, "2/2e/.hidden.png": 20, "2/2e/index.html": 6,
			"archive/9/9b/2025!Wow!Amazing.png": 8, "a/ab/Stray file.txt": 28},
		deleted: {"r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png": 7, "b/d/0/bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg": 7},
	}
	for c, w := range want {
		if got := list(t, s, c); !mapsEqual(got, w) {
			t.Errorf("Objects(%s) = %v\nwant %v", c, got, w)
		}
	}
	if _, err := s.Stat(context.Background(), public, "2/2e/Link.png"); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Stat of a symbolic link: %v, want ErrObjectNotFound (a link is not an object)", err)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRealWikiLayout lists the shared disk test wiki (read only): exactly
// the versions populate.sh made, no more, each with the summary's size.
func TestRealWikiLayout(t *testing.T) {
	w := testsvc.PublicWiki(t)
	s := newStore(t, filepath.Join(w.Dir, "images"), "", 0)
	want := map[string]map[string]int64{public: {}, deleted: {}}
	for _, v := range w.Summary(t).Versions() {
		if rest, ok := strings.CutPrefix(v.Path, "deleted/"); ok {
			want[deleted][rest] = v.Size
		} else {
			want[public][v.Path] = v.Size
		}
	}
	for c, wc := range want {
		if got := list(t, s, c); !mapsEqual(got, wc) {
			t.Errorf("Objects(%s) of %s = %v\nwant %v", c, w.Dir, got, wc)
		}
	}
	var cs []string
	s.Containers(context.Background(), "wikipedia-test-", func(c string) error { cs = append(cs, c); return nil })
	if !slices.Equal(cs, []string{deleted, public}) {
		t.Errorf("Containers = %q", cs)
	}
	for _, v := range w.Summary(t).Versions() {
		c, name := public, v.Path
		if rest, ok := strings.CutPrefix(v.Path, "deleted/"); ok {
			c, name = deleted, rest
		}
		_, sums, err := production.Checksum(context.Background(), s, c, name)
		if err != nil || sums.SHA1 != v.SHA1 {
			t.Errorf("%s/%s reads %+v, %v; want sha1 %s", c, name, sums, err, v.SHA1)
		}
	}
}

func owner(t *testing.T, p string) (fs.FileMode, int, int) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), int(st.Uid), int(st.Gid)
}

// TestModeAndOwner checks that files and directories get what
// FSFileBackend gives them, whatever the umask: files the configured mode,
// directories their parent's mode and owner, new directories of a private
// zone an empty index.html; and that a new file gets its directory's owner.
func TestModeAndOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testsvc.SkipOrFail(t, "needs root to give files to another owner")
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := filepath.Join(t.TempDir(), "images")
	if err := os.Mkdir(root, 0o775); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o775)
	const uid, gid = 33, 34 // www-data as on Debian; any other owner will do
	if err := os.Chown(root, uid, gid); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root, "", 0o640)
	ctx := context.Background()
	if err := s.CreateContainer(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	for _, place := range [][2]string{{public, "2/2e/Simple.png"}, {deleted, "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png"}} {
		body := []byte("bytes of " + place[1])
		if err := s.Put(ctx, place[0], place[1], bytes.NewReader(body), meta(body)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(rel string, mode fs.FileMode) {
		t.Helper()
		m, u, g := owner(t, filepath.Join(root, rel))
		if m != mode || u != uid || g != gid {
			t.Errorf("%s: mode %v, owner %d:%d; want %v, %d:%d", rel, m, u, g, mode, uid, gid)
		}
	}
	check("2", fs.ModeDir|0o775)
	check("2/2e", fs.ModeDir|0o775)
	check("2/2e/Simple.png", 0o640)
	check("deleted", fs.ModeDir|0o775)
	check("deleted/.htaccess", 0o640)
	check("deleted/index.html", 0o640)
	check("deleted/r/j/r", fs.ModeDir|0o775)
	check("deleted/r/j/r/index.html", 0o640)
	check("deleted/r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png", 0o640)
	if b, _ := os.ReadFile(filepath.Join(root, "deleted/.htaccess")); string(b) != "Require all denied\nSatisfy All\n" {
		t.Errorf("deleted/.htaccess = %q, want FSFileBackend's", b)
	}
	for _, p := range []string{"deleted/r/index.html", "deleted/r/j/index.html", "2/2e/index.html", "2/index.html"} {
		if _, err := os.Stat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v; FSFileBackend seeds only the directory it prepares, in a private zone", p, err)
		}
	}
	// A file in an existing directory gets that directory's owner.
	if err := os.Chown(filepath.Join(root, "2/2e"), 0, 0); err != nil {
		t.Fatal(err)
	}
	body := []byte("another")
	if err := s.Put(ctx, public, "2/2e/Other.png", bytes.NewReader(body), meta(body)); err != nil {
		t.Fatal(err)
	}
	if _, u, g := owner(t, filepath.Join(root, "2/2e/Other.png")); u != 0 || g != 0 {
		t.Errorf("a file in a root-owned directory got %d:%d", u, g)
	}
	if got := list(t, s, deleted); len(got) != 1 {
		t.Errorf("the deleted zone lists %v; .htaccess and index.html are not objects", got)
	}
}

func TestCreateContainerLeavesExistingAlone(t *testing.T) {
	root := filepath.Join(t.TempDir(), "images")
	write(t, filepath.Join(root, "deleted", "keep"), "x")
	s := newStore(t, root, "", 0)
	if err := s.CreateContainer(context.Background(), deleted); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "deleted", ".htaccess")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CreateContainer changed an existing container: %v", err)
	}
	// Its parent must exist: a root that is not there is a mistake, not a
	// container to make.
	s = newStore(t, filepath.Join(t.TempDir(), "no", "images"), "", 0)
	if err := s.CreateContainer(context.Background(), public); err == nil {
		t.Error("CreateContainer made a directory whose parent does not exist")
	}
}

// TestSymlinkEscape checks that a symbolic link in the upload directory
// cannot make a write land outside it.
func TestSymlinkEscape(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "images"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "2")); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root, "", 0)
	body := []byte("x")
	if err := s.Put(context.Background(), public, "2/2e/Simple.png", bytes.NewReader(body), meta(body)); err == nil {
		t.Error("Put through a symbolic link out of the upload directory succeeded")
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Errorf("something was written outside the upload directory: %v", entries)
	}
}
