package metadata_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// storeObjects records n objects of a new public wiki at loc, with sha256
// prefixes spread over the whole range, and returns them by id order.
func storeObjects(t *testing.T, s *metadata.Store, wikiName string, loc int64, n int) []metadata.StoredObject {
	t.Helper()
	ctx := context.Background()
	wiki, err := s.EnsureWiki(ctx, wikiName, "private")
	if err != nil {
		t.Fatal(err)
	}
	var vs []metadata.File
	for i := range n {
		vs = append(vs, version(fmt.Sprintf("M%d.png", i), 1, sha(1000+i), metadata.Public))
	}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	files, err := s.Claim(ctx, wiki, "w", n, time.Minute)
	if err != nil || len(files) != n {
		t.Fatalf("claim: %d, %v", len(files), err)
	}
	var rs []metadata.Result
	for i, f := range files {
		// sha256 i*(2^256/n): one object per n-th of the range.
		sum := fmt.Sprintf("%02x", i*256/n) + strings.Repeat("ab", 31)
		rs = append(rs, metadata.Result{FileID: f.ID, SHA1: f.SHA1, SHA256: sum, Size: 10, Backup: &metadata.Backup{
			SHA1: f.SHA1, Size: 10, LocationID: loc, Bucket: "mediabackups", ObjectKey: wikiName + "/" + sum[:3] + "/" + sum + ".age",
			Encrypted: true, StoredSize: 200,
		}})
	}
	if _, err := s.Record(ctx, "w", rs); err != nil {
		t.Fatal(err)
	}
	out, err := s.EncryptedObjects(ctx, []byte("12345678"), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []metadata.StoredObject
	for _, o := range out {
		if o.Wiki == wikiName {
			mine = append(mine, o)
		}
	}
	if len(mine) != n {
		t.Fatalf("EncryptedObjects found %d of the %d objects", len(mine), n)
	}
	return mine
}

func TestMovesJournal(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	locA, _ := s.EnsureLocation(ctx, "http://a:1")
	locB, _ := s.EnsureLocation(ctx, "http://b:1")
	objs := storeObjects(t, s, "privwiki", locA, 4)

	place := func(loc int64, ep, key string) metadata.Place {
		return metadata.Place{LocationID: loc, Endpoint: ep, Key: key}
	}
	moveOf := func(o metadata.StoredObject, reason string, to metadata.Place) metadata.Move {
		return metadata.Move{BackupID: o.ID, Reason: reason, From: place(o.LocationID, o.Location, o.ObjectKey), To: to, Host: "test"}
	}
	// 0: committed; 1: begun only; 2: deleted meanwhile; 3: rekeyed.
	m0 := moveOf(objs[0], metadata.MoveRebalance, place(locB, "http://b:1", objs[0].ObjectKey))
	m1 := moveOf(objs[1], metadata.MoveRebalance, place(locB, "http://b:1", objs[1].ObjectKey))
	m2 := moveOf(objs[2], metadata.MoveRebalance, place(locB, "http://b:1", objs[2].ObjectKey))
	m3 := moveOf(objs[3], metadata.MoveRekey, place(locA, "http://a:1", strings.TrimSuffix(objs[3].ObjectKey, ".age")+".k1.age"))
	for _, m := range []metadata.Move{m0, m1, m2, m3} {
		if err := s.BeginMove(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.BeginMove(ctx, m1); !errors.Is(err, metadata.ErrMoveInProgress) {
		t.Errorf("a second BeginMove of one object = %v, want ErrMoveInProgress", err)
	}
	if ok, err := s.CommitMove(ctx, m0, metadata.MovedObject{StoredSize: 200}); err != nil || !ok {
		t.Fatalf("CommitMove = %v, %v", ok, err)
	}
	// Committing again finds the row moved: not its source any more.
	if ok, err := s.CommitMove(ctx, m0, metadata.MovedObject{StoredSize: 200}); err != nil || ok {
		t.Errorf("second CommitMove = %v, %v; want false", ok, err)
	}
	fp := []byte("newrecip")
	if ok, err := s.CommitMove(ctx, m3, metadata.MovedObject{StoredSize: 321, RecipientsFP: fp}); err != nil || !ok {
		t.Fatalf("CommitMove of the rekey = %v, %v", ok, err)
	}
	// Delete object 2 as a hard delete would.
	if _, err := s.DB().ExecContext(ctx, "UPDATE files SET backup_id = NULL WHERE backup_id = ?", objs[2].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "DELETE FROM backups WHERE id = ?", objs[2].ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CommitMove(ctx, m2, metadata.MovedObject{StoredSize: 200}); err != nil || ok {
		t.Errorf("CommitMove of a deleted object = %v, %v; want false", ok, err)
	}

	pending, err := s.PendingMoves(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 4 {
		t.Fatalf("PendingMoves = %+v", pending)
	}
	byID := map[int64]metadata.PendingMove{}
	for _, p := range pending {
		byID[p.BackupID] = p
	}
	for _, tc := range []struct {
		m         metadata.Move
		committed bool
		gone      bool
	}{{m0, true, false}, {m1, false, false}, {m2, false, true}, {m3, true, false}} {
		p := byID[tc.m.BackupID]
		if p.Committed() != tc.committed || (p.Current == nil) != tc.gone || p.From != tc.m.From || p.To != tc.m.To || p.Reason != tc.m.Reason || p.Host != "test" {
			t.Errorf("pending move of %d = %+v (current %+v), want committed %v, gone %v, %+v", tc.m.BackupID, p, p.Current, tc.committed, tc.gone, tc.m)
		}
	}
	if ok, err := s.RecordedAt(ctx, m0.To); err != nil || !ok {
		t.Errorf("RecordedAt(%s) = %v, %v", m0.To, ok, err)
	}
	if ok, err := s.RecordedAt(ctx, m1.To); err != nil || ok {
		t.Errorf("RecordedAt(%s) = %v, %v; nothing is recorded there", m1.To, ok, err)
	}
	// The rekeyed object is done for fp, and no longer listed for it.
	o3, err := s.StoredObjectByID(ctx, objs[3].ID)
	if err != nil || o3.ObjectKey != m3.To.Key || o3.StoredSize != 321 || !bytes.Equal(o3.RecipientsFP, fp) {
		t.Errorf("after the rekey: %+v, %v", o3, err)
	}
	left, err := s.EncryptedObjects(ctx, fp, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range left {
		if o.ID == objs[3].ID {
			t.Error("EncryptedObjects lists an object already written for the recipients")
		}
	}
	for _, m := range []metadata.Move{m0, m1, m2, m3} {
		if err := s.EndMove(ctx, m.BackupID); err != nil {
			t.Fatal(err)
		}
	}
	if pending, err := s.PendingMoves(ctx); err != nil || len(pending) != 0 {
		t.Errorf("after EndMove: %+v, %v", pending, err)
	}
	if _, err := s.StoredObjectByID(ctx, objs[2].ID); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("StoredObjectByID of a deleted object = %v", err)
	}
}

func TestObjectsInRange(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	locA, _ := s.EnsureLocation(ctx, "http://a:1")
	locB, _ := s.EnsureLocation(ctx, "http://b:1")
	objs := storeObjects(t, s, "privwiki", locA, 8) // prefixes 00, 20, 40, ... e0
	// Move the one at 40 to B.
	m := metadata.Move{BackupID: objs[2].ID, Reason: metadata.MoveRebalance,
		From: metadata.Place{LocationID: locA, Key: objs[2].ObjectKey}, To: metadata.Place{LocationID: locB, Key: objs[2].ObjectKey}}
	if ok, err := s.CommitMove(ctx, m, metadata.MovedObject{StoredSize: 200}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	raw := func(prefix string, fill byte) []byte {
		b, _ := hex.DecodeString(prefix)
		return append(b, bytes.Repeat([]byte{fill}, 32-len(b))...)
	}
	// [20.., 7f..]: objects 20, 40, 60; not on B: 20 and 60.
	first, last := raw("20", 0), raw("7f", 0xff)
	got, err := s.ObjectsInRange(ctx, objs[0].WikiID, first, last, nil, "http://b:1", 100)
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, o := range got {
		prefixes = append(prefixes, o.SHA256[:2])
	}
	if strings.Join(prefixes, ",") != "20,60" {
		t.Errorf("not on b in [20, 7f]: %v, want 20,60", prefixes)
	}
	// Paging: one at a time, after the last seen.
	page, err := s.ObjectsInRange(ctx, objs[0].WikiID, first, last, nil, "http://b:1", 1)
	if err != nil || len(page) != 1 || page[0].SHA256[:2] != "20" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	after, _ := hex.DecodeString(page[0].SHA256)
	page, err = s.ObjectsInRange(ctx, objs[0].WikiID, first, last, after, "http://b:1", 1)
	if err != nil || len(page) != 1 || page[0].SHA256[:2] != "60" {
		t.Fatalf("second page: %+v, %v", page, err)
	}
	// Not on A in the whole range: only the one moved to B.
	got, err = s.ObjectsInRange(ctx, objs[0].WikiID, raw("", 0), raw("", 0xff), nil, "http://a:1", 100)
	if err != nil || len(got) != 1 || got[0].ID != objs[2].ID || got[0].Location != "http://b:1" || got[0].Wiki != "privwiki" {
		t.Errorf("not on a: %+v, %v", got, err)
	}
}

func TestLockMoves(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	release, err := s.LockMoves(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockMoves(ctx); !errors.Is(err, metadata.ErrMovesLocked) {
		t.Errorf("second LockMoves = %v, want ErrMovesLocked", err)
	}
	release()
	again, err := s.LockMoves(ctx)
	if err != nil {
		t.Fatalf("LockMoves after release: %v", err)
	}
	again()
}
