package relocate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/relocate"
	"github.com/mediabackups/mediabackups/storage"
)

type world struct {
	t        *testing.T
	ctx      context.Context
	store    *metadata.Store
	a, b     *storage.Server
	locA     int64
	locB     int64
	wiki     int64
	mover    *relocate.Mover
	contents map[int64][]byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	m := testsvc.MinIOServers(t)
	if len(m.Endpoints) < 2 {
		testsvc.SkipOrFail(t, "two MinIO servers needed")
	}
	s, err := metadata.Open(ctx, testsvc.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, store: s, contents: map[int64][]byte{}}
	bucket := testsvc.Bucket()
	for i, p := range []**storage.Server{&w.a, &w.b} {
		srv, err := storage.NewServer(m.Endpoints[i], bucket, storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			srv.List(context.Background(), "", func(o storage.ObjectInfo) error { return srv.Remove(context.Background(), o.Key) })
		})
		*p = srv
	}
	w.locA, _ = s.EnsureLocation(ctx, w.a.Endpoint())
	w.locB, _ = s.EnsureLocation(ctx, w.b.Endpoint())
	w.wiki, _ = s.EnsureWiki(ctx, "testwiki", "public")
	w.mover = &relocate.Mover{Journal: s, Host: "test", Locate: func(ep string) (storage.Backend, bool) {
		switch ep {
		case w.a.Endpoint():
			return w.a, true
		case w.b.Endpoint():
			return w.b, true
		}
		return nil, false
	}}
	return w
}

