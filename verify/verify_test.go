package verify_test

// Tests of the verify engine against a real MariaDB and real MinIO servers
// (testenv/up.sh). The repair, which needs a real wiki, is tested end to end
// in cmd/mediabackups (verify_e2e_test.go).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
	"github.com/mediabackups/mediabackups/verify"
)

// world is a metadata store and servers with objects recorded in both.
type world struct {
	t       *testing.T
	d       *testsvc.Deployment
	store   *metadata.Store
	servers *storage.Sharded
	wikiID  int64
	wiki    string
	n       int
}

func newWorld(t *testing.T, servers int) *world {
	t.Helper()
	ctx := context.Background()
	d := testsvc.NewDeployment(t, servers)
	s, err := metadata.Open(ctx, d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := storage.NewServers(d.Endpoints, d.Bucket, storage.Credentials{AccessKey: d.MinIO.AccessKey, SecretKey: d.MinIO.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	var backends []storage.Backend
	for _, srv := range list {
		if err := srv.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
		backends = append(backends, srv)
	}
	sh, err := storage.NewSharded(backends)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, d: d, store: s, servers: sh, wiki: "testwiki"}
	if w.wikiID, err = s.EnsureWiki(ctx, w.wiki, "private"); err != nil {
		t.Fatal(err)
	}
	return w
}

// stored is an object the world holds.
type stored struct {
	b     metadata.Backup
	plain []byte
}

// add stores content as a new version's object, encrypted to recipient
// when it is not nil, exactly as a backup would, and records it.
func (w *world) add(content []byte, recipient age.Recipient) stored {
	t := w.t
	t.Helper()
	ctx := context.Background()
	w.n++
	s1, s256 := sha1.Sum(content), sha256.Sum256(content)
	sha1hex, sha256hex := hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])
	v := metadata.File{Title: fmt.Sprintf("File_%d.bin", w.n), Container: "c", Path: fmt.Sprintf("a/ab/File_%d.bin", w.n),
		SourceURL: "http://production.invalid/" + sha1hex, SHA1: sha1hex, Size: int64(len(content)), Status: metadata.Public,
		UploadDate: time.Date(2025, 1, 1, 0, 0, w.n, 0, time.UTC)}
	if _, err := w.store.SyncVersions(ctx, w.wikiID, []metadata.File{v}, "test"); err != nil {
		t.Fatal(err)
	}
	files, err := w.store.Claim(ctx, w.wikiID, "test", 1, time.Minute)
	if err != nil || len(files) != 1 {
		t.Fatalf("claim: %v %v", files, err)
	}
	key, err := storage.ObjectKey(w.wiki, sha256hex, recipient != nil)
	if err != nil {
		t.Fatal(err)
	}
	body := content
	if recipient != nil {
		var buf bytes.Buffer
		enc, err := encryption.Encrypt(&buf, recipient)
		if err != nil {
			t.Fatal(err)
		}
		enc.Write(content)
		enc.Close()
		body = buf.Bytes()
	}
	srv, err := w.servers.For(sha256hex)
	if err != nil {
		t.Fatal(err)
	}
	n, err := srv.Put(ctx, key, bytes.NewReader(body), int64(len(body)), nil)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := w.store.EnsureLocation(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	b := &metadata.Backup{SHA256: sha256hex, SHA1: sha1hex, Size: int64(len(content)), LocationID: loc, Location: srv.Endpoint(),
		Bucket: w.d.Bucket, ObjectKey: key, Encrypted: recipient != nil, StoredSize: n}
	if _, err := w.store.Record(ctx, "test", []metadata.Result{{FileID: files[0].ID, SHA1: sha1hex, SHA256: sha256hex, Size: b.Size, Backup: b}}); err != nil {
		t.Fatal(err)
	}
	got, err := w.store.FindBackup(ctx, w.wikiID, sha256hex)
	if err != nil {
		t.Fatal(err)
	}
	return stored{b: *got, plain: content}
}

// overwrite replaces an object's bytes straight through the S3 API.
func (w *world) overwrite(s stored, data []byte) {
	w.t.Helper()
	_, err := w.d.MinIOClient(s.b.Location).PutObject(context.Background(), w.d.Bucket, s.b.ObjectKey, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) remove(s stored) {
	w.t.Helper()
	if err := w.d.MinIOClient(s.b.Location).RemoveObject(context.Background(), w.d.Bucket, s.b.ObjectKey, minio.RemoveObjectOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) opts(ids ...age.Identity) verify.Options {
	return verify.Options{
		WikiID: w.wikiID, Wiki: w.wiki, Identities: ids, Parallel: 3,
		Locate: func(ep string) (verify.Server, bool) { return w.servers.ByEndpoint(ep) },
	}
}

// problems runs verify and returns what it found per object key.
func (w *world) problems(o verify.Options) (map[string]verify.Problem, verify.Report) {
	w.t.Helper()
	var mu sync.Mutex
	out := map[string]verify.Problem{}
	o.OnProblem = func(p verify.Problem) {
		mu.Lock()
		defer mu.Unlock()
		out[p.Object.ObjectKey] = p
	}
	rep, err := verify.Run(context.Background(), w.store, o)
	if err != nil {
		w.t.Fatal(err)
	}
	return out, rep
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRunFindsEachKindOfDamage(t *testing.T) {
	w := newWorld(t, 3)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	rcp := id.Recipient()
	tests := []struct {
		name      string
		encrypted bool
		size      int
		spoil     func(s stored) // nil: left intact
		want      metadata.VerifyResult
		detail    string
	}{
		{"intact", false, 1000, nil, metadata.VerifyOK, ""},
		{"intact encrypted", true, 200 << 10, nil, metadata.VerifyOK, ""},
		{"removed", false, 1000, func(s stored) { w.remove(s) }, metadata.VerifyMissing, "has no object"},
		{"same size, one byte flipped", false, 1000, func(s stored) {
			b := bytes.Clone(s.plain)
			b[500] ^= 1
			w.overwrite(s, b)
		}, metadata.VerifyDamaged, "sha256"},
		{"truncated", false, 1000, func(s stored) { w.overwrite(s, s.plain[:999]) }, metadata.VerifyDamaged, "999 bytes"},
		{"encrypted, header garbage", true, 1000, func(s stored) {
			w.overwrite(s, randomBytes(int(s.b.StoredSize)))
		}, metadata.VerifyDamaged, "age header"},
		{"encrypted to another key", true, 1000, func(s stored) {
			var buf bytes.Buffer
			enc, _ := encryption.Encrypt(&buf, other.Recipient())
			enc.Write(s.plain)
			enc.Close()
			w.overwrite(s, buf.Bytes())
		}, metadata.VerifyDamaged, "another key"},
		{"encrypted, second chunk flipped", true, 100 << 10, func(s stored) {
			b := w.d.Get(s.b.Location, s.b.ObjectKey)
			b[len(b)-100] ^= 1
			w.overwrite(s, b)
		}, metadata.VerifyDamaged, "decrypting it failed after 65536 bytes"},
		{"encrypted, another plaintext of the same size", true, 1000, func(s stored) {
			var buf bytes.Buffer
			enc, _ := encryption.Encrypt(&buf, rcp)
			enc.Write(randomBytes(1000))
			enc.Close()
			w.overwrite(s, buf.Bytes())
		}, metadata.VerifyDamaged, "sha256"},
	}
	objs := map[string]stored{}
	for _, tt := range tests {
		var r age.Recipient
		if tt.encrypted {
			r = rcp
		}
		s := w.add(randomBytes(tt.size), r)
		objs[tt.name] = s
		if tt.spoil != nil {
			tt.spoil(s)
		}
	}
	found, rep := w.problems(w.opts(id))
	if rep.Objects != len(tests) || rep.Bytes == 0 {
		t.Errorf("report %+v: want %d objects and the bytes read", rep.Stats, len(tests))
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := objs[tt.name]
			p, bad := found[s.b.ObjectKey]
			got := metadata.VerifyOK
			if bad {
				got = p.Result
			}
			if got != tt.want || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("found %s (%q), want %s (%q)", got, p.Detail, tt.want, tt.detail)
			}
			if bad && (len(p.Versions) != 1 || p.Versions[0].SHA1 != s.b.SHA1) {
				t.Errorf("versions = %+v, want the one version", p.Versions)
			}
			// Recorded, with the time.
			b, err := w.store.FindBackup(ctx, w.wikiID, s.b.SHA256)
			if err != nil || b.VerifyResult != tt.want || time.Since(b.VerifiedAt) > time.Minute || !strings.Contains(b.VerifyDetail, tt.detail) {
				t.Errorf("recorded %+v, %v", b, err)
			}
		})
	}
	if rep.OK != 2 || rep.Missing != 1 || rep.Damaged != 6 || rep.Problems() != 7 {
		t.Errorf("stats = %+v", rep.Stats)
	}
}

func TestRunCannotCheckIsNoVerdict(t *testing.T) {
	w := newWorld(t, 2)
	id, _ := age.GenerateX25519Identity()
	plain := w.add(randomBytes(100), nil)
	enc := w.add(randomBytes(100), id.Recipient())
	// No identity: the encrypted one cannot be checked.
	found, rep := w.problems(w.opts())
	if rep.OK != 1 || rep.Unchecked != 1 || rep.Problems() != 1 {
		t.Fatalf("stats = %+v, want 1 ok, 1 unchecked", rep.Stats)
	}
	if p := found[enc.b.ObjectKey]; p.Result != verify.Unchecked || !strings.Contains(p.Detail, "no identity") {
		t.Errorf("encrypted, no identity: %+v", p)
	}
	// Servers that are not configured: nothing on them can be checked.
	o := w.opts(id)
	o.Locate = func(string) (verify.Server, bool) { return nil, false }
	found, rep = w.problems(o)
	if rep.Unchecked != 2 {
		t.Fatalf("stats = %+v, want 2 unchecked", rep.Stats)
	}
	for _, s := range []stored{plain, enc} {
		if p := found[s.b.ObjectKey]; p.Result != verify.Unchecked || !strings.Contains(p.Detail, "not in storage.endpoints") {
			t.Errorf("server not configured: %+v", p)
		}
	}
	// The encrypted one was never checked, so nothing is recorded and it
	// stays first in line; the other keeps its last real check.
	b, err := w.store.FindBackup(context.Background(), w.wikiID, enc.b.SHA256)
	if err != nil || !b.VerifiedAt.IsZero() || b.VerifyResult != "" {
		t.Errorf("%s: recorded %+v, %v; want nothing", enc.b.ObjectKey, b, err)
	}
	if b, err := w.store.FindBackup(context.Background(), w.wikiID, plain.b.SHA256); err != nil || b.VerifyResult != metadata.VerifyOK {
		t.Errorf("%s: recorded %+v, %v; want its first check, ok", plain.b.ObjectKey, b, err)
	}
	if _, rep := w.problems(w.opts(id)); rep.OK != 2 {
		t.Errorf("with the servers and identity back: %+v", rep.Stats)
	}
}

func TestRunReportsVersionsWithoutObject(t *testing.T) {
	w := newWorld(t, 1)
	s := w.add(randomBytes(10), nil)
	if _, err := w.d.DB.Exec(`UPDATE files SET backup_id = NULL WHERE sha1 = UNHEX(?)`, s.b.SHA1); err != nil {
		t.Fatal(err)
	}
	_, rep := w.problems(w.opts())
	if len(rep.VersionsWithoutObject) != 1 || rep.VersionsWithoutObject[0].SHA1 != s.b.SHA1 || rep.Problems() != 1 {
		t.Errorf("report = %+v", rep)
	}
}

// TestRunIsRateLimited reads 2 MiB at 1 MB/s, which must take about two
// seconds, and the same without a limit, which must not.
func TestRunIsRateLimited(t *testing.T) {
	w := newWorld(t, 2)
	for range 8 {
		w.add(randomBytes(256<<10), nil)
	}
	o := w.opts()
	o.Limiter = verify.NewLimiter(1e6)
	start := time.Now()
	_, rep := w.problems(o)
	limited := time.Since(start)
	if rep.OK != 8 || rep.Bytes != 8*256<<10 {
		t.Fatalf("stats = %+v", rep.Stats)
	}
	// 2 097 152 bytes at 10^6 per second, less the first burst (0.1 s).
	if limited < 1900*time.Millisecond || limited > 8*time.Second {
		t.Errorf("2 MiB at 1 MB/s took %v, want about 2 s", limited)
	}
	// Everything was just checked: this run has nothing to do, so reset.
	if _, err := w.d.DB.Exec(`UPDATE backups SET verified_at = NULL`); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, rep = w.problems(w.opts())
	if free := time.Since(start); rep.OK != 8 || free > limited/2 {
		t.Errorf("without a limit: %+v in %v (limited: %v)", rep.Stats, free, limited)
	}
}

// TestRunResumesAfterInterruption cancels a run part-way: what it checked
// is recorded, and the next run starts with the rest.
func TestRunResumesAfterInterruption(t *testing.T) {
	w := newWorld(t, 2)
	const n = 40
	for range n {
		w.add(randomBytes(64<<10), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := w.opts()
	o.Parallel = 2
	o.Limiter = verify.NewLimiter(2e6) // about 30 objects a second
	var seen sync.Mutex
	count := 0
	o.Progress = progressFunc(func() {
		seen.Lock()
		defer seen.Unlock()
		if count++; count == 10 {
			cancel()
		}
	})
	rep, err := verify.Run(ctx, w.store, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	var recorded int
	if err := w.d.DB.QueryRow(`SELECT COUNT(*) FROM backups WHERE verified_at IS NOT NULL`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded < 10 || recorded != rep.OK {
		t.Fatalf("interrupted after 10: %d recorded, %d reported ok", recorded, rep.OK)
	}
	// A sample of the size of what is left checks exactly what is left:
	// never-checked objects come first.
	o = w.opts()
	o.Sample = float64(n-recorded)/n - 1e-9
	_, rest := w.problems(o)
	var never int
	if err := w.d.DB.QueryRow(`SELECT COUNT(*) FROM backups WHERE verified_at IS NULL`).Scan(&never); err != nil {
		t.Fatal(err)
	}
	if rest.OK != n-recorded || never != 0 {
		t.Errorf("the next run checked %d, want the %d left; %d never checked", rest.OK, n-recorded, never)
	}
}

type progressFunc func()

func (f progressFunc) Checked(metadata.Backup, metadata.VerifyResult, int64) { f() }

// TestOrphans walks listings across several pages of recorded keys, with
// orphans before, among and after them, on a server whose listing order
// differs from plain byte order for "a-b/" and "a/" if MinIO's does, and on
// a server no object was ever recorded on.
func TestOrphans(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	for range 1100 {
		w.add(randomBytes(8), nil)
	}
	first, _ := w.servers.ByEndpoint(w.d.Endpoints[0])
	second, _ := w.servers.ByEndpoint(w.d.Endpoints[1])
	put := func(srv storage.Backend, key string) {
		if _, err := srv.Put(ctx, key, strings.NewReader("x"), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, k := range []string{"a-b/1", "a/1", "testwiki/000/0", "testwiki/5/x", "testwiki/zzz", "zzz"} {
		put(first, k)
		want[w.d.Endpoints[0]+" "+k] = true
	}
	// A server with no location row yet: everything on it is an orphan.
	third := testsvc.MinIOServers(t).Endpoints[2]
	srv3, err := storage.NewServer(third, w.d.Bucket, storage.Credentials{AccessKey: w.d.MinIO.AccessKey, SecretKey: w.d.MinIO.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv3.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	put(srv3, "testwiki/abc/def")
	want[third+" testwiki/abc/def"] = true

	listers := []verify.Lister{first, second, srv3}
	got := map[string]bool{}
	st, err := verify.Orphans(ctx, w.store, listers, "", 0, time.Now().Add(time.Minute), func(o verify.Orphan) error {
		got[o.Endpoint+" "+o.Key] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || st.Orphans != len(want) || st.Listed != 1100+len(want) {
		t.Errorf("orphans %v (%+v), want %v of %d listed", got, st, want, 1100+len(want))
	}
	// A prefix limits both sides; young objects are counted, not judged.
	got = map[string]bool{}
	st, err = verify.Orphans(ctx, w.store, listers, "testwiki/", time.Hour, time.Now(), func(o verify.Orphan) error {
		got[o.Key] = true
		return nil
	})
	if err != nil || len(got) != 0 || st.Recent != 4 || st.Listed != 1104 {
		t.Errorf("prefix testwiki/, min age 1h: %v, %+v, %v; want none judged, 4 recent of 1104", got, st, err)
	}
}

// shuffledLister lists a real server's bucket with each pair of keys
// swapped: MinIO lists in byte order, and no server here does otherwise, so
// this stands in for one that would (the one thing faked in this file).
type shuffledLister struct{ storage.Backend }

func (s shuffledLister) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	var held *storage.ObjectInfo
	err := s.Backend.List(ctx, prefix, func(o storage.ObjectInfo) error {
		if held == nil {
			held = &o
			return nil
		}
		first := *held
		held = nil
		if err := fn(o); err != nil {
			return err
		}
		return fn(first)
	})
	if err == nil && held != nil {
		err = fn(*held)
	}
	return err
}

func TestOrphansWithAListingOutOfOrder(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	for range 30 {
		w.add(randomBytes(8), nil)
	}
	srv, _ := w.servers.ByEndpoint(w.d.Endpoints[0])
	for _, k := range []string{"testwiki/000/a", "testwiki/fff/b", "testwiki/7/c"} {
		if _, err := srv.Put(ctx, k, strings.NewReader("x"), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	st, err := verify.Orphans(ctx, w.store, []verify.Lister{shuffledLister{srv}}, "", 0, time.Now().Add(time.Minute), func(o verify.Orphan) error {
		got = append(got, o.Key)
		return nil
	})
	sort.Strings(got)
	if err != nil || fmt.Sprint(got) != "[testwiki/000/a testwiki/7/c testwiki/fff/b]" || st.Listed != 33 {
		t.Errorf("orphans %v (%+v), %v; want the 3 strays of 33", got, st, err)
	}
}

// TestServerDown stops a MinIO server of the test's own: its object is
// not checked (and nothing is recorded), the others are; its listing fails
// and the other servers are still listed for orphans.
func TestServerDown(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	own := testsvc.StartOwnMinIO(t)
	creds := storage.Credentials{AccessKey: w.d.MinIO.AccessKey, SecretKey: w.d.MinIO.SecretKey}
	ownSrv, err := storage.NewServer(own.Endpoint, w.d.Bucket, creds, storage.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := ownSrv.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	up := w.add(randomBytes(100), nil)
	// An object recorded on the server that goes down.
	data := randomBytes(100)
	s256 := sha256.Sum256(data)
	key, _ := storage.ObjectKey(w.wiki, hex.EncodeToString(s256[:]), false)
	if _, err := ownSrv.Put(ctx, key, bytes.NewReader(data), 100, nil); err != nil {
		t.Fatal(err)
	}
	loc, err := w.store.EnsureLocation(ctx, own.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.DB.Exec(`UPDATE backups SET location_id = ?, object_key = ?, sha256 = UNHEX(?), sha1 = UNHEX(?) WHERE id = ?`,
		loc, key, hex.EncodeToString(s256[:]), fmt.Sprintf("%x", sha1.Sum(data)), w.add(data, nil).b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ownSrv.Put(ctx, "testwiki/000/stray", strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	first, _ := w.servers.ByEndpoint(w.d.Endpoints[0])
	if _, err := first.Put(ctx, "testwiki/000/stray", strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	own.Stop()

	health := storage.NewHealth(ownSrv, storage.HealthOptions{})
	o := w.opts()
	o.Locate = func(ep string) (verify.Server, bool) {
		if ep == own.Endpoint {
			return health, true
		}
		return w.servers.ByEndpoint(ep)
	}
	start := time.Now()
	found, rep := w.problems(o)
	if rep.OK != 1 || rep.Unchecked != 1 || time.Since(start) > 30*time.Second {
		t.Fatalf("with a server down: %+v in %v, want 1 ok, 1 not checked", rep.Stats, time.Since(start))
	}
	if p := found[key]; p.Result != verify.Unchecked || !strings.Contains(p.Detail, own.Endpoint[len("http://"):]) {
		t.Errorf("object on the stopped server: %+v", p)
	}
	if b, err := w.store.FindBackup(ctx, w.wikiID, up.b.SHA256); err != nil || b.VerifyResult != metadata.VerifyOK {
		t.Errorf("object on the live server: %+v, %v", b, err)
	}

	var got []string
	st, err := verify.Orphans(ctx, w.store, []verify.Lister{health, first}, "", 0, time.Now().Add(time.Minute), func(o verify.Orphan) error {
		got = append(got, o.Endpoint+" "+o.Key)
		return nil
	})
	// On the live server: the stray, and the copy add() put there before
	// the object's row was moved to the other server.
	sort.Strings(got)
	want := []string{w.d.Endpoints[0] + " testwiki/000/stray", w.d.Endpoints[0] + " " + key}
	sort.Strings(want)
	if err == nil || st.Unlisted != 1 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("orphans with a server down: %v, %+v, %v; want %v and an error for the other server", got, st, err, want)
	}
}
