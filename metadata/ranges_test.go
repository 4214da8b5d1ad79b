package metadata_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// The fixture (searchFixture): A.png@1 (uploaded 2025-01-01 10:00, archived
// 2025-01-02 10:00), A.png@2 (2025-01-02 10:00), B.png@3 (2025-01-03
// 10:00), D.png@4 (2025-01-04 10:00, deleted 2025-01-05 00:00); otherwiki
// has a copy of A.png@2.
func TestSearchDateRanges(t *testing.T) {
	ctx := context.Background()
	s, wiki, _ := searchFixture(t)
	at := func(d, h, m, sec int) time.Time { return time.Date(2025, 1, d, h, m, sec, 0, time.UTC) }
	rng := func(from, to time.Time) metadata.TimeRange { return metadata.TimeRange{From: from, To: to} }
	var open time.Time
	for _, tc := range []struct {
		name string
		q    metadata.Query
		want string
	}{
		{"upload: from is included, to excluded", metadata.Query{UploadRange: rng(at(2, 10, 0, 0), at(3, 10, 0, 0))}, "[A.png@2]"},
		{"upload: a second before to is in", metadata.Query{UploadRange: rng(at(2, 10, 0, 0), at(3, 10, 0, 1))}, "[A.png@2 B.png@3]"},
		{"upload: a second after from is out", metadata.Query{UploadRange: rng(at(2, 10, 0, 1), at(3, 10, 0, 1))}, "[B.png@3]"},
		{"upload: open start", metadata.Query{UploadRange: rng(open, at(2, 10, 0, 0))}, "[A.png@1]"},
		{"upload: open end", metadata.Query{UploadRange: rng(at(3, 10, 0, 0), open)}, "[B.png@3 D.png@4]"},
		{"upload: whole days", metadata.Query{UploadRange: rng(at(1, 0, 0, 0), at(3, 0, 0, 0))}, "[A.png@1 A.png@2]"},
		{"upload: in another zone", metadata.Query{UploadRange: rng(time.Date(2025, 1, 2, 11, 0, 0, 0, time.FixedZone("x", 3600)), open)}, "[A.png@2 B.png@3 D.png@4]"},
		{"upload: nothing in it", metadata.Query{UploadRange: rng(at(10, 0, 0, 0), open)}, "[]"},
		{"archive: versions never archived are outside", metadata.Query{ArchiveRange: rng(open, at(31, 0, 0, 0))}, "[A.png@1]"},
		{"archive: to excluded", metadata.Query{ArchiveRange: rng(open, at(2, 10, 0, 0))}, "[]"},
		{"delete: open end", metadata.Query{DeleteRange: rng(at(5, 0, 0, 0), open)}, "[D.png@4]"},
		{"delete: before", metadata.Query{DeleteRange: rng(open, at(5, 0, 0, 0))}, "[]"},
		{"all", metadata.Query{All: true}, "[A.png@1 A.png@2 B.png@3 D.png@4]"},
		{"all with a title", metadata.Query{All: true, Title: "A.png"}, "[A.png@1 A.png@2]"},
		{"range with a title", metadata.Query{Title: "A.png", UploadRange: rng(at(2, 0, 0, 0), open)}, "[A.png@2]"},
		{"range with a sha1", metadata.Query{SHA1: sha(2), UploadRange: rng(open, at(3, 0, 0, 0))}, "[A.png@2]"},
		{"two ranges", metadata.Query{UploadRange: rng(open, at(2, 0, 0, 0)), ArchiveRange: rng(at(2, 0, 0, 0), at(3, 0, 0, 0))}, "[A.png@1]"},
		{"range and an exact date", metadata.Query{UploadRange: rng(open, at(4, 0, 0, 0)), ArchiveDate: at(2, 10, 0, 0)}, "[A.png@1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.WikiID = wiki
			got, err := s.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := fmt.Sprint(titlesOf(got)); g != tc.want {
				t.Errorf("Search = %s, want %s", g, tc.want)
			}
			// SearchEach, a version per page (so that every page but the
			// first starts after the last), finds the same, each once.
			var each []metadata.File
			if err := s.SearchEach(ctx, tc.q, 1, func(fs []metadata.File) error { each = append(each, fs...); return nil }); err != nil {
				t.Fatal(err)
			}
			if g := fmt.Sprint(titlesOf(each)); g != tc.want {
				t.Errorf("SearchEach = %s, want %s", g, tc.want)
			}
			if n, err := s.Count(ctx, tc.q); err != nil || int(n) != len(got) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(got))
			}
		})
	}
	for _, q := range []metadata.Query{
		{UploadRange: rng(at(3, 0, 0, 0), at(3, 0, 0, 0))},
		{DeleteRange: rng(at(4, 0, 0, 0), at(3, 0, 0, 0))},
	} {
		q.WikiID = wiki
		if _, err := s.Search(ctx, q); err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("Search(%v) = %v, want an empty range refused", q, err)
		}
	}
}

