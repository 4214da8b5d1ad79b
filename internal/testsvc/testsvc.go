// Package testsvc gives tests the real services that testenv/up.sh starts:
// a throwaway MariaDB server, several MinIO servers, two MediaWiki wikis on
// disk, an OpenStack Swift and a MediaWiki whose files are in it.
// The services are found through MEDIABACKUPS_TEST_* environment variables
// (written by testenv/up.sh into $MBTEST_DIR/env; scripts/test.sh sources
// it). When they are missing a test is skipped, except under CI (env CI
// non-empty), where a missing service is a failure: CI must never pass by
// skipping.
//
// Every test gets its own database (mbtest_*), bucket (mbtest-*) and Swift
// containers (mbtest-*), dropped at the end; names that do not mark a test
// resource are refused, so a test can never touch an operator's data. The
// shared wikis are read-only; a test that changes a wiki starts its own
// (FreshWiki, FreshSwiftWiki).
package testsvc

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// SkipOrFail skips the test because something it needs is missing, except
// under CI (env CI non-empty), where a missing service or tool is a
// failure: CI must never pass by skipping.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI must not skip: scripts/test.sh sets everything up)", args...)
	}
	t.Skipf(format, args...)
}

// Need returns the value of the environment variable name, skipping the
// test (failing it under CI) when it is unset.
func Need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		SkipOrFail(t, "%s is not set: run scripts/test.sh, or source $MBTEST_DIR/env after testenv/up.sh", name)
	}
	return v
}

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Database creates a throwaway database on the test MariaDB server and
// returns a DSN for it; the database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(Need(t, "MEDIABACKUPS_TEST_MARIADB_DSN"))
	if err != nil {
		t.Fatalf("MEDIABACKUPS_TEST_MARIADB_DSN: %v", err)
	}
	name := RandomName("mbtest_")
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if !strings.HasPrefix(name, "mbtest_") {
			panic("refusing to drop " + name)
		}
		if os.Getenv("MEDIABACKUPS_TEST_KEEP") != "" {
			t.Logf("keeping test database %s", name)
			return
		}
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name)
			db.Close()
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MinIO describes the test MinIO servers.
type MinIO struct {
	Endpoints []string
	AccessKey string
	SecretKey string
	Bin       string // the minio binary, for tests that start their own server
}

// MinIOServers returns the test MinIO servers.
func MinIOServers(t testing.TB) MinIO {
	t.Helper()
	return MinIO{
		Endpoints: strings.Split(Need(t, "MEDIABACKUPS_TEST_MINIO_ENDPOINTS"), ","),
		AccessKey: Need(t, "MEDIABACKUPS_TEST_MINIO_ACCESS_KEY"),
		SecretKey: Need(t, "MEDIABACKUPS_TEST_MINIO_SECRET_KEY"),
		Bin:       os.Getenv("MEDIABACKUPS_TEST_MINIO_BIN"),
	}
}

// Bucket returns a fresh test bucket name (mbtest-...). Whoever creates it
// removes it.
func Bucket() string { return RandomName("mbtest-") }

// Wiki describes one of the test wikis.
type Wiki struct {
	API           string
	Dir           string // TESTWIKI_DIR of the instance (populate-summary.json is there)
	AdminUser     string
	AdminPassword string
	BotUser       string
	BotPassword   string
}

// PublicWiki returns the public test wiki.
func PublicWiki(t testing.TB) Wiki { return wiki(t, "PUBLIC") }

// PrivateWiki returns the private test wiki (login needed to read).
func PrivateWiki(t testing.TB) Wiki { return wiki(t, "PRIVATE") }

func wiki(t testing.TB, kind string) Wiki {
	t.Helper()
	return Wiki{
		API:           Need(t, fmt.Sprintf("MEDIABACKUPS_TEST_WIKI_%s_API", kind)),
		Dir:           Need(t, fmt.Sprintf("MEDIABACKUPS_TEST_WIKI_%s_DIR", kind)),
		AdminUser:     Need(t, "MEDIABACKUPS_TEST_WIKI_ADMIN_USER"),
		AdminPassword: Need(t, "MEDIABACKUPS_TEST_WIKI_ADMIN_PASSWORD"),
		BotUser:       Need(t, "MEDIABACKUPS_TEST_WIKI_BOT_USER"),
		BotPassword:   Need(t, "MEDIABACKUPS_TEST_WIKI_BOT_PASSWORD"),
	}
}

// BuildArgs returns the arguments of `go build` for a binary under test:
// with -race when MEDIABACKUPS_TEST_RACE is set, so that the end-to-end
// tests can run the real binaries under the race detector.
func BuildArgs(out, pkg string) []string {
	args := []string{"build", "-o", out}
	if os.Getenv("MEDIABACKUPS_TEST_RACE") != "" {
		args = append(args, "-race")
	}
	return append(args, pkg)
}
