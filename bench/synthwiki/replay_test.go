package synthwiki

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/inventory"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/update"
)

// TestUpdateAfterInventoryMatchesInventory checks that the synthetic log
// tells the same story as the synthetic state, with the real inventory and
// update against MariaDB: an inventory of the wiki before the tail, then
// `update` from T0 over the tail (uploads, overwrites, reverts, deletions
// of files and of old versions, renames) must record the same versions as
// an inventory of the wiki after the tail. That is what the bench's update
// measurement relies on, and it also checks update itself on a history
// longer than the test wikis'.
//
// The dense case has many events about each title, so that the stretches
// update applies in one transaction (update.Batch events) hold several
// events about one title: each must see what the ones before it wrote.
func TestUpdateAfterInventoryMatchesInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, tc := range []struct {
		name        string
		files, tail int64
	}{
		{"sparse", 500, 400},
		{"dense", 20, 600},
	} {
		t.Run(tc.name, func(t *testing.T) { testReplay(t, tc.files, tc.tail) })
	}
}

func testReplay(t *testing.T, files, tail int64) {
	m, srv := newTestModel(t, files, tail, 50)
	ctx := context.Background()
	c := mediawiki.Containers{Project: "wikipedia", Lang: "commons", PublicShards: true, DeletedShards: true}
	open := func() (*metadata.Store, int64) {
		st, err := metadata.Open(ctx, testsvc.Database(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		id, err := st.EnsureWiki(ctx, "synthcommons", "public")
		if err != nil {
			t.Fatal(err)
		}
		return st, id
	}
	before := client(t, srv.URL+"/tail/0/api.php")
	after := client(t, srv.URL+"/api.php")

	followed, fid := open()
	inv, err := inventory.Run(ctx, before, followed, inventory.Options{WikiID: fid, Containers: c, Deleted: true, BatchSize: 97})
	if err != nil {
		t.Fatal(err)
	}
	if int64(inv.Seen) != m.Versions(0) {
		t.Errorf("inventory of the wiki before the tail saw %d versions, want %d", inv.Seen, m.Versions(0))
	}
	ust, err := update.Run(ctx, after, followed, update.Options{WikiID: fid, Containers: c, Deleted: true, Since: m.T0()})
	if err != nil {
		t.Fatal(err)
	}
	if int64(ust.Events) != m.cfg.Tail || ust.Unreadable != 0 {
		t.Errorf("update: %+v; want %d events, none unreadable", ust, m.cfg.Tail)
	}

	fresh, nid := open()
	if _, err := inventory.Run(ctx, after, fresh, inventory.Options{WikiID: nid, Containers: c, Deleted: true}); err != nil {
		t.Fatal(err)
	}
	got, want := rows(t, followed.DB(), fid), rows(t, fresh.DB(), nid)
	if int64(len(want)) != m.Versions(m.cfg.Tail) {
		t.Errorf("inventory after the tail recorded %d versions, want %d", len(want), m.Versions(m.cfg.Tail))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("inventory + update recorded %d versions, an inventory after the tail %d:\n%s", len(got), len(want), diff(got, want))
	}

	// update knows when the tail deleted a version (the inventory cannot).
	dates := map[string]time.Time{}
	r, err := followed.DB().QueryContext(ctx, `SELECT title, upload_date, delete_date FROM files WHERE wiki_id = ? AND delete_date IS NOT NULL`, fid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var title string
		var up, del time.Time
		if err := r.Scan(&title, &up, &del); err != nil {
			t.Fatal(err)
		}
		dates[title+"|"+up.UTC().Format(time.RFC3339)] = del.UTC()
	}
	checked := 0
	for i := int64(0); i < m.cfg.Files; i++ {
		f := m.file(i, m.cfg.Tail)
		for _, v := range f.vs {
			if v.deleted < m.t0 {
				continue
			}
			checked++
			k := m.name(i, v.faGen) + "|" + time.Unix(v.up, 0).UTC().Format(time.RFC3339)
			if d := dates[k]; !d.Equal(time.Unix(v.deleted, 0)) {
				t.Errorf("%s: delete date %v, want %v", k, d, time.Unix(v.deleted, 0).UTC())
			}
		}
	}
	if checked == 0 {
		t.Error("the tail deleted nothing")
	}
}

// rows returns every version of a wiki as one comparable line.
func rows(t *testing.T, db *sql.DB, wikiID int64) []string {
	t.Helper()
	r, err := db.Query(`SELECT title, upload_date, HEX(sha1), production_status, production_container, production_path,
		IFNULL(source_url, ''), IFNULL(archive_name, ''), IFNULL(storage_key, ''), IFNULL(filearchive_id, 0), size,
		IFNULL(mime, ''), IFNULL(media_type, ''), IFNULL(archive_date, '-'), backup_status FROM files WHERE wiki_id = ?`, wikiID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		vals := make([]sql.NullString, 15)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, v.String)
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
