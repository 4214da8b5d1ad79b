package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// Environment variables that point the tests at real MinIO servers, e.g. the
// five started by testenv/up.sh.
const (
	envEndpoints = "MEDIABACKUPS_TEST_MINIO_ENDPOINTS" // comma-separated
	envAccessKey = "MEDIABACKUPS_TEST_MINIO_ACCESS_KEY"
	envSecretKey = "MEDIABACKUPS_TEST_MINIO_SECRET_KEY"
)

// testBucketPrefix marks buckets the tests may create and destroy.
const testBucketPrefix = "mbtest-"

// testEndpoints returns the configured MinIO endpoints and credentials, and
// skips (or fails in CI) when fewer than n are configured.
func testEndpoints(t *testing.T, n int) ([]string, Credentials) {
	t.Helper()
	var endpoints []string
	for e := range strings.SplitSeq(os.Getenv(envEndpoints), ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	creds := Credentials{AccessKey: os.Getenv(envAccessKey), SecretKey: os.Getenv(envSecretKey)}
	if len(endpoints) == 0 || creds.AccessKey == "" {
		testsvc.SkipOrFail(t, "no MinIO servers: set %s, %s and %s (testenv/up.sh starts them)", envEndpoints, envAccessKey, envSecretKey)
	}
	if len(endpoints) < n {
		testsvc.SkipOrFail(t, "%s lists %d MinIO servers, this test needs %d", envEndpoints, len(endpoints), n)
	}
	return endpoints[:n], creds
}

// testServers returns Servers for the first n test endpoints, all using one
// new bucket named mbtest-<random>, which is removed with its content when the
// test ends.
func testServers(t *testing.T, n int) []*Server {
	t.Helper()
	endpoints, creds := testEndpoints(t, n)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	bucket := testBucketPrefix + hex.EncodeToString(b[:])
	servers, err := NewServers(endpoints, bucket, creds)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := ensureTestBucket(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := removeTestBucket(ctx, s); err != nil {
				t.Errorf("remove test bucket: %v", err)
			}
		})
	}
	return servers
}

// ensureTestBucket and removeTestBucket refuse buckets whose names do not
// mark them as test buckets, so a misconfigured test run cannot touch real
// backups.
func ensureTestBucket(ctx context.Context, s *Server) error {
	if !strings.HasPrefix(s.Bucket(), testBucketPrefix) {
		return errNotTestBucket(s)
	}
	return s.EnsureBucket(ctx)
}

func removeTestBucket(ctx context.Context, s *Server) error {
	if !strings.HasPrefix(s.Bucket(), testBucketPrefix) {
		return errNotTestBucket(s)
	}
	// ForceDelete also drops objects and incomplete multipart uploads.
	return s.client.RemoveBucketWithOptions(ctx, s.Bucket(), minio.RemoveBucketOptions{ForceDelete: true})
}

func errNotTestBucket(s *Server) error {
	return &notTestBucketError{s.String()}
}

type notTestBucketError struct{ where string }

func (e *notTestBucketError) Error() string {
	return "refusing to use bucket " + e.where + " in a test: its name does not start with " + testBucketPrefix
}

func TestRefuseNonTestBucket(t *testing.T) {
	s, err := NewServer("http://127.0.0.1:1", "mediabackups", Credentials{AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureTestBucket(context.Background(), s); err == nil {
		t.Error("ensureTestBucket accepted bucket mediabackups")
	}
	if err := removeTestBucket(context.Background(), s); err == nil {
		t.Error("removeTestBucket accepted bucket mediabackups")
	}
}
