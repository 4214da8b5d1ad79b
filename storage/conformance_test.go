package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/storage"
	"github.com/mediabackups/mediabackups/storage/storagetest"
)

// TestMinIOConformance runs the backend conformance suite against a real
// MinIO server of the test environment, each sub-test in a bucket of its
// own.
func TestMinIOConformance(t *testing.T) {
	m := testsvc.MinIOServers(t)
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, err := storage.NewServer(m.Endpoints[0], testsvc.Bucket(), storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := storage.RemoveTestBucket(ctx, s); err != nil {
				t.Errorf("remove test bucket: %v", err)
			}
		})
		return s
	}, storagetest.Options{AfterEach: func(t *testing.T, b storage.Backend) {
		left, err := storage.IncompleteUploads(t.Context(), b.(*storage.Server))
		if err != nil {
			t.Fatalf("list incomplete uploads: %v", err)
		}
		for _, u := range left {
			t.Errorf("incomplete multipart upload left behind: %s", u)
		}
	}})
}
