package mediawiki

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
)

func TestSHA1Base36ToHex(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"Simple.png", "rjrzta2uecby71eo37q33rfc4bdtzyv", "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", false},
		{"Deleted_photo.jpeg", "bd0v2ohu011uugoodcqx3a3ciu5xpp3", "614425acf44b09081d6744a4f60706320b2c7d57", false},
		{"upper case accepted", "RJRZTA2UECBY71EO37Q33RFC4BDTZYV", "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", false},
		{"short is zero-padded", "1", "0000000000000000000000000000000000000001", false},
		{"zero", "0000000000000000000000000000000", "0000000000000000000000000000000000000000", false},
		{"largest sha1", "twj4yidkw7a8pn4g709kzmfoaol3x8f", "ffffffffffffffffffffffffffffffffffffffff", false},
		{"2^160 overflows", "twj4yidkw7a8pn4g709kzmfoaol3x8g", "", true},
		{"too long", "0rjrzta2uecby71eo37q33rfc4bdtzyv", "", true},
		{"empty", "", "", true},
		{"bad character", "rjrzta2uecby71eo37q33rfc4bdtzy!", "", true},
		{"sign", "+1", "", true},
		{"non-ASCII", "é", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SHA1Base36ToHex(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SHA1Base36ToHex(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("SHA1Base36ToHex(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSHA1HexToBase36(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"Simple.png", "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", "rjrzta2uecby71eo37q33rfc4bdtzyv", false},
		{"upper-case hex", "EBD86F06D1C6B7DFE02A6E4A5DFC11DFCDF9D457", "rjrzta2uecby71eo37q33rfc4bdtzyv", false},
		{"zero-padded", "0000000000000000000000000000000000000001", "0000000000000000000000000000001", false},
		{"zero", "0000000000000000000000000000000000000000", "0000000000000000000000000000000", false},
		{"max", "ffffffffffffffffffffffffffffffffffffffff", "twj4yidkw7a8pn4g709kzmfoaol3x8f", false},
		{"too short", "ebd86f06", "", true},
		{"not hex", "zbd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SHA1HexToBase36(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SHA1HexToBase36(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("SHA1HexToBase36(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStorageKey(t *testing.T) {
	const simple = "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"
	const simple36 = "rjrzta2uecby71eo37q33rfc4bdtzyv"
	tests := []struct {
		name, sha1, title, want string
		wantErr                 bool
	}{
		{"jpeg squished to jpg", "614425acf44b09081d6744a4f60706320b2c7d57", "Deleted_photo.jpeg", "bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg", false},
		{"png", simple, "Deleted_copy.png", simple36 + ".png", false},
		{"File: prefix and spaces", simple, "File:Deleted copy.png", simple36 + ".png", false},
		{"upper-case extension", simple, "A.PNG", simple36 + ".png", false},
		{"tiff", simple, "a.TIFF", simple36 + ".tif", false},
		{"htm", simple, "a.htm", simple36 + ".html", false},
		{"mpeg", simple, "a.mpeg", simple36 + ".mpg", false},
		{"ogv", simple, "a.ogv", simple36 + ".ogg", false},
		{"last dot counts", simple, "a.tar.gz", simple36 + ".gz", false},
		{"no extension", simple, "README", simple36, false},
		{"leading dot only", simple, ".png", simple36, false},
		{"trailing dot", simple, "a.", simple36, false},
		{"non-alphanumeric extension", simple, "a.p-g", simple36, false},
		{"non-ASCII extension", simple, "a.pñg", simple36, false},
		{"bad sha1", "xyz", "a.png", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StorageKey(tt.sha1, tt.title)
			if (err != nil) != tt.wantErr {
				t.Fatalf("StorageKey(%q, %q) error = %v, want error %v", tt.sha1, tt.title, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("StorageKey(%q, %q) = %q, want %q", tt.sha1, tt.title, got, tt.want)
			}
		})
	}
}

func TestHashPath(t *testing.T) {
	tests := []struct{ title, want string }{
		{"Simple.png", "2/2e"},
		{"File:Simple.png", "2/2e"},
		{"Кириллица_пример.png", "5/52"},
		{"Кириллица пример.png", "5/52"},
		{"Wow!Amazing.png", "9/9b"},
		{"Comma,_semicolon;_(parens).png", "c/cc"},
		{"Move_target.png", "1/1d"},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			if got := HashPath(tt.title); got != tt.want {
				t.Errorf("HashPath(%q) = %q, want %q", tt.title, got, tt.want)
			}
		})
	}
}

func TestDBKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"File:Simple.png", "Simple.png"},
		{"file:a b.png", "a_b.png"},
		{"FILE:a", "a"},
		{"File with spaces.png", "File_with_spaces.png"},
		{"File:File:x.png", "File:x.png"}, // only one prefix
		{"Image:x.png", "Image:x.png"},    // aliases are not handled
		{"lower case.png", "lower_case.png"},
		{"", ""},
		{"File:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := DBKey(tt.in); got != tt.want {
				t.Errorf("DBKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestContainers(t *testing.T) {
	commons := Containers{Project: "wikipedia", Lang: "commons", PublicShards: true, DeletedShards: true}
	flat := Containers{Project: "wikipedia", Lang: "en"}
	tests := []struct {
		name          string
		got           func() (string, string)
		wantContainer string
		wantPath      string
	}{
		{"public sharded", func() (string, string) { return commons.Public("Simple.png") },
			"wikipedia-commons-local-public.2e", "2/2e/Simple.png"},
		{"public flat, title with prefix and spaces", func() (string, string) { return flat.Public("File:Кириллица пример.png") },
			"wikipedia-en-local-public", "5/52/Кириллица_пример.png"},
		{"archived sharded", func() (string, string) {
			return commons.Archived("Wow!Amazing.png", "20250102090000!Wow!Amazing.png")
		}, "wikipedia-commons-local-public.9b", "archive/9/9b/20250102090000!Wow!Amazing.png"},
		{"archived flat", func() (string, string) {
			return flat.Archived("Кириллица_пример.png", "20250102090000!Кириллица_пример.png")
		}, "wikipedia-en-local-public", "archive/5/52/20250102090000!Кириллица_пример.png"},
		{"deleted sharded", func() (string, string) { return commons.Deleted("rjrzta2uecby71eo37q33rfc4bdtzyv.png") },
			"wikipedia-commons-local-deleted.rj", "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png"},
		{"deleted flat", func() (string, string) { return flat.Deleted("bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg") },
			"wikipedia-en-local-deleted", "b/d/0/bd0v2ohu011uugoodcqx3a3ciu5xpp3.jpg"},
		{"deleted short key does not panic", func() (string, string) { return commons.Deleted("a") },
			"wikipedia-commons-local-deleted.a", "a/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := tt.got()
			if c != tt.wantContainer || p != tt.wantPath {
				t.Errorf("got (%q, %q), want (%q, %q)", c, p, tt.wantContainer, tt.wantPath)
			}
		})
	}
}

func TestArchiveTime(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"20250102090000!Wow!Amazing.png", "2025-01-02T09:00:00Z", false},
		{"20250104090000!Diagram.svg", "2025-01-04T09:00:00Z", false},
		{"Diagram.svg", "", true},
		{"2025!x.png", "", true},
		{"20251302090000!x.png", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ArchiveTime(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ArchiveTime(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got.Format("2006-01-02T15:04:05Z07:00") != tt.want {
				t.Errorf("ArchiveTime(%q) = %v, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSHA1Base36ToHex(f *testing.F) {
	for _, s := range []string{"rjrzta2uecby71eo37q33rfc4bdtzyv", "bd0v2ohu011uugoodcqx3a3ciu5xpp3",
		"twj4yidkw7a8pn4g709kzmfoaol3x8f", "twj4yidkw7a8pn4g709kzmfoaol3x8g", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "0", "", "ZZZ", "-1", "+1", "_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := SHA1Base36ToHex(s)
		if err != nil {
			return
		}
		if len(h) != 40 || strings.ToLower(h) != h {
			t.Fatalf("SHA1Base36ToHex(%q) = %q: not 40 lower-case hex digits", s, h)
		}
		if _, err := hex.DecodeString(h); err != nil {
			t.Fatalf("SHA1Base36ToHex(%q) = %q: %v", s, h, err)
		}
		back, err := SHA1HexToBase36(h)
		if err != nil {
			t.Fatalf("SHA1HexToBase36(%q): %v", h, err)
		}
		want := strings.Repeat("0", 31-len(s)) + strings.ToLower(s)
		if back != want {
			t.Fatalf("round trip of %q gave %q, want %q", s, back, want)
		}
	})
}

func FuzzStorageKey(f *testing.F) {
	f.Add([]byte{0xeb, 0xd8}, "Deleted_photo.jpeg")
	f.Add([]byte{}, "a.b.c")
	f.Add([]byte{1}, ".png")
	f.Fuzz(func(t *testing.T, seed []byte, title string) {
		sum := md5.Sum(seed) // any 20 bytes would do; derive them from the seed
		sha1 := hex.EncodeToString(append(sum[:], sum[:4]...))
		k, err := StorageKey(sha1, title)
		if err != nil {
			t.Fatalf("StorageKey(%q, %q): %v", sha1, title, err)
		}
		b36, ext, _ := strings.Cut(k, ".")
		if len(b36) != 31 {
			t.Fatalf("StorageKey(%q, %q) = %q: base-36 part is not 31 characters", sha1, title, k)
		}
		if back, err := SHA1Base36ToHex(b36); err != nil || back != sha1 {
			t.Fatalf("StorageKey(%q, %q) = %q: does not round-trip (%q, %v)", sha1, title, k, back, err)
		}
		for _, c := range ext {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
				t.Fatalf("StorageKey(%q, %q) = %q: bad extension", sha1, title, k)
			}
		}
		// The path helpers must not panic on anything either.
		Containers{Project: "p", Lang: "l", PublicShards: true, DeletedShards: true}.Deleted(k)
		Containers{Project: "p", Lang: "l", PublicShards: true}.Public(title)
	})
}
