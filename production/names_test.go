package production

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/mediawiki"
)

func TestParseContainer(t *testing.T) {
	tests := []struct {
		in   string
		want ContainerName
		err  bool
	}{
		{"wikipedia-test-local-public", ContainerName{"wikipedia-test", "local", "public", ""}, false},
		{"wikipedia-commons-local-public.2e", ContainerName{"wikipedia-commons", "local", "public", "2e"}, false},
		{"wikipedia-en-local-deleted.rj", ContainerName{"wikipedia-en", "local", "deleted", "rj"}, false},
		{"wikipedia-en-local-thumb.a", ContainerName{"wikipedia-en", "local", "thumb", "a"}, false},
		{"wikipedia-en-local-temp", ContainerName{"wikipedia-en", "local", "temp", ""}, false},
		{"wikipedia-en-local-transcoded.ff", ContainerName{"wikipedia-en", "local", "transcoded", "ff"}, false},
		{"mbtest-0a1b2c-local-public", ContainerName{"mbtest-0a1b2c", "local", "public", ""}, false},
		{"wiki-local-public", ContainerName{"wiki", "local", "public", ""}, false},
		{"a.b-local-public", ContainerName{"a.b", "local", "public", ""}, false},
		{"wikipedia-en-local-public.abc", ContainerName{}, true}, // not a shard, so the zone is "public.abc"
		{"wikipedia-en-local-archive", ContainerName{}, true},    // no such zone
		{"local-public", ContainerName{}, true},
		{"-local-public", ContainerName{}, true},
		{"wikipedia-en--public", ContainerName{}, true},
		{"public", ContainerName{}, true},
		{"", ContainerName{}, true},
		{"wikipedia-en-local-public/x", ContainerName{}, true},
		{"wikipedia-en-local-public.2E", ContainerName{}, true}, // shards are lower case
		{strings.Repeat("a", 190) + "-local-public", ContainerName{}, true},
	}
	for _, tt := range tests {
		got, err := ParseContainer(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseContainer(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseContainer(%q): %v does not wrap ErrInvalidName", tt.in, err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("ParseContainer(%q).String() = %q", tt.in, got.String())
		}
	}
	if c, _ := ParseContainer("wikipedia-en-local-deleted.rj"); !c.Private() {
		t.Error("the deleted zone must be private")
	}
	if c, _ := ParseContainer("wikipedia-en-local-temp"); !c.Private() {
		t.Error("the temp zone must be private")
	}
	if c, _ := ParseContainer("wikipedia-en-local-public.2e"); c.Private() {
		t.Error("the public zone must not be private")
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"2/2e/Simple.png", "archive/9/9b/20250102090000!Wow!Amazing.png", "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png",
		"0/05/Ελληνικά_γράμματα.png", "c/cc/Comma,_semicolon;_(parens).png", "x", "a/..b/c.", "a/.../b", strings.Repeat("x", 255),
		strings.Repeat("abc/", 255) + "efgh"}
	bad := []string{"", "/2/2e/Simple.png", "2/2e/Simple.png/", "2//2e", ".", "..", "./a", "a/.", "a/../b", "a/./b",
		"a\x00b", "a\nb", "a\x7fb", "\xff", strings.Repeat("x", 256), strings.Repeat("abc/", 256) + "ef"}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := CheckName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestShard(t *testing.T) {
	tests := []struct {
		zone   string
		levels int
		name   string
		want   string
		ok     bool
	}{
		// API-NOTES.md section 10, as MediaWiki resolved them.
		{"public", 2, "2/2e/Simple.png", "2e", true},
		{"public", 2, "archive/9/9b/20250102090000!Wow!Amazing.png", "9b", true},
		{"deleted", 2, "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png", "rj", true},
		{"deleted", 2, "b/d/0/bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg", "bd", true},
		{"thumb", 2, "2/2e/Simple.png/20px-Simple.png", "2e", true},
		{"public", 1, "2/2e/Simple.png", "2", true},
		{"deleted", 1, "r/j/r/rjrz.png", "r", true},
		// The first part shorter than 2 bytes must start the hash.
		{"public", 2, "Simple.png", "", false},
		{"public", 2, "2/2x/Simple.png", "", false},
		{"public", 2, "g/2e/Simple.png", "", false},
		{"public", 2, "2/2E/Simple.png", "", false},
		{"public", 2, "x/2/2e/Simple.png", "", false},
		{"public", 2, "2", "", false},
		{"deleted", 2, "r/jj/r/x.png", "", false},
		{"deleted", 2, "R/j/r/x.png", "", false},
		{"public", 3, "2/2e/Simple.png", "", false},
		// PHP counts bytes: "é" is two, so it is a directory above the hash.
		{"public", 2, "é/2/2e/x.png", "2e", true},
		{"public", 2, "2/2e", "2e", true},
	}
	for _, tt := range tests {
		got, ok := Shard(tt.zone, tt.levels, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Shard(%s, %d, %q) = %q, %v; want %q, %v", tt.zone, tt.levels, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckPlace(t *testing.T) {
	tests := []struct {
		container, name string
		ok              bool
	}{
		{"wikipedia-en-local-public.2e", "2/2e/Simple.png", true},
		{"wikipedia-en-local-public.9b", "archive/9/9b/20250102090000!Wow!Amazing.png", true},
		{"wikipedia-en-local-deleted.rj", "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png", true},
		{"wikipedia-test-local-public", "2/2e/Simple.png", true},
		{"wikipedia-test-local-deleted", "anything/at/all.png", true}, // not sharded: no hash check
		{"wikipedia-en-local-public.2f", "2/2e/Simple.png", false},
		{"wikipedia-en-local-deleted.rk", "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png", false},
		{"wikipedia-en-local-public.2e", "Simple.png", false},
		{"wikipedia-en-local-public.2e", "../2/2e/Simple.png", false},
		{"mediabackups", "2/2e/Simple.png", false}, // not a MediaWiki container
	}
	for _, tt := range tests {
		err := CheckPlace(tt.container, tt.name)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidName)) {
			t.Errorf("CheckPlace(%q, %q) = %v, want ok %v", tt.container, tt.name, err, tt.ok)
		}
	}
}

// FuzzCheckPlace checks that CheckPlace never panics, accepts only valid
// names, and accepts every place mediawiki.Containers gives a file, sharded
// or not: the two must agree, or a restore would refuse (or misplace) what
// the metadata recorded.
func FuzzCheckPlace(f *testing.F) {
	f.Add("Simple.png", "20250102090000!Simple.png", "content", "wikipedia-en-local-public.2e", "2/2e/Simple.png")
	f.Add("Ελληνικά γράμματα.png", "20250102090000!Ελληνικά_γράμματα.png", "x", "wikipedia-en-local-deleted.rj", "r/j/r/x")
	f.Add("é", "!", "", "a-b-public.é", "/")
	f.Fuzz(func(t *testing.T, title, archiveName, content, container, name string) {
		if err := CheckPlace(container, name); err == nil {
			if CheckName(name) != nil {
				t.Fatalf("CheckPlace(%q, %q) accepts an invalid name", container, name)
			}
			if _, err := ParseContainer(container); err != nil {
				t.Fatalf("CheckPlace(%q, %q) accepts a container ParseContainer refuses: %v", container, name, err)
			}
		}
		sum := sha1.Sum([]byte(content))
		key, err := mediawiki.StorageKey(hex.EncodeToString(sum[:]), title)
		if err != nil {
			t.Fatal(err)
		}
		for _, shards := range []bool{false, true} {
			c := mediawiki.Containers{Project: "wikipedia", Lang: "en", PublicShards: shards, DeletedShards: shards}
			for _, place := range [][2]string{
				pair(c.Public(title)), pair(c.Archived(title, archiveName)), pair(c.Deleted(key)),
			} {
				if CheckName(place[1]) != nil || CheckContainer(place[0]) != nil {
					continue // a title MediaWiki would not accept
				}
				if err := CheckPlace(place[0], place[1]); err != nil {
					t.Errorf("mediawiki.Containers puts %q in %s, CheckPlace refuses it: %v", place[1], place[0], err)
				}
			}
		}
	})
}

func pair(a, b string) [2]string { return [2]string{a, b} }

func TestMetaValidate(t *testing.T) {
	good := Meta{Size: 94, MD5: "dead24060ff63182e421bea2ceb8c3b8", SHA1: "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", ContentType: "image/png"}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	for _, tt := range []struct {
		name string
		edit func(*Meta)
	}{
		{"negative size", func(m *Meta) { m.Size = -1 }},
		{"short md5", func(m *Meta) { m.MD5 = m.MD5[1:] }},
		{"md5 not hex", func(m *Meta) { m.MD5 = "g" + m.MD5[1:] }},
		{"sha1 in base 36", func(m *Meta) { m.SHA1 = "rjrzta2uecby71eo37q33rfc4bdtzyv" }},
		{"no content type", func(m *Meta) { m.ContentType = "" }},
		{"content type without subtype", func(m *Meta) { m.ContentType = "image/" }},
		{"content type without type", func(m *Meta) { m.ContentType = "/png" }},
		{"header injection", func(m *Meta) { m.ContentType = "image/png\r\nX-Object-Meta-Mtime: 1" }},
		{"non-ASCII content type", func(m *Meta) { m.ContentType = "image/pñg" }},
	} {
		m := good
		tt.edit(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate(%+v) = nil, want an error", tt.name, m)
		}
	}
	for _, ct := range []string{"image/svg+xml", "text/plain; charset=utf-8", "application/vnd.oasis.opendocument.text", "unknown/unknown"} {
		m := good
		m.ContentType = ct
		if err := m.Validate(); err != nil {
			t.Errorf("content type %q: %v", ct, err)
		}
	}
}

func TestHash(t *testing.T) {
	s, err := Hash(strings.NewReader(""))
	if err != nil || s != (Sums{0, "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709"}) {
		t.Errorf("Hash(empty) = %+v, %v", s, err)
	}
}
