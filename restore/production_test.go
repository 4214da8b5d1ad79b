package restore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/filesystem"
	"github.com/mediabackups/mediabackups/production/swift"
	"github.com/mediabackups/mediabackups/restore"
	"github.com/mediabackups/mediabackups/storage"
)

// world is one store's test: a real production store, and backups in a
// bucket of their own on a real MinIO server.
type world struct {
	store    production.Store
	layout   mediawiki.Containers
	server   *storage.Server
	identity *age.X25519Identity
	// fresh returns a store of the same kind whose containers do not
	// exist yet, and their layout.
	fresh func(t *testing.T) (production.Store, mediawiki.Containers)
}

func newWorld(t *testing.T, store production.Store, layout mediawiki.Containers) *world {
	t.Helper()
	m := testsvc.MinIOServers(t)
	bucket := testsvc.Bucket()
	srv, err := storage.NewServer(m.Endpoints[0], bucket, storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := minio.New(strings.TrimPrefix(m.Endpoints[0], "http://"), &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
		if err == nil {
			c.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true})
		}
	})
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return &world{store: store, layout: layout, server: srv, identity: id}
}

var titles int

// backup stores content as the backup of a new version (encrypted or
// not) and returns the version, at its current-version place.
func (w *world) backup(t *testing.T, content []byte, encrypted bool) metadata.File {
	t.Helper()
	titles++
	title := fmt.Sprintf("Restore_test_%d_%s.png", titles, rand.Text()[:6])
	s1, s256 := sha1.Sum(content), sha256.Sum256(content)
	container, path := w.layout.Public(title)
	f := metadata.File{ID: int64(titles), Wiki: "testwiki", Title: title, Container: container, Path: path,
		SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s256[:]), Size: int64(len(content)), MIME: "image/png",
		Status: metadata.Public, BackupStatus: metadata.BackedUp}
	stored := content
	if encrypted {
		var buf bytes.Buffer
		wc, err := encryption.Encrypt(&buf, w.identity.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		wc.Write(content)
		wc.Close()
		stored = buf.Bytes()
	}
	key, err := storage.ObjectKey("testwiki", f.SHA256, encrypted)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored)
	if _, err := w.server.Put(context.Background(), key, bytes.NewReader(stored), int64(len(stored)), sum[:]); err != nil {
		t.Fatal(err)
	}
	f.Backup = &metadata.Backup{SHA256: f.SHA256, SHA1: f.SHA1, Size: f.Size, Location: w.server.Endpoint(), ObjectKey: key, Encrypted: encrypted, StoredSize: int64(len(stored))}
	return f
}

// ensure creates f's container with the store itself, as MediaWiki would
// have.
func (w *world) ensure(t *testing.T, f metadata.File) {
	t.Helper()
	if err := w.store.CreateContainer(context.Background(), f.Container); err != nil {
		t.Fatal(err)
	}
}

