package lostserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/lostserver"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

const lost = "http://lost.example:9000"

// TestRecover runs Recover against the real public test wiki and a real
// metadata store whose objects on a lost server hold: content the wiki
// serves under one title, content only another version's title serves,
// content no title serves (only copy lost), an object no version refers
// to, and one of a wiki that is not configured.
func TestRecover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wiki := testsvc.PublicWiki(t)
	client, err := mediawiki.New(mediawiki.Config{APIURL: wiki.API, UserAgent: "mediabackups-tests/1.0 (lostserver)"})
	if err != nil {
		t.Fatal(err)
	}
	// What production has: the current version of Simple.png.
	vs, err := client.Versions(ctx, []string{"Simple.png"})
	if err != nil || len(vs["Simple.png"]) == 0 {
		t.Fatalf("Versions(Simple.png) = %v, %v", vs, err)
	}
	simple := vs["Simple.png"][0]

	s, err := metadata.Open(ctx, testsvc.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	lostLoc, _ := s.EnsureLocation(ctx, lost)
	otherLoc, _ := s.EnsureLocation(ctx, "http://other.example:9000")

	// store records versions of a wiki with their objects: each entry of
	// objects is one content, stored by its first version on loc.
	type content struct {
		sha1     string
		loc      int64
		versions []metadata.File
	}
	fakeSHA1 := strings.Repeat("ab", 20)
	v := func(title string, uploaded time.Time, sha1 string) metadata.File {
		return metadata.File{Title: title, Container: "c", Path: "p/" + title, SHA1: sha1, Size: 1, Status: metadata.Public, UploadDate: uploaded}
	}
	store := func(wikiName string, contents []content) map[string]int64 {
		wikiID, err := s.EnsureWiki(ctx, wikiName, "public")
		if err != nil {
			t.Fatal(err)
		}
		var all []metadata.File
		for _, c := range contents {
			all = append(all, c.versions...)
		}
		if _, err := s.SyncVersions(ctx, wikiID, all, "inventory"); err != nil {
			t.Fatal(err)
		}
		files, err := s.Claim(ctx, wikiID, "w", len(all), time.Minute)
		if err != nil || len(files) != len(all) {
			t.Fatalf("claim: %d of %d, %v", len(files), len(all), err)
		}
		id := map[string]int64{}
		for _, f := range files {
			id[f.Title+f.UploadDate.String()] = f.ID
		}
		var rs []metadata.Result
		for i, c := range contents {
			sum := fmt.Sprintf("%064x", i+1)
			for j, ver := range c.versions {
				r := metadata.Result{FileID: id[ver.Title+ver.UploadDate.String()], SHA1: c.sha1, SHA256: sum, Size: 1}
				if j == 0 {
					r.Backup = &metadata.Backup{SHA1: c.sha1, Size: 1, LocationID: c.loc, Bucket: "b", ObjectKey: wikiName + "/" + sum, StoredSize: 1}
				}
				rs = append(rs, r)
			}
		}
		if _, err := s.Record(ctx, "w", rs); err != nil {
			t.Fatal(err)
		}
		return id
	}
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := store("testwiki", []content{
		// Served: the real current version of Simple.png, and a copy of
		// its bytes under a title production does not have.
		{simple.SHA1, lostLoc, []metadata.File{v("Simple.png", simple.Timestamp, simple.SHA1), v("Not_in_production.png", day, simple.SHA1)}},
		// Not served anywhere: the only copy is lost.
		{fakeSHA1, lostLoc, []metadata.File{v("Simple.png", day, fakeSHA1)}},
		// On another server: not concerned.
		{strings.Repeat("cd", 20), otherLoc, []metadata.File{v("Elsewhere.png", day, strings.Repeat("cd", 20))}},
	})
	store("unconfiguredwiki", []content{{fakeSHA1, lostLoc, []metadata.File{v("X.png", day, fakeSHA1)}}})
	// An object of the lost server no version refers to any more.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date)
		SELECT id, UNHEX(REPEAT('ee', 32)), UNHEX(REPEAT('ee', 20)), 1, ?, 'b', 'testwiki/orphan', 0, 1, UTC_TIMESTAMP() FROM wikis WHERE name = 'testwiki'`, lostLoc); err != nil {
		t.Fatal(err)
	}

	opts := lostserver.Options{Endpoint: lost, Wiki: func(name string) (lostserver.Production, error) {
		if name != "testwiki" {
			return nil, fmt.Errorf("wiki %q is not in the config", name)
		}
		return client, nil
	}}
	titles := func(vs []lostserver.Version) string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Wiki+":"+v.Title)
		}
		return strings.Join(out, ",")
	}
	for _, execute := range []bool{false, true} {
		opts.Execute = execute
		rep, err := lostserver.Recover(ctx, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.DryRun == execute || rep.Objects != 4 || rep.StillThere != 0 || rep.RecordsDropped != 2 || len(rep.Failed) != 0 {
			t.Errorf("execute=%v: %+v", execute, rep)
		}
		if got := titles(rep.Recovered); got != "testwiki:Simple.png,testwiki:Not_in_production.png" {
			t.Errorf("execute=%v: recovered %s", execute, got)
		}
		if len(rep.Recovered) == 2 && (rep.Recovered[0].Note != "" || !strings.Contains(rep.Recovered[1].Note, "Simple.png")) {
			t.Errorf("notes: %q, %q", rep.Recovered[0].Note, rep.Recovered[1].Note)
		}
		if got := titles(rep.OnlyCopyLost); got != "testwiki:Simple.png" || rep.OnlyCopyLost[0].SHA1 != fakeSHA1 {
			t.Errorf("execute=%v: only copy lost %s", execute, got)
		}
		if got := titles(rep.Unchecked); got != "unconfiguredwiki:X.png" || !strings.Contains(rep.Unchecked[0].Note, "not in the config") {
			t.Errorf("execute=%v: unchecked %+v", execute, rep.Unchecked)
		}
	}
	// After the execution: the served content's versions are pending and
	// unlinked, its record and the orphan record gone; the lost one and the
	// unchecked one untouched.
	status := func(id int64) (string, bool) {
		var st string
		var linked bool
		if err := s.DB().QueryRowContext(ctx, `SELECT backup_status, backup_id IS NOT NULL FROM files WHERE id = ?`, id).Scan(&st, &linked); err != nil {
			t.Fatal(err)
		}
		return st, linked
	}
	for key, want := range map[string]string{
		"Simple.png" + simple.Timestamp.String(): "pending false", "Not_in_production.png" + day.String(): "pending false",
		"Simple.png" + day.String(): "backedup true", "Elsewhere.png" + day.String(): "backedup true",
	} {
		st, linked := status(ids[key])
		if got := fmt.Sprint(st, " ", linked); got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
	var n int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM backups WHERE location_id = ?`, lostLoc).Scan(&n)
	if n != 2 {
		t.Errorf("%d records left on the lost server, want 2 (only copy lost, unchecked)", n)
	}
	// A record moved away meanwhile is not touched.
	if _, err := s.ForgetLostObject(ctx, 1<<40, lostLoc); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("ForgetLostObject of no object = %v", err)
	}
	var elsewhere int64
	s.DB().QueryRowContext(ctx, `SELECT id FROM backups WHERE location_id = ?`, otherLoc).Scan(&elsewhere)
	if _, err := s.ForgetLostObject(ctx, elsewhere, lostLoc); !errors.Is(err, metadata.ErrObjectMoved) {
		t.Errorf("ForgetLostObject of an object elsewhere = %v", err)
	}
	// Nothing was stored on an unknown server.
	rep, err := lostserver.Recover(ctx, s, lostserver.Options{Endpoint: "http://never.example:9000", Wiki: opts.Wiki})
	if err != nil || rep.Objects != 0 {
		t.Errorf("Recover of a server with nothing: %+v, %v", rep, err)
	}
}
