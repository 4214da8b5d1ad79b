package mediawiki

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// testWiki is the pair of real test wikis (shared/testwiki) the
// integration tests run against, from the MEDIABACKUPS_TEST_WIKI_* env.
type testWiki struct {
	PublicAPI, PrivateAPI    string
	PublicDir, PrivateDir    string
	AdminUser, AdminPassword string
	BotUser, BotPassword     string
}

// requireTestWiki returns the test wikis, or skips the test when they are
// not configured; in CI (env CI non-empty) it fails instead, because CI
// must never silently skip.
func requireTestWiki(t testing.TB) testWiki {
	t.Helper()
	get := func(name string, missing *[]string) string {
		v := os.Getenv(name)
		if v == "" {
			*missing = append(*missing, name)
		}
		return v
	}
	var missing []string
	w := testWiki{
		PublicAPI:     get("MEDIABACKUPS_TEST_WIKI_PUBLIC_API", &missing),
		PrivateAPI:    get("MEDIABACKUPS_TEST_WIKI_PRIVATE_API", &missing),
		PublicDir:     get("MEDIABACKUPS_TEST_WIKI_PUBLIC_DIR", &missing),
		PrivateDir:    get("MEDIABACKUPS_TEST_WIKI_PRIVATE_DIR", &missing),
		AdminUser:     get("MEDIABACKUPS_TEST_WIKI_ADMIN_USER", &missing),
		AdminPassword: get("MEDIABACKUPS_TEST_WIKI_ADMIN_PASSWORD", &missing),
		BotUser:       get("MEDIABACKUPS_TEST_WIKI_BOT_USER", &missing),
		BotPassword:   get("MEDIABACKUPS_TEST_WIKI_BOT_PASSWORD", &missing),
	}
	if len(missing) > 0 {
		testsvc.SkipOrFail(t, "test wiki not configured: set %s (testenv/up.sh does)", strings.Join(missing, ", "))
	}
	return w
}

// summary is the part of populate.sh's populate-summary.json the tests use.
type summary struct {
	Files []struct {
		Title    string `json:"title"`
		Name     string `json:"name"`
		Versions []struct {
			Status      string  `json:"status"`
			Timestamp   string  `json:"timestamp"`
			SHA1        string  `json:"sha1"`
			Size        int64   `json:"size"`
			MIME        string  `json:"mime"`
			ArchiveName *string `json:"archive_name"`
			StorageKey  string  `json:"storage_key"`
			FaID        int64   `json:"fa_id"`
			Hidden      bool    `json:"hidden"`
		} `json:"versions"`
	} `json:"files"`
	Log []struct {
		LogID     int64  `json:"logid"`
		Type      string `json:"type"`
		Action    string `json:"action"`
		Timestamp string `json:"timestamp"`
		Title     string `json:"title"`
	} `json:"log"`
}

func readSummary(t testing.TB, dir string) summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "populate-summary.json"))
	if err != nil {
		t.Fatalf("read the test wiki's summary (run shared/testwiki/populate.sh): %v", err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("parse populate-summary.json: %v", err)
	}
	return s
}