func (w *world) put(t *testing.T, f metadata.File, content []byte) {
	t.Helper()
	w.ensure(t, f)
	s1, m := sha1.Sum(content), md5.Sum(content)
	err := w.store.Put(context.Background(), f.Container, f.Path, bytes.NewReader(content),
		production.Meta{Size: int64(len(content)), MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s1[:]), ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
}

// holds returns the bytes production holds for f, nil when none.
func (w *world) holds(t *testing.T, f metadata.File) []byte {
	t.Helper()
	rc, _, err := w.store.Open(context.Background(), f.Container, f.Path)
	if errors.Is(err, production.ErrObjectNotFound) || errors.Is(err, production.ErrContainerNotFound) || errors.Is(err, production.ErrInvalidName) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *world) modified(t *testing.T, f metadata.File) time.Time {
	t.Helper()
	o, err := w.store.Stat(context.Background(), f.Container, f.Path)
	if err != nil {
		t.Fatal(err)
	}
	return o.Modified
}

// journal records lines, or refuses them all.
type journal struct {
	lines []string
	err   error
}

func (j *journal) Record(msg string, args ...any) error {
	if j.err != nil {
		return j.err
	}
	j.lines = append(j.lines, fmt.Sprint(append([]any{msg}, args...)...))
	return nil
}

// run restores files into the world's production (p.Stores, when set).
func (w *world) run(p *restore.Production, files ...metadata.File) ([]restore.Restored, []*restore.FileError) {
	if p.Stores == nil {
		p.Stores = map[string]restore.ProductionStore{"testwiki": w.store}
	}
	if p.Log == nil {
		p.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &restore.Restorer{
		Locate: func(ep string) (restore.Getter, bool) {
			if ep != w.server.Endpoint() {
				return nil, false
			}
			return w.server, true
		},
		Identities: []age.Identity{w.identity},
		Target:     p,
		Parallel:   2,
	}
	return r.Restore(context.Background(), files)
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// runProductionTarget checks every rule of restore.Production against one
// real store.
func runProductionTarget(t *testing.T, w *world) {
	one := func(t *testing.T, p *restore.Production, f metadata.File) (restore.Restored, *restore.FileError) {
		t.Helper()
		done, failed := w.run(p, f)
		if len(done)+len(failed) != 1 {
			t.Fatalf("%d done, %d failed for one file", len(done), len(failed))
		}
		if len(failed) == 1 {
			return restore.Restored{}, failed[0]
		}
		return done[0], nil
	}
	t.Run("a write cut off on its way is sent again", func(t *testing.T) {
		// A proxy that closes the connection mid-body cannot be made on
		// demand: cutStore wraps the real store and cuts the first write
		// after some bytes, as a broken pipe does.
		content := random(300 << 10)
		f := w.backup(t, content, false)
		w.ensure(t, f)
		cut := &cutStore{ProductionStore: w.store, cuts: 1}
		p := &restore.Production{MemoryLimit: 64 << 10, Stores: map[string]restore.ProductionStore{"testwiki": cut}}
		res, fe := one(t, p, f)
		if fe != nil || res.Action != restore.Written || !bytes.Equal(w.holds(t, f), content) || cut.calls != 2 {
			t.Fatalf("restore = %+v, %v after %d writes; want written on the second", res, fe, cut.calls)
		}
		// A write that landed although its answer was lost is this run's
		// write: the second attempt finds it there, and it counts as
		// written (not as skipped), once read back.
		h := w.backup(t, random(3000), false)
		w.ensure(t, h)
		lost := &cutStore{ProductionStore: w.store, cuts: 1, landed: true}
		p = &restore.Production{Stores: map[string]restore.ProductionStore{"testwiki": lost}}
		// (At least two: on a loaded machine Swift can time a later attempt
		// out too, which is retried the same way.)
		if res, fe := one(t, p, h); fe != nil || res.Action != restore.Written || lost.calls < 2 {
			t.Fatalf("restore = %+v, %v after %d writes; want written, found there after the first", res, fe, lost.calls)
		}
		// One that keeps failing fails the file, after writeAttempts tries.
		g := w.backup(t, random(3000), false)
		w.ensure(t, g)
		always := &cutStore{ProductionStore: w.store, cuts: 100}
		p = &restore.Production{Stores: map[string]restore.ProductionStore{"testwiki": always}}
		if _, fe := one(t, p, g); fe == nil || fe.Step != restore.StepPut || always.calls != 3 || w.holds(t, g) != nil {
			t.Fatalf("restore = %v after %d writes; want a put failure after 3, and nothing written", fe, always.calls)
		}
	})
	t.Run("missing: written with MediaWiki's metadata, and read back", func(t *testing.T) {
		content := random(3000)
		f := w.backup(t, content, false)
		w.ensure(t, f)
		j := &journal{}
		res, fe := one(t, &restore.Production{Journal: j}, f)
		if fe != nil || res.Action != restore.Written || res.Name != f.Container+"/"+f.Path {
			t.Fatalf("restore = %+v, %v", res, fe)
		}
		if got := w.holds(t, f); !bytes.Equal(got, content) {
			t.Fatalf("production holds %d bytes, want the %d restored", len(got), len(content))
		}
		if len(j.lines) != 1 || !strings.HasPrefix(j.lines[0], "writing into production") {
			t.Errorf("journal: %q", j.lines)
		}
		o, err := w.store.Stat(context.Background(), f.Container, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if o.MD5 != "" { // Swift: the headers MediaWiki reads
			b36, _ := mediawiki.SHA1HexToBase36(f.SHA1)
			if o.ContentType != "image/png" || o.SHA1Base36 != b36 || len(o.Metadata) != 1 {
				t.Errorf("object metadata: %+v", o)
			}
		}
	})
	t.Run("correct: skipped, not written", func(t *testing.T) {
		content := random(2000)
		f := w.backup(t, content, false)
		w.put(t, f, content)
		before := w.modified(t, f)
		time.Sleep(1100 * time.Millisecond) // a write would change the time
		j := &journal{}
		res, fe := one(t, &restore.Production{Journal: j, ReplaceDamaged: true}, f)
		// The write is attempted (where no object is) and refused.
		if fe != nil || res.Action != restore.Skipped || len(j.lines) != 1 || !strings.Contains(j.lines[0], "no object is there") {
			t.Fatalf("restore = %+v, %v, journal %q", res, fe, j.lines)
		}
		if after := w.modified(t, f); !after.Equal(before) {
			t.Errorf("the object was written again: modified %v, was %v", after, before)
		}
	})
	t.Run("damaged: kept without ReplaceDamaged, replaced with it", func(t *testing.T) {
		content := random(2000)
		f := w.backup(t, content, false)
		bad := bytes.Clone(content)
		bad[1000] ^= 1 // same size, other bytes
		w.put(t, f, bad)
		res, fe := one(t, &restore.Production{}, f)
		if fe != nil || res.Action != restore.KeptDamaged || !bytes.Equal(w.holds(t, f), bad) {
			t.Fatalf("without ReplaceDamaged: %+v, %v", res, fe)
		}
		res, fe = one(t, &restore.Production{ReplaceDamaged: true, DryRun: true}, f)
		if fe != nil || res.Action != restore.WouldReplace || !bytes.Equal(w.holds(t, f), bad) {
			t.Fatalf("dry run: %+v, %v", res, fe)
		}
		res, fe = one(t, &restore.Production{ReplaceDamaged: true}, f)
		if fe != nil || res.Action != restore.Replaced || !bytes.Equal(w.holds(t, f), content) {
			t.Fatalf("with ReplaceDamaged: %+v, %v", res, fe)
		}
	})
	t.Run("dry run writes nothing", func(t *testing.T) {
		f := w.backup(t, random(100), false)
		w.ensure(t, f)
		j := &journal{}
		res, fe := one(t, &restore.Production{DryRun: true, Journal: j}, f)
		if fe != nil || res.Action != restore.WouldWrite || w.holds(t, f) != nil || len(j.lines) != 0 {
			t.Fatalf("dry run: %+v, %v, journal %q", res, fe, j.lines)
		}
	})
	t.Run("refused versions", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			change func(*metadata.File)
			step   string
			want   string
		}{
			{"hard-deleted", func(f *metadata.File) { f.Status = metadata.HardDeleted }, restore.StepStatus, "erased from production on purpose"},
			{"unknown status", func(f *metadata.File) { f.Status = "odd" }, restore.StepStatus, "only public, archived and deleted"},
			{"a path outside its container", func(f *metadata.File) { f.Path = "../" + f.Path }, restore.StepPlace, "invalid name"},
			{"another wiki's container", func(f *metadata.File) { f.Container = "other" }, restore.StepPlace, "invalid name"},
			{"not the version's bytes", func(f *metadata.File) { f.SHA1 = strings.Repeat("0", 40) }, restore.StepVerify, "does not hold this version's bytes"},
			{"a backup whose bytes changed", func(f *metadata.File) { f.Backup.SHA256 = strings.Repeat("1", 64) }, restore.StepVerify, "hash mismatch"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := w.backup(t, random(500), false)
				w.ensure(t, f)
				tc.change(&f)
				_, fe := one(t, &restore.Production{}, f)
				if fe == nil || fe.Step != tc.step || !strings.Contains(fe.Error(), tc.want) {
					t.Fatalf("error = %v, want step %s with %q", fe, tc.step, tc.want)
				}
				if w.holds(t, f) != nil {
					t.Error("something was written")
				}
			})
		}
	})
	t.Run("the journal refuses: nothing written", func(t *testing.T) {
		f := w.backup(t, random(100), false)
		w.ensure(t, f)
		_, fe := one(t, &restore.Production{Journal: &journal{err: errors.New("disk full")}}, f)
		if fe == nil || fe.Step != restore.StepJournal || w.holds(t, f) != nil {
			t.Fatalf("error = %v", fe)
		}
	})
	t.Run("large and encrypted files are read twice, and checked both times", func(t *testing.T) {
		content := random(300 << 10)
		f := w.backup(t, content, true)
		w.ensure(t, f)
		res, fe := one(t, &restore.Production{MemoryLimit: 64 << 10}, f)
		if fe != nil || res.Action != restore.Written || !bytes.Equal(w.holds(t, f), content) {
			t.Fatalf("restore = %+v, %v", res, fe)
		}
		// The backup changes between the two reads: the write is refused.
		g := w.backup(t, random(300<<10), false)
		w.ensure(t, g)
		other := random(300 << 10)
		p := &restore.Production{MemoryLimit: 64 << 10, Journal: &swapJournal{w: w, f: g, content: other}}
		if _, fe := one(t, p, g); fe == nil || !errors.Is(fe, production.ErrMismatch) || w.holds(t, g) != nil {
			t.Fatalf("a backup that changed between the reads: %v", fe)
		}
	})
	t.Run("a missing container", func(t *testing.T) {
		st, c := w.fresh(t)
		stores := map[string]restore.ProductionStore{"testwiki": st}
		content := random(100)
		f := w.backup(t, content, false)
		f.Container, f.Path = c.Public(f.Title)
		_, fe := one(t, &restore.Production{Stores: stores}, f)
		if fe == nil || fe.Step != restore.StepContainer || !errors.Is(fe, production.ErrContainerNotFound) {
			t.Fatalf("error = %v, want a missing container", fe)
		}
		res, fe := one(t, &restore.Production{Stores: stores, CreateContainers: true, DryRun: true}, f)
		if fe != nil || res.Action != restore.WouldWrite {
			t.Fatalf("dry run with CreateContainers: %+v, %v", res, fe)
		}
		if _, err := st.Stat(context.Background(), f.Container, f.Path); !errors.Is(err, production.ErrContainerNotFound) {
			t.Fatalf("the dry run made the container: %v", err)
		}
		res, fe = one(t, &restore.Production{Stores: stores, CreateContainers: true}, f)
		if fe != nil || res.Action != restore.Written {
			t.Fatalf("with CreateContainers: %+v, %v", res, fe)
		}
		_, sums, err := production.Checksum(context.Background(), st, f.Container, f.Path)
		if err != nil || sums.SHA1 != f.SHA1 {
			t.Fatalf("production holds %+v, %v; want sha1 %s", sums, err, f.SHA1)
		}
	})
	t.Run("interrupted: no partial object", func(t *testing.T) {
		f := w.backup(t, random(4<<20), false)
		w.ensure(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		p := &restore.Production{MemoryLimit: 1 << 10, Journal: cancelJournal{cancel}, Stores: map[string]restore.ProductionStore{"testwiki": w.store}}
		r := &restore.Restorer{Locate: func(string) (restore.Getter, bool) { return slowGetter{w.server}, true }, Target: p}
		_, failed := r.Restore(ctx, []metadata.File{f})
		if len(failed) != 1 || !errors.Is(failed[0], context.Canceled) {
			t.Fatalf("failed = %v, want the cancellation", failed)
		}
		if got := w.holds(t, f); got != nil {
			t.Fatalf("an interrupted write left %d bytes", len(got))
		}
	})
}

// swapJournal replaces the backup of f with other bytes when the write is
// recorded, between the restore's two reads of a large file.
type swapJournal struct {
	w       *world
	f       metadata.File
	content []byte
}

func (j *swapJournal) Record(string, ...any) error {
	sum := sha256.Sum256(j.content)
	_, err := j.w.server.Put(context.Background(), j.f.Backup.ObjectKey, bytes.NewReader(j.content), int64(len(j.content)), sum[:])
	return err
}

// cancelJournal cancels the restore as the write starts.
type cancelJournal struct{ cancel func() }

func (c cancelJournal) Record(string, ...any) error {
	go func() { time.Sleep(50 * time.Millisecond); c.cancel() }()
	return nil
}

// slowGetter hands out the backup 64 KiB every 10 ms, so that a write is
// under way when it is cancelled.
type slowGetter struct{ g restore.Getter }

func (s slowGetter) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	rc, n, err := s.g.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	return slowReader{rc}, n, nil
}

type slowReader struct{ io.ReadCloser }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(10 * time.Millisecond)
	return s.ReadCloser.Read(p[:min(len(p), 64<<10)])
}