func TestQueryStringOfRanges(t *testing.T) {
	q := metadata.Query{Title: "A.png", All: true,
		UploadRange: metadata.TimeRange{From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		DeleteRange: metadata.TimeRange{To: time.Date(2025, 2, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}}
	want := "title=A.png upload_between=2025-01-01 00:00:00.. delete_between=..2025-01-31 23:00:00 all=yes"
	if got := q.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := fmt.Sprint(q.Criteria()); got != "[title upload_between delete_between all]" {
		t.Errorf("Criteria = %s", got)
	}
}

// TestSearchEachPagesTies: versions that share the paging date are split
// over pages without loss or repetition (the page goes on by id).
func TestSearchEachPagesTies(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	var vs []metadata.File
	for i := range 25 {
		v := version(fmt.Sprintf("T%02d.png", i), 1+i%3, sha(100+i), metadata.Public) // three upload dates
		vs = append(vs, v)
	}
	if _, err := s.SyncVersions(ctx, wiki, vs, "inventory"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []metadata.Query{
		{WikiID: wiki, All: true},
		{WikiID: wiki, UploadRange: metadata.TimeRange{From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{WikiID: wiki, SHA1: sha(107)},
	} {
		for _, size := range []int{1, 2, 7, 8, 25, 100} {
			seen := map[int64]bool{}
			pages := 0
			var last time.Time
			err := s.SearchEach(ctx, q, size, func(fs []metadata.File) error {
				pages++
				if len(fs) > size {
					t.Errorf("%v size %d: a page of %d", q, size, len(fs))
				}
				for _, f := range fs {
					if seen[f.ID] {
						t.Errorf("%v size %d: %s passed twice", q, size, f.Title)
					}
					seen[f.ID] = true
					// Pages go along the upload date index.
					if f.UploadDate.Before(last) {
						t.Errorf("%v size %d: %s out of upload order", q, size, f.Title)
					}
					last = f.UploadDate
				}
				return nil
			})
			want := 25
			if q.SHA1 != "" {
				want = 1
			}
			if err != nil || len(seen) != want {
				t.Errorf("%v size %d: %d versions in %d pages, %v; want %d", q, size, len(seen), pages, err, want)
			}
		}
	}
	// fn's error stops it, and is returned.
	stop := fmt.Errorf("stop")
	calls := 0
	if err := s.SearchEach(ctx, metadata.Query{WikiID: wiki, All: true}, 5, func([]metadata.File) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("SearchEach with a failing fn = %v after %d calls", err, calls)
	}
}

// TestRangePlansUseIndexes runs EXPLAIN on the page queries of the ranges
// and of All, on a table big enough for MariaDB to plan as it would in
// production: each must read its date index as a range, in order (no
// filesort), from where the page starts (type range, not ref: see
// Query.Page), and never scan the table. With a title too, MariaDB picks
// the title's index.
func TestRangePlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	db := s.DB()
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	other, _ := s.EnsureWiki(ctx, "otherwiki", "public")
	// 20,000 versions over two wikis and two years; a third archived, a
	// tenth deleted.
	if _, err := db.ExecContext(ctx, `INSERT INTO files (wiki_id, title, production_container, production_path, sha1,
		production_status, upload_date, archive_date, delete_date, created_at, updated_at)
		SELECT IF(seq % 4 = 0, ?, ?), CONCAT('F', seq, '.png'), 'c', CONCAT('p/', seq), UNHEX(SHA1(seq)),
			'public', '2024-01-01' + INTERVAL seq * 53 MINUTE,
			IF(seq % 3 = 0, '2024-01-02' + INTERVAL seq * 53 MINUTE, NULL),
			IF(seq % 10 = 0, '2024-01-03' + INTERVAL seq * 53 MINUTE, NULL), NOW(), NOW()
		FROM seq_1_to_20000`, other, wiki); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE TABLE files`); err != nil {
		t.Fatal(err)
	}
	d := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	at := func(day string) *metadata.File {
		return &metadata.File{ID: 5000, UploadDate: d(day), ArchiveDate: d(day), DeleteDate: d(day)}
	}
	for _, tc := range []struct {
		name string
		q    metadata.Query
		key  string
	}{
		{"upload range", metadata.Query{UploadRange: metadata.TimeRange{From: d("2024-02-01"), To: d("2024-04-01")}}, "files_upload_date"},
		{"upload from", metadata.Query{UploadRange: metadata.TimeRange{From: d("2024-02-01")}}, "files_upload_date"},
		{"archive until", metadata.Query{ArchiveRange: metadata.TimeRange{To: d("2024-06-01")}}, "files_archive_date"},
		{"delete range", metadata.Query{DeleteRange: metadata.TimeRange{From: d("2024-02-01"), To: d("2024-08-01")}}, "files_delete_date"},
		{"all", metadata.Query{All: true}, "files_upload_date"},
	} {
		for _, page := range []struct {
			name  string
			after *metadata.File
		}{{"first page", nil}, {"an early page", at("2024-02-15")}, {"a late page", at("2024-03-25")}} {
			t.Run(tc.name+", "+page.name, func(t *testing.T) {
				tc.q.WikiID = wiki
				q, args, err := tc.q.Page(page.after, metadata.SearchPage)
				if err != nil {
					t.Fatal(err)
				}
				key, typ, extra := explainFiles(t, db, q, args)
				want := "range"
				if tc.q.All && page.after == nil {
					want = "ref" // no bound: the wiki's whole prefix, in order
				}
				if key != tc.key || typ != want || strings.Contains(extra, "filesort") {
					t.Errorf("plan: key %s, type %s, extra %q; want a range of %s without filesort\n%s", key, typ, extra, tc.key, q)
				}
			})
		}
	}
}

// explainFiles returns the key, access type and Extra of the files table
// in the plan of q.
func explainFiles(t *testing.T, db *sql.DB, q string, args []any) (key, typ, extra string) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		if row["table"] == "f" {
			return row["key"], row["type"], row["Extra"]
		}
	}
	t.Fatalf("no plan row for files in %s", q)
	return
}
