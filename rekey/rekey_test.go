package rekey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/rekey"
	"github.com/mediabackups/mediabackups/sharding"
	"github.com/mediabackups/mediabackups/storage"
)

type world struct {
	t     *testing.T
	ctx   context.Context
	store *metadata.Store
	srv   *storage.Server
	wiki  int64
	loc   int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	m := testsvc.MinIOServers(t)
	s, err := metadata.Open(ctx, testsvc.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := storage.NewServer(m.Endpoints[0], testsvc.Bucket(), storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		srv.List(ctx, "", func(o storage.ObjectInfo) error { return srv.Remove(ctx, o.Key) })
	})
	w := &world{t: t, ctx: ctx, store: s, srv: srv}
	if w.wiki, err = s.EnsureWiki(ctx, "privwiki", "private"); err != nil {
		t.Fatal(err)
	}
	if w.loc, err = s.EnsureLocation(ctx, srv.Endpoint()); err != nil {
		t.Fatal(err)
	}
	return w
}

// object encrypts size random bytes to recipients, stores them and
// records them; it returns the plaintext and the object's id.
func (w *world) object(size int, recipients ...age.Recipient) ([]byte, int64) {
	w.t.Helper()
	plain := make([]byte, size)
	rand.Read(plain)
	var ct bytes.Buffer
	enc, err := encryption.Encrypt(&ct, recipients...)
	if err != nil {
		w.t.Fatal(err)
	}
	enc.Write(plain)
	enc.Close()
	sum := sha256.Sum256(plain)
	key, _ := storage.ObjectKey("privwiki", hex.EncodeToString(sum[:]), true)
	if _, err := w.srv.Put(w.ctx, key, bytes.NewReader(ct.Bytes()), int64(ct.Len()), nil); err != nil {
		w.t.Fatal(err)
	}
	res, err := w.store.DB().ExecContext(w.ctx, `INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, UTC_TIMESTAMP())`, w.wiki, sum[:], bytes.Repeat([]byte{1}, 20), size, w.loc, w.srv.Bucket(), key, ct.Len())
	if err != nil {
		w.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return plain, id
}

func (w *world) run(execute bool, ids []age.Identity, recipients []age.Recipient, states ...sharding.State) *rekey.Report {
	w.t.Helper()
	st := sharding.Active
	if len(states) > 0 {
		st = states[0]
	}
	sh, err := storage.NewShardedMembers([]storage.Member{{Backend: w.srv, State: st}})
	if err != nil {
		w.t.Fatal(err)
	}
	rep, err := rekey.Run(w.ctx, w.store, rekey.Options{Servers: sh, Identities: ids, Recipients: recipients, Execute: execute, Host: "test"})
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

func identity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRekeyLargeAndSmall rewrites objects on both paths, whole (up to
// 5 MiB) and composed, and pins what each one uploads: a composed object
// sends exactly 5 MiB, and the server copies the rest.
func TestRekeyLargeAndSmall(t *testing.T) {
	w := newWorld(t)
	oldID, opID, escrow := identity(t), identity(t), identity(t)
	sizes := []int{100, 4 << 20, storage.MinPartSize + 1, 12 << 20}
	plains := map[int64][]byte{}
	var before []metadata.StoredObject
	for _, n := range sizes {
		p, id := w.object(n, oldID.Recipient())
		plains[id] = p
		o, err := w.store.StoredObjectByID(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, *o)
	}
	recipients := []age.Recipient{opID.Recipient(), escrow.Recipient()}

	// On a readonly server nothing is rewritten: it waits.
	if rep := w.run(true, []age.Identity{oldID}, recipients, sharding.ReadOnly); rep.ToRewrite != 0 || rep.Waiting[w.srv.Endpoint()] != len(sizes) {
		t.Errorf("readonly server: %+v", rep)
	}
	// Without an identity that opens the headers, each object fails and
	// stays as it is.
	rep := w.run(true, []age.Identity{identity(t)}, recipients)
	if len(rep.Failed) != len(sizes) || rep.Rewritten != 0 || !strings.Contains(rep.Failed[0].Error, "did not match any of the recipients") {
		t.Fatalf("wrong identity: %+v", rep)
	}
	dry := w.run(false, []age.Identity{oldID}, recipients)
	if !dry.DryRun || dry.ToRewrite != len(sizes) || dry.Rewritten != 0 {
		t.Fatalf("dry run: %+v", dry)
	}

	rep = w.run(true, []age.Identity{oldID}, recipients)
	if rep.Rewritten != len(sizes) || rep.Whole != 2 || rep.Composed != 2 || len(rep.Failed) != 0 {
		t.Fatalf("rekey: %+v", rep)
	}
	// What went up: the two small objects whole, then 5 MiB per large one;
	// the servers copied the rest of the large ones.
	var wantUp, wantCopied int64
	for _, o := range before {
		got, err := w.store.StoredObjectByID(w.ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		// A new object of at most 5 MiB went up whole; a larger one as a
		// 5 MiB part, the rest copied by the server.
		if got.StoredSize <= storage.MinPartSize {
			wantUp += got.StoredSize
		} else {
			wantUp += storage.MinPartSize
			wantCopied += got.StoredSize - storage.MinPartSize
		}
		if want, _ := storage.RekeyedKey(o.ObjectKey); got.ObjectKey != want {
			t.Errorf("object %d: key %s, want %s", o.ID, got.ObjectKey, want)
		}
		if _, err := w.srv.Stat(w.ctx, o.ObjectKey); err == nil {
			t.Errorf("object %d: the old key %s is still there", o.ID, o.ObjectKey)
		}
		rc, _, err := w.srv.Get(w.ctx, got.ObjectKey)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if int64(len(data)) != got.StoredSize {
			t.Errorf("object %d: %d bytes stored, %d recorded", o.ID, len(data), got.StoredSize)
		}
		for name, id := range map[string]*age.X25519Identity{"operator": opID, "escrow": escrow} {
			r, err := encryption.Decrypt(bytes.NewReader(data), id)
			if err != nil {
				t.Fatalf("object %d, %s identity: %v", o.ID, name, err)
			}
			if plain, err := io.ReadAll(r); err != nil || !bytes.Equal(plain, plains[o.ID]) {
				t.Errorf("object %d, %s identity: %d bytes, %v", o.ID, name, len(plain), err)
			}
		}
		if _, err := encryption.Decrypt(bytes.NewReader(data), oldID); err == nil {
			t.Errorf("object %d: the old identity still decrypts it", o.ID)
		}
		if o.StoredSize > storage.MinPartSize {
			ageCLIAgrees(t, data, opID, oldID, plains[o.ID])
		}
	}
	if rep.Bytes.Uploaded != wantUp || rep.Bytes.Copied != wantCopied {
		t.Errorf("uploaded %d bytes and copied %d server-side, want %d and %d", rep.Bytes.Uploaded, rep.Bytes.Copied, wantUp, wantCopied)
	}
	t.Logf("uploaded %d, copied %d, read %d bytes for %d objects of %v bytes", rep.Bytes.Uploaded, rep.Bytes.Copied, rep.Bytes.Read, len(sizes), sizes)
	// Done for these recipients: nothing left, even in another order.
	if again := w.run(true, []age.Identity{opID}, []age.Recipient{escrow.Recipient(), opID.Recipient()}); again.ToRewrite != 0 {
		t.Errorf("second run: %+v", again)
	}
}

// ageCLIAgrees decrypts a composed object with the Debian age CLI: the
// new identity decrypts it, the old one is refused.
func ageCLIAgrees(t *testing.T, data []byte, newID, oldID *age.X25519Identity, plain []byte) {
	t.Helper()
	bin, err := exec.LookPath("age")
	if err != nil {
		testsvc.SkipOrFail(t, "the age CLI is not installed (apt-get install age)")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "object.age")
	os.WriteFile(in, data, 0o600)
	for _, tc := range []struct {
		id *age.X25519Identity
		ok bool
	}{{newID, true}, {oldID, false}} {
		key := filepath.Join(dir, fmt.Sprint("key", tc.ok))
		os.WriteFile(key, []byte(tc.id.String()+"\n"), 0o600)
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "-d", "-i", key, in)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		switch {
		case tc.ok && (err != nil || !bytes.Equal(out, plain)):
			t.Errorf("age -d with the new identity: %v: %s", err, stderr.String())
		case !tc.ok && (err == nil || !strings.Contains(stderr.String(), "no identity matched")):
			t.Errorf("age -d with the old identity: %v: %s", err, stderr.String())
		}
	}
}