func TestProductionTargetSwift(t *testing.T) {
	t.Parallel()
	sw := testsvc.SwiftService(t)
	project, lang := sw.TestWiki(t)
	layout := mediawiki.Containers{Project: project, Lang: lang}
	st, err := swift.New(context.Background(), swift.Config{AuthURL: sw.AuthURL, User: sw.User, Key: config.NewSecret(sw.Key),
		ACL: swift.ACL{PublicRead: ".r:*,test:tester", PublicWrite: "test:tester", PrivateRead: "test:tester", PrivateWrite: "test:tester"}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, st, layout)
	w.fresh = func(t *testing.T) (production.Store, mediawiki.Containers) {
		project, lang := sw.TestWiki(t)
		return st, mediawiki.Containers{Project: project, Lang: lang}
	}
	runProductionTarget(t, w)
}

func TestProductionTargetFilesystem(t *testing.T) {
	t.Parallel()
	layout := mediawiki.Containers{Project: "wikipedia", Lang: "test"}
	cfg, err := filesystem.WikiConfig(layout, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := filesystem.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, st, layout)
	w.fresh = func(t *testing.T) (production.Store, mediawiki.Containers) {
		cfg, err := filesystem.WikiConfig(layout, t.TempDir()+"/images", "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := filesystem.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st, layout
	}
	runProductionTarget(t, w)
}

// cutStore is a real store whose first cuts PutNew calls read part of the
// body and then fail, as a write whose connection broke does; with
// landed, they write the object whole and then fail, as a write whose
// answer was lost does.
type cutStore struct {
	restore.ProductionStore
	mu     sync.Mutex
	cuts   int
	landed bool
	calls  int
}

func (c *cutStore) PutNew(ctx context.Context, container, name string, r io.Reader, m production.Meta) error {
	c.mu.Lock()
	c.calls++
	cut := c.calls <= c.cuts
	c.mu.Unlock()
	if cut {
		if c.landed {
			if err := c.ProductionStore.PutNew(ctx, container, name, r, m); err != nil {
				return err
			}
		} else {
			io.CopyN(io.Discard, r, 1000)
		}
		return fmt.Errorf("write %s/%s: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe", container, name)
	}
	return c.ProductionStore.PutNew(ctx, container, name, r, m)
}