// object stores a new object on A and records it.
func (w *world) object() metadata.StoredObject {
	w.t.Helper()
	content := make([]byte, 500)
	rand.Read(content)
	sum := sha256.Sum256(content)
	key, _ := storage.ObjectKey("testwiki", hex.EncodeToString(sum[:]), false)
	if _, err := w.a.Put(w.ctx, key, bytes.NewReader(content), 500, sum[:]); err != nil {
		w.t.Fatal(err)
	}
	res, err := w.store.DB().ExecContext(w.ctx, `INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date)
		VALUES (?, ?, ?, 500, ?, ?, ?, 0, 500, UTC_TIMESTAMP())`, w.wiki, sum[:], bytes.Repeat([]byte{1}, 20), w.locA, w.a.Bucket(), key)
	if err != nil {
		w.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	o, err := w.store.StoredObjectByID(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	w.contents[id] = content
	return *o
}

func (w *world) toB(o metadata.StoredObject) metadata.Place {
	return metadata.Place{LocationID: w.locB, Endpoint: w.b.Endpoint(), Key: o.ObjectKey}
}

func (w *world) from(o metadata.StoredObject) metadata.Place {
	return metadata.Place{LocationID: o.LocationID, Endpoint: o.Location, Key: o.ObjectKey}
}

// copyTo writes o's content at dst.
func (w *world) copyTo(o metadata.StoredObject) relocate.Write {
	return func(ctx context.Context, dst storage.Backend, key string) (metadata.MovedObject, error) {
		c := w.contents[o.ID]
		n, err := dst.Put(ctx, key, bytes.NewReader(c), int64(len(c)), nil)
		return metadata.MovedObject{StoredSize: n}, err
	}
}

func (w *world) has(srv *storage.Server, key string) bool {
	w.t.Helper()
	_, err := srv.Stat(w.ctx, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		w.t.Fatal(err)
	}
	return err == nil
}

// where returns the server the record points at, "A", "B" or "gone".
func (w *world) where(id int64) string {
	o, err := w.store.StoredObjectByID(w.ctx, id)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return "gone"
	case err != nil:
		w.t.Fatal(err)
	case o.LocationID == w.locA:
		return "A"
	}
	return "B"
}

// TestRecoverEveryKillPoint builds, for each point at which a mover can
// die, the state it leaves, and checks that Recover ends every one of them
// with the object readable where it is recorded and nothing else left.
func TestRecoverEveryKillPoint(t *testing.T) {
	w := newWorld(t)
	type point struct {
		name   string
		obj    metadata.StoredObject
		want   string // where the record points after Recover
		delete bool   // the object was deleted meanwhile
	}
	var points []point
	add := func(name, want string, leave func(o metadata.StoredObject, m metadata.Move)) {
		o := w.object()
		m := metadata.Move{BackupID: o.ID, Reason: metadata.MoveRebalance, From: w.from(o), To: w.toB(o), Host: "test"}
		leave(o, m)
		points = append(points, point{name: name, obj: o, want: want})
	}
	put := func(o metadata.StoredObject) {
		c := w.contents[o.ID]
		if _, err := w.b.Put(w.ctx, o.ObjectKey, bytes.NewReader(c), int64(len(c)), nil); err != nil {
			t.Fatal(err)
		}
	}
	begin := func(m metadata.Move) {
		if err := w.store.BeginMove(w.ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(m metadata.Move) {
		if ok, err := w.store.CommitMove(w.ctx, m, metadata.MovedObject{StoredSize: 500}); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	add("begun, nothing written", "A", func(_ metadata.StoredObject, m metadata.Move) { begin(m) })
	add("begun, copy written", "A", func(o metadata.StoredObject, m metadata.Move) { begin(m); put(o) })
	add("committed, source left", "B", func(o metadata.StoredObject, m metadata.Move) { begin(m); put(o); commit(m) })
	add("committed, source removed", "B", func(o metadata.StoredObject, m metadata.Move) {
		begin(m)
		put(o)
		commit(m)
		w.a.Remove(w.ctx, o.ObjectKey)
	})
	add("deleted meanwhile, copy written", "gone", func(o metadata.StoredObject, m metadata.Move) {
		begin(m)
		put(o)
		w.a.Remove(w.ctx, o.ObjectKey) // what a deletion does: object, then record
		w.store.DB().ExecContext(w.ctx, `DELETE FROM backups WHERE id = ?`, o.ID)
	})
	add("committed, then deleted, source left", "gone", func(o metadata.StoredObject, m metadata.Move) {
		begin(m)
		put(o)
		commit(m)
		w.b.Remove(w.ctx, o.ObjectKey) // a deletion removes the recorded object, then its record
		w.store.DB().ExecContext(w.ctx, `DELETE FROM backups WHERE id = ?`, o.ID)
	})
	for _, p := range points {
		if got := w.where(p.obj.ID); got == "B" && !w.has(w.b, p.obj.ObjectKey) || got == "A" && !w.has(w.a, p.obj.ObjectKey) {
			t.Fatalf("%s: the state left is not readable where recorded (%s)", p.name, got)
		}
	}

	rec, err := w.mover.Recover(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Finished != 2 || rec.Undone != 4 || len(rec.Left) != 0 {
		t.Errorf("Recover = %+v, want 2 finished, 4 undone", rec)
	}
	for _, p := range points {
		got := w.where(p.obj.ID)
		if got != p.want {
			t.Errorf("%s: recorded on %s, want %s", p.name, got, p.want)
		}
		onA, onB := w.has(w.a, p.obj.ObjectKey), w.has(w.b, p.obj.ObjectKey)
		if onA != (got == "A") || onB != (got == "B") {
			t.Errorf("%s (recorded %s): on A %v, on B %v", p.name, got, onA, onB)
		}
	}
	if pending, _ := w.store.PendingMoves(w.ctx); len(pending) != 0 {
		t.Errorf("journal after Recover: %+v", pending)
	}

	// A move left where its server is not configured stays in the journal.
	o := w.object()
	lost := metadata.Place{LocationID: w.locB, Endpoint: "http://gone.example:9000", Key: o.ObjectKey}
	gone, _ := w.store.EnsureLocation(w.ctx, lost.Endpoint)
	lost.LocationID = gone
	begin(metadata.Move{BackupID: o.ID, Reason: metadata.MoveRebalance, From: w.from(o), To: lost, Host: "test"})
	rec, err = w.mover.Recover(w.ctx)
	if err != nil || len(rec.Left) != 1 || !strings.Contains(rec.Left[0], "not in storage.endpoints") {
		t.Errorf("Recover with an unknown server = %+v, %v", rec, err)
	}
	if _, err := w.mover.Move(w.ctx, o, metadata.MoveRebalance, w.toB(o), w.copyTo(o)); !errors.Is(err, metadata.ErrMoveInProgress) {
		t.Errorf("Move of an object with a move in the journal = %v, want ErrMoveInProgress", err)
	}
}

func TestMove(t *testing.T) {
	w := newWorld(t)

	// A move: copy on B, record on B, nothing on A, journal empty.
	o := w.object()
	res, err := w.mover.Move(w.ctx, o, metadata.MoveRebalance, w.toB(o), w.copyTo(o))
	if err != nil || res.SourceLeft != nil || res.Object.StoredSize != 500 {
		t.Fatalf("Move = %+v, %v", res, err)
	}
	if w.where(o.ID) != "B" || w.has(w.a, o.ObjectKey) || !w.has(w.b, o.ObjectKey) {
		t.Errorf("after the move: recorded %s, on A %v, on B %v", w.where(o.ID), w.has(w.a, o.ObjectKey), w.has(w.b, o.ObjectKey))
	}

	// A failed write: the partial copy is removed, nothing changes.
	o = w.object()
	_, err = w.mover.Move(w.ctx, o, metadata.MoveRebalance, w.toB(o), func(ctx context.Context, dst storage.Backend, key string) (metadata.MovedObject, error) {
		dst.Put(ctx, key, strings.NewReader("partial"), 7, nil)
		return metadata.MovedObject{}, fmt.Errorf("the copy does not verify")
	})
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("Move with a failed write = %v", err)
	}
	if w.where(o.ID) != "A" || !w.has(w.a, o.ObjectKey) || w.has(w.b, o.ObjectKey) {
		t.Errorf("after a failed write: recorded %s, on A %v, on B %v", w.where(o.ID), w.has(w.a, o.ObjectKey), w.has(w.b, o.ObjectKey))
	}

	// The object is deleted while it is copied: the copy goes, ErrChanged.
	o = w.object()
	_, err = w.mover.Move(w.ctx, o, metadata.MoveRebalance, w.toB(o), func(ctx context.Context, dst storage.Backend, key string) (metadata.MovedObject, error) {
		m, err := w.copyTo(o)(ctx, dst, key)
		w.a.Remove(ctx, o.ObjectKey)
		w.store.DB().ExecContext(ctx, `DELETE FROM backups WHERE id = ?`, o.ID)
		return m, err
	})
	if !errors.Is(err, relocate.ErrChanged) {
		t.Errorf("Move of an object deleted meanwhile = %v, want ErrChanged", err)
	}
	if w.has(w.b, o.ObjectKey) || w.has(w.a, o.ObjectKey) {
		t.Error("the object deleted during its move left a copy")
	}
	if pending, _ := w.store.PendingMoves(w.ctx); len(pending) != 0 {
		t.Errorf("journal: %+v", pending)
	}
	// Nowhere to go.
	if _, err := w.mover.Move(w.ctx, o, metadata.MoveRebalance, w.from(o), w.copyTo(o)); err == nil {
		t.Error("a move to the object's own place succeeded")
	}
}
