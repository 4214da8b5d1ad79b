package storage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/sharding"
)

// ObjectKey returns the key of a media file in its bucket:
// "<wiki>/<sha256[0:3]>/<sha256>" with the SHA-256 in lower-case hex, plus
// encryption.Suffix when encrypted, e.g.
// "enwiki/e3b/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.age".
//
// `rekey` moves an encrypted object to RekeyedKey(key) when it rewrites
// its header; restores and every other reader use the key the metadata
// records, never one rebuilt from the content.
//
// It returns an error if wiki is empty, ".", "..", not valid UTF-8, or
// contains '/', '\' or a control character, or if sha256hex is not 64 hex
// digits (any case; the error then wraps sharding.ErrInvalidSHA256).
func ObjectKey(wiki, sha256hex string, encrypted bool) (string, error) {
	if err := checkWiki(wiki); err != nil {
		return "", err
	}
	if _, err := sharding.Shard(sha256hex, 1); err != nil {
		return "", fmt.Errorf("object key for wiki %s: %w", wiki, err)
	}
	h := strings.ToLower(sha256hex)
	key := wiki + "/" + h[:3] + "/" + h
	if encrypted {
		key += encryption.Suffix
	}
	return key, nil
}

func checkWiki(wiki string) error {
	switch {
	case wiki == "":
		return fmt.Errorf("object key: empty wiki name")
	case wiki == "." || wiki == "..":
		return fmt.Errorf("object key: invalid wiki name %q", wiki)
	case !utf8.ValidString(wiki):
		return fmt.Errorf("object key: wiki name %q is not valid UTF-8", wiki)
	case strings.ContainsAny(wiki, `/\`):
		return fmt.Errorf("object key: wiki name %q contains a slash", wiki)
	case strings.ContainsFunc(wiki, unicode.IsControl):
		return fmt.Errorf("object key: wiki name %q contains a control character", wiki)
	}
	return nil
}

// RekeyedKey returns the key under which `rekey` writes the rewrapped
// copy of the encrypted object key: "<name>.k<N+1>.age" when key is
// "<name>.k<N>.age", else "<name>.k1.age" for "<name>.age", e.g.
// "enwiki/e3b/e3b0…b855.age" → "enwiki/e3b/e3b0…b855.k1.age" →
// "enwiki/e3b/e3b0…b855.k2.age". The new object gets a new key so that the
// old one stays whole until the metadata points at the new one. It returns
// an error for a key that does not end with encryption.Suffix.
func RekeyedKey(key string) (string, error) {
	base, ok := strings.CutSuffix(key, encryption.Suffix)
	if !ok || base == "" {
		return "", fmt.Errorf("rekey %q: not the key of an encrypted object (no %s suffix)", key, encryption.Suffix)
	}
	gen := 0
	if i := strings.LastIndex(base, ".k"); i >= 0 {
		if n, err := strconv.Atoi(base[i+2:]); err == nil && n > 0 && strconv.Itoa(n) == base[i+2:] {
			base, gen = base[:i], n
		}
	}
	if gen == math.MaxInt {
		return "", fmt.Errorf("rekey %q: no generation after %d", key, gen)
	}
	return fmt.Sprintf("%s.k%d%s", base, gen+1, encryption.Suffix), nil
}
