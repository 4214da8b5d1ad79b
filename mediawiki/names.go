package mediawiki

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/bits"
	"strings"
)

// sha1Base36Len is the length MediaWiki pads base-36 sha1 values to
// (Wikimedia\base_convert($hex, 16, 36, 31)).
const sha1Base36Len = 31

// SHA1Base36ToHex converts a sha1 in MediaWiki's base 36 (as stored in
// img_sha1 and in the upload log's params.img_sha1) to 40 lower-case hex
// digits, zero-padded. Upper-case digits and values shorter than 31
// characters are accepted. It returns an error for an empty value, a
// character outside [0-9a-zA-Z], or a value that does not fit in 160 bits.
func SHA1Base36ToHex(b36 string) (string, error) {
	if b36 == "" || len(b36) > sha1Base36Len {
		return "", fmt.Errorf("convert base-36 sha1 %q to hex: want 1 to %d characters", b36, sha1Base36Len)
	}
	// n = n*36 + digit in three 64-bit limbs, least significant first: 31
	// base-36 digits need at most 161 bits. (math/big cost more than the
	// rest of reading an erase log of a million lines.)
	var n [3]uint64
	for i := 0; i < len(b36); i++ {
		c := b36[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'z':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'Z':
			d = uint64(c-'A') + 10
		default:
			return "", fmt.Errorf("convert base-36 sha1 %q to hex: invalid character %q", b36, c)
		}
		carry := d
		for j := range n {
			hi, lo := bits.Mul64(n[j], 36)
			var c2 uint64
			n[j], c2 = bits.Add64(lo, carry, 0)
			carry = hi + c2
		}
	}
	if n[2] > 0xffffffff {
		return "", fmt.Errorf("convert base-36 sha1 %q to hex: value exceeds 160 bits", b36)
	}
	var b [20]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(n[2]))
	binary.BigEndian.PutUint64(b[4:12], n[1])
	binary.BigEndian.PutUint64(b[12:20], n[0])
	return hex.EncodeToString(b[:]), nil
}

// SHA1HexToBase36 converts a sha1 in hex (as the API reports it) to
// MediaWiki's base 36: 31 lower-case characters, zero-padded. The input must
// be exactly 40 hex digits (either case).
func SHA1HexToBase36(hexSHA1 string) (string, error) {
	if len(hexSHA1) != 40 {
		return "", fmt.Errorf("convert hex sha1 %q to base 36: want 40 hex digits, got %d characters", hexSHA1, len(hexSHA1))
	}
	if _, err := hex.DecodeString(hexSHA1); err != nil {
		return "", fmt.Errorf("convert hex sha1 %q to base 36: %w", hexSHA1, err)
	}
	n, _ := new(big.Int).SetString(hexSHA1, 16)
	s := n.Text(36)
	return strings.Repeat("0", sha1Base36Len-len(s)) + s, nil
}

// normalizeExtension mirrors MediaWiki's File::getExtension plus
// File::normalizeExtension: the text after the last '.' of the name (none
// when the only '.' is the first character), ASCII-lower-cased, squished
// through File::normalizeExtension's table of preferred spellings, and "" unless it is made of [0-9a-z] only.
func normalizeExtension(name string) string {
	n := strings.LastIndexByte(name, '.')
	if n <= 0 {
		return ""
	}
	ext := asciiLower(name[n+1:])
	switch ext {
	case "htm":
		return "html"
	case "jpeg":
		return "jpg"
	case "mpeg":
		return "mpg"
	case "tiff":
		return "tif"
	case "ogv":
		return "ogg"
	case "":
		return ""
	}
	for i := 0; i < len(ext); i++ {
		c := ext[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return ""
		}
	}
	return ext
}

