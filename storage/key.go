package storage

import (
	"fmt"
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
