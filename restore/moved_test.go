package restore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/restore"
	"github.com/mediabackups/mediabackups/storage"
)

// TestRestoreOfAMovedObject: an object moved to another server (rebalance)
// after the restore read its record is read from its new place, once the
// old one answers that it has no such object. Real MinIO servers.
func TestRestoreOfAMovedObject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := testsvc.MinIOServers(t)
	if len(m.Endpoints) < 2 {
		testsvc.SkipOrFail(t, "two MinIO servers needed")
	}
	bucket := testsvc.Bucket()
	var servers []*storage.Server
	for _, ep := range m.Endpoints[:2] {
		s, err := storage.NewServer(ep, bucket, storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			s.List(context.Background(), "", func(o storage.ObjectInfo) error { return s.Remove(context.Background(), o.Key) })
		})
		servers = append(servers, s)
	}
	from, to := servers[0], servers[1]
	content := make([]byte, 1000)
	rand.Read(content)
	s256, s1 := sha256.Sum256(content), sha1.Sum(content)
	key, _ := storage.ObjectKey("testwiki", hex.EncodeToString(s256[:]), false)
	// The object now lives on the second server only.
	if _, err := to.Put(ctx, key, bytes.NewReader(content), int64(len(content)), s256[:]); err != nil {
		t.Fatal(err)
	}
	old := &metadata.Backup{ID: 7, SHA256: hex.EncodeToString(s256[:]), SHA1: hex.EncodeToString(s1[:]), Location: from.Endpoint(), ObjectKey: key}
	moved := *old
	moved.Location = to.Endpoint()
	file := metadata.File{ID: 1, Wiki: "testwiki", Title: "Moved.png", Status: metadata.Public, Backup: old}

	for _, tc := range []struct {
		name   string
		reload func(context.Context, int64) (*metadata.Backup, error)
		ok     bool
	}{
		{"reloaded", func(_ context.Context, id int64) (*metadata.Backup, error) {
			if id != old.ID {
				t.Errorf("Reload(%d), want %d", id, old.ID)
			}
			return &moved, nil
		}, true},
		{"no reload", nil, false},
		{"record unchanged", func(context.Context, int64) (*metadata.Backup, error) { return old, nil }, false},
		{"reload fails", func(context.Context, int64) (*metadata.Backup, error) { return nil, errors.New("db down") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			target, err := restore.NewDir(root)
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			r := &restore.Restorer{
				Locate: func(ep string) (restore.Getter, bool) {
					for _, s := range servers {
						if s.Endpoint() == ep {
							return s, true
						}
					}
					return nil, false
				},
				Reload: tc.reload, Target: target, Parallel: 1,
			}
			written, failed := r.Restore(ctx, []metadata.File{file})
			if !tc.ok {
				if len(failed) != 1 || !errors.Is(failed[0].Err, storage.ErrNotFound) {
					t.Fatalf("restore = %v, %v; want a not-found failure", written, failed)
				}
				return
			}
			if len(failed) > 0 || len(written) != 1 {
				t.Fatalf("restore = %v, %v", written, failed)
			}
			got, err := os.ReadFile(filepath.Join(dir, written[0].Name))
			if err != nil || !bytes.Equal(got, content) {
				t.Errorf("restored %d bytes, %v", len(got), err)
			}
		})
	}
}