// asciiLower lower-cases ASCII letters only, like PHP 8's strtolower.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// StorageKey computes the fa_storage_key under which MediaWiki keeps a
// deleted (or revision-deleted) version: the sha1 in base 36 (31
// characters), then "." and the file name's normalised extension (lower
// case; jpeg→jpg, tiff→tif, htm→html, mpeg→mpg, ogv→ogg). A name whose
// extension is empty or not made of [0-9a-z] gets no "." at all, as in
// MediaWiki. title may be a DB key or a "File:" title. It returns an error
// when sha1hex is not 40 hex digits.
func StorageKey(sha1hex, title string) (string, error) {
	b36, err := SHA1HexToBase36(sha1hex)
	if err != nil {
		return "", fmt.Errorf("storage key for %q: %w", title, err)
	}
	ext := normalizeExtension(DBKey(title))
	if ext == "" {
		return b36, nil
	}
	return b36 + "." + ext, nil
}

// HashPath returns the two-level hash directory MediaWiki files a name
// under: "a/ab", the first one and two hex digits of the md5 of the DB key's
// UTF-8 bytes. title is passed through DBKey first, so "File:Simple.png",
// "Simple.png" give the same "2/2e". Archived versions use the hash of the
// file's name, not of the archive name.
func HashPath(title string) string {
	sum := md5.Sum([]byte(DBKey(title)))
	h := hex.EncodeToString(sum[:1])
	return h[:1] + "/" + h
}

// DBKey turns a file title into MediaWiki's DB key form: spaces become
// underscores and one leading "File:" prefix (any case) is removed. It does
// not capitalise the first letter nor otherwise validate the title.
func DBKey(title string) string {
	if len(title) >= 5 && strings.EqualFold(title[:5], "file:") {
		title = title[5:]
	}
	return strings.ReplaceAll(title, " ", "_")
}

// stripNamespace removes the namespace prefix of a title the API reports in
// the File namespace (ns 6). The API uses the wiki's localised namespace
// name ("Datei:", "Fichier:"), which never contains ':', so everything up to
// the first ':' is dropped; the result is a DB key.
func stripNamespace(title string) string {
	if i := strings.IndexByte(title, ':'); i >= 0 {
		title = title[i+1:]
	}
	return strings.ReplaceAll(title, " ", "_")
}

// Containers names the Swift containers and object paths of a wiki's files
// the way Wikimedia production lays them out, e.g.
// Containers{Project: "wikipedia", Lang: "commons", PublicShards: true,
// DeletedShards: true}.
type Containers struct {
	Project string // "wikipedia", "wiktionary", ...
	Lang    string // "en", "commons", ...
	// PublicShards: the public container is split in 256 shards named
	// by the first two hex digits of the md5 of the file name.
	PublicShards bool
	// DeletedShards: the deleted container is split in shards named by
	// the first two characters of the storage key.
	DeletedShards bool
}

func (c Containers) prefix() string {
	return c.Project + "-" + c.Lang + "-local-"
}

// Public returns the container and object path of a file's current
// version: "<project>-<lang>-local-public" (plus ".ab" when PublicShards)
// and "a/ab/<DB key>".
func (c Containers) Public(title string) (container, path string) {
	key := DBKey(title)
	hp := HashPath(key)
	container = c.prefix() + "public"
	if c.PublicShards {
		container += "." + hp[2:]
	}
	return container, hp + "/" + key
}

// Archived returns the container and object path of an old version: the
// same container as Public(title) and "archive/a/ab/<archive name>", where
// the hash is that of the file's name.
func (c Containers) Archived(title, archiveName string) (container, path string) {
	container, _ = c.Public(title)
	return container, "archive/" + HashPath(title) + "/" + archiveName
}

// Deleted returns the container and object path of a deleted version:
// "<project>-<lang>-local-deleted" (plus ".xy", the key's first two
// characters, when DeletedShards) and "x/y/z/<key>". Keys shorter than three
// characters (never made by MediaWiki) use what they have.
func (c Containers) Deleted(storageKey string) (container, path string) {
	container = c.prefix() + "deleted"
	if c.DeletedShards {
		container += "." + prefixN(storageKey, 2)
	}
	var dirs []string
	for i := 0; i < 3 && i < len(storageKey); i++ {
		dirs = append(dirs, storageKey[i:i+1])
	}
	dirs = append(dirs, storageKey)
	return container, strings.Join(dirs, "/")
}

func prefixN(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}
