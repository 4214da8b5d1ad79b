package bench

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/search"
)

// ScaleOptions configures MetadataScale.
type ScaleOptions struct {
	Services Services
	Rows     int // file versions to load; default 1 000 000
	// BatchSize is the versions per SyncVersions call: the inventory's
	// default, 500, unless set.
	BatchSize int
	Runs      int // timed runs of each query; default 200
	Keep      bool
	Log       io.Writer
}

// ScaleReport is the outcome of MetadataScale.
type ScaleReport struct {
	Rows       int     `json:"rows"`
	IngestSecs float64 `json:"ingest_seconds"`
	RowsPerSec float64 `json:"ingest_rows_per_s"`
	Queries    []Query `json:"queries"`
	// Tables is the size on disk of the tables, after the load.
	Tables []TableSize `json:"tables"`
}

// cursorQuery is a walk over a wiki's rows that a long-running command
// resumes from a stored position: MetadataScale times one step of each
// and EXPLAINs it.
type cursorQuery struct {
	name string
	// step runs one step from the start, as the command does.
	step func(ctx context.Context, st *metadata.Store, wikiID int64) error
	// plan returns the EXPLAIN lines of the step's query and whether every
	// table is read through an index.
	plan func(ctx context.Context, st *metadata.Store, wikiID int64) ([]string, bool, error)
}

// cursorQueries are the cursors MetadataScale measures. The `update` log
// cursor (wiki_cursors) is one primary-key row per wiki, so it is not here;
// the audit's walk is timed on its own (it walks one container). Verify's
// walk reads the backups rows the load makes for the versions it marks
// backed up, a quarter of them already checked.
var cursorQueries = []cursorQuery{
	verifyCursor("verify page (never checked, 256 objects)", metadata.VerifyCursor{}),
	verifyCursor("verify page (longest unchecked, 256 objects)", metadata.VerifyCursor{Checked: true}),
	verifyCursor("verify page (resumed in the checked part, 256 objects)", metadata.VerifyCursor{Checked: true, At: time.Unix(1, 0)}),
}

// verifyCursor is one step of verify's walk from cursor c (a c.At before
// every check: the first page of that part), timed through
// metadata.Store.ObjectsToVerify and explained through metadata.VerifyQuery.
func verifyCursor(name string, c metadata.VerifyCursor) cursorQuery {
	return cursorQuery{
		name: name,
		step: func(ctx context.Context, st *metadata.Store, wikiID int64) error {
			objs, _, err := st.ObjectsToVerify(ctx, wikiID, time.Now(), c, 256)
			if err == nil && len(objs) != 256 {
				err = fmt.Errorf("got %d objects, want 256", len(objs))
			}
			return err
		},
		plan: func(ctx context.Context, st *metadata.Store, wikiID int64) ([]string, bool, error) {
			q, args := metadata.VerifyQuery(wikiID, time.Now(), c, 256)
			return explain(ctx, st.DB(), q, args...)
		},
	}
}

// Query is the latency of one query at the scale measured.
type Query struct {
	Name     string   `json:"name"`
	Runs     int      `json:"runs"`
	MedianMs float64  `json:"median_ms"`
	P99Ms    float64  `json:"p99_ms"`
	Explain  []string `json:"explain"` // per table: table, access type, key, rows
	UsesIdx  bool     `json:"uses_index"`
}

// syntheticVersions calls fn with batches of n synthetic versions of a
// Commons-like wiki: titles with one to three versions (the newest public,
// the others archived), one title in twenty deleted.
func syntheticVersions(total, n int, fn func([]metadata.File) error) error {
	base := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]metadata.File, 0, n)
	made := 0
	for t := 0; made < total; t++ {
		versions := 1
		if t%4 == 0 {
			versions++
		}
		if t%16 == 0 {
			versions++
		}
		title := fmt.Sprintf("Bench_file_%09d.jpg", t)
		md5ish := sha1.Sum([]byte(title))
		h := hex.EncodeToString(md5ish[:])
		deleted := t%20 == 7
		for j := 0; j < versions && made < total; j++ {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(made))
			sum := sha1.Sum(b[:])
			up := base.Add(time.Duration(t)*7*time.Second + time.Duration(j)*24*time.Hour)
			f := metadata.File{
				Title: title, Container: "wikipedia-commons-local-public." + h[:2], Path: h[:1] + "/" + h[:2] + "/" + title,
				SourceURL: "https://upload.example.org/" + h[:1] + "/" + h[:2] + "/" + title,
				SHA1:      hex.EncodeToString(sum[:]), Size: int64(1000 + made%5_000_000), MIME: "image/jpeg",
				MediaType: "BITMAP", Status: metadata.Public, UploadDate: up,
			}
			if j < versions-1 {
				f.Status = metadata.Archived
				f.ArchiveDate = up.Add(24 * time.Hour)
				f.ArchiveName = f.ArchiveDate.Format("20060102150405") + "!" + title
				f.Path = "archive/" + h[:1] + "/" + h[:2] + "/" + f.ArchiveName
			}
			if deleted {
				f.Status, f.SourceURL, f.DeleteDate = metadata.Deleted, "", base.Add(time.Duration(t)*9*time.Second+400*24*time.Hour)
				f.Container = "wikipedia-commons-local-deleted." + h[:2]
				f.StorageKey = h[:31] + ".jpg"
				f.Path = h[:1] + "/" + h[1:2] + "/" + h[2:3] + "/" + f.StorageKey
			}
			batch = append(batch, f)
			made++
			if len(batch) == n {
				if err := fn(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// MetadataScale loads Rows synthetic versions into a database of its own
// through SyncVersions (what the inventory runs), marks half of them backed
// up with a backups row each, then times claiming a batch of pending
// files, each search method, the oldest-pending read of the metrics, the
// audit's and verify's walks, runs EXPLAIN on their queries and measures
// the tables. It drops the database at the end unless Keep.
func MetadataScale(ctx context.Context, o ScaleOptions) (_ *ScaleReport, err error) {
	if o.Rows <= 0 {
		o.Rows = 1_000_000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Runs <= 0 {
		o.Runs = 200
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	cfg, err := mysql.ParseDSN(o.Services.DSN)
	if err != nil {
		return nil, fmt.Errorf("bench database DSN: %w", err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	name := benchPrefix + "_meta_" + randomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create bench database %s: %w", name, err)
	}
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "kept database %s\n", name)
			return
		}
		admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name)
	}()
	cfg.DBName = name
	st, err := metadata.Open(ctx, cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	wikiID, err := st.EnsureWiki(ctx, "benchcommons", "public")
	if err != nil {
		return nil, err
	}

	rep := &ScaleReport{Rows: o.Rows}
	start, last := time.Now(), time.Now()
	loaded := 0
	err = syntheticVersions(o.Rows, o.BatchSize, func(b []metadata.File) error {
		s, err := st.SyncVersions(ctx, wikiID, b, "bench")
		if err != nil {
			return err
		}
		if s.Added != len(b) {
			return fmt.Errorf("ingest: %d of %d versions added", s.Added, len(b))
		}
		loaded += len(b)
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			fmt.Fprintf(o.Log, "metadata: %d rows, %.0f rows/s\n", loaded, float64(loaded)/time.Since(start).Seconds())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	rep.IngestSecs = time.Since(start).Seconds()
	rep.RowsPerSec = float64(o.Rows) / rep.IngestSecs
	fmt.Fprintf(o.Log, "metadata: ingested %d rows at %.0f rows/s; marking half backed up ...\n", o.Rows, rep.RowsPerSec)

	db := st.DB()
	// Half the versions backed up, with a sha256, so that both the claim and
	// the sha256 search see a realistic mix.
	// In chunks: one 5 M-row transaction at 10 M rows would strain the undo log.
	var maxID int64
	if err := db.QueryRowContext(ctx, "SELECT IFNULL(MAX(id), 0) FROM files").Scan(&maxID); err != nil {
		return nil, fmt.Errorf("mark half backed up: %w", err)
	}
	for lo := int64(0); lo <= maxID; lo += 100_000 {
		if _, err := db.ExecContext(ctx, `UPDATE files SET backup_status = 'backedup', sha256 = UNHEX(SHA2(sha1, 256))
			WHERE wiki_id = ? AND id > ? AND id <= ? AND id % 2 = 0`, wikiID, lo, lo+100_000); err != nil {
			return nil, fmt.Errorf("mark half backed up: %w", err)
		}
	}
	if err := addBackups(ctx, db, wikiID, maxID); err != nil {
		return nil, err
	}
	for _, t := range []string{"files", "backups"} {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+t); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", t, err)
		}
	}

	samples, err := sampleRows(ctx, db, wikiID, o.Runs)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Every search method of the recovery tools (search.Methods): the
	// timed part is what a tool does with a typed value, checking it into
	// a query, then running the query; the plan is EXPLAIN of that query.
	for _, m := range search.Methods {
		if m.NoValue {
			continue // --all reads the whole wiki: not a lookup to time
		}
		var have []metadata.File
		for _, f := range samples {
			if _, _, ok := m.ValueOf(f); ok {
				have = append(have, f)
			}
		}
		if len(have) == 0 {
			return nil, fmt.Errorf("search by %s: no sampled row has a value for it", m.Name)
		}
		lat := make([]time.Duration, 0, o.Runs)
		var last metadata.Query
		for range o.Runs {
			v, c, _ := m.ValueOf(have[rng.IntN(len(have))])
			t0 := time.Now()
			q, err := m.Query(v, c)
			if err != nil {
				return nil, fmt.Errorf("search by %s %q: %w", m.Name, v, err)
			}
			q.WikiID = wikiID
			got, err := st.Search(ctx, q)
			lat = append(lat, time.Since(t0))
			if err != nil {
				return nil, fmt.Errorf("search by %s: %w", m.Name, err)
			}
			if len(got) == 0 {
				return nil, fmt.Errorf("search by %s found nothing for a row that exists", m.Name)
			}
			last = q
		}
		where, args, err := last.Where()
		if err != nil {
			return nil, err
		}
		plan, idx, err := explain(ctx, db, `SELECT f.id FROM files AS f WHERE `+where, args...)
		if err != nil {
			return nil, err
		}
		rep.Queries = append(rep.Queries, summarize(m.Name, lat, plan, idx))
	}

	// Claims: the two queries Store.Claim runs, then the whole call. Each
	// claim takes 64 pending versions for good (its lease is long), so a
	// small load has fewer runs.
	var pending int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE wiki_id = ? AND backup_status = 'pending'`, wikiID).Scan(&pending); err != nil {
		return nil, fmt.Errorf("count pending versions: %w", err)
	}
	claims := min(o.Runs, pending/64)
	if claims == 0 {
		return nil, fmt.Errorf("claim: only %d pending versions, fewer than one claim of 64; load more", pending)
	}
	lat := make([]time.Duration, 0, o.Runs)
	for range claims {
		t0 := time.Now()
		files, err := st.Claim(ctx, wikiID, "bench", 64, 10*time.Minute)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return nil, err
		}
		if len(files) != 64 {
			return nil, fmt.Errorf("claim: got %d files, want 64", len(files))
		}
	}
	plan1, idx1, err := explain(ctx, db, `SELECT id FROM files WHERE wiki_id = ? AND backup_status = 'processing'
		AND lease_until < UTC_TIMESTAMP() LIMIT 64`, wikiID)
	if err != nil {
		return nil, err
	}
	// The queries of metadata/claim.go; keep them in step.
	plan2, idx2, err := explain(ctx, db, `SELECT id FROM files WHERE wiki_id = ? AND backup_status = 'pending'
		AND production_status <> 'hard-deleted' ORDER BY lease_until, id LIMIT 64`, wikiID)
	if err != nil {
		return nil, err
	}
	rep.Queries = append(rep.Queries, summarize("claim 64 pending", lat, append(plan1, plan2...), idx1 && idx2))

	// The read every scrape of a backup's metrics makes (the others are
	// primary-key lookups of small tables).
	lat = lat[:0]
	for range o.Runs {
		t0 := time.Now()
		_, err := st.OldestPending(ctx, wikiID)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return nil, err
		}
	}
	// The query of metadata.Store.OldestPending; keep it in step.
	plan, idx, err := explain(ctx, db, `SELECT created_at FROM files WHERE wiki_id = ? AND backup_status = 'pending'
		AND production_status <> 'hard-deleted' ORDER BY lease_until, id LIMIT 1`, wikiID)
	if err != nil {
		return nil, err
	}
	rep.Queries = append(rep.Queries, summarize("oldest pending (metrics)", lat, plan, idx))

	// The walk of an audit: every version of one container, a page at a
	// time along files_production, in the order production lists objects.
	container := samples[0].Container
	lat = lat[:0]
	walked := 0
	for r := 0; r < o.Runs && walked < 10*o.Runs*audit.DefaultPageSize; r++ {
		after := metadata.AuditKey{}
		for {
			t0 := time.Now()
			page, err := st.AuditVersions(ctx, wikiID, container, after, audit.DefaultPageSize)
			lat = append(lat, time.Since(t0))
			if err != nil {
				return nil, err
			}
			walked += len(page)
			if len(page) < audit.DefaultPageSize {
				break
			}
			after = metadata.AuditKey{Path: page[len(page)-1].Path, ID: page[len(page)-1].ID}
		}
	}
	q, args := metadata.AuditVersionsQuery(wikiID, container, metadata.AuditKey{}, audit.DefaultPageSize)
	if plan, idx, err = explain(ctx, db, q, args...); err != nil {
		return nil, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE wiki_id = ? AND production_container = ?`, wikiID, container).Scan(&n); err != nil {
		return nil, err
	}
	rep.Queries = append(rep.Queries, summarize(fmt.Sprintf("audit page (≤%d of the %d versions of a container)", audit.DefaultPageSize, n), lat, plan, idx))

	for _, c := range cursorQueries {
		lat = lat[:0]
		for range o.Runs {
			t0 := time.Now()
			err := c.step(ctx, st, wikiID)
			lat = append(lat, time.Since(t0))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
		}
		plan, idx, err := c.plan(ctx, st, wikiID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		rep.Queries = append(rep.Queries, summarize(c.name, lat, plan, idx))
	}

	if rep.Tables, err = tableSizes(ctx, db, "files", "backups"); err != nil {
		return nil, err
	}
	return rep, nil
}

// sampleRows reads about n random rows of each kind (every row, archived
// rows, deleted rows) to search for.
func sampleRows(ctx context.Context, db *sql.DB, wikiID int64, n int) ([]metadata.File, error) {
	var maxID int64
	if err := db.QueryRowContext(ctx, "SELECT MAX(id) FROM files WHERE wiki_id = ?", wikiID).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("sample rows: %w", err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ids := make([]any, 0, 20*n)
	for range 20 * n {
		ids = append(ids, 1+rng.Int64N(maxID))
	}
	rows, err := db.QueryContext(ctx, `SELECT title, HEX(sha1), IFNULL(HEX(sha256), ''), production_container, production_path,
		upload_date, archive_date, delete_date FROM files WHERE wiki_id = ? AND id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`,
		append([]any{wikiID}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("sample rows: %w", err)
	}
	defer rows.Close()
	var out []metadata.File
	for rows.Next() {
		var s metadata.File
		var archive, deleted sql.NullTime
		if err := rows.Scan(&s.Title, &s.SHA1, &s.SHA256, &s.Container, &s.Path, &s.UploadDate, &archive, &deleted); err != nil {
			return nil, fmt.Errorf("sample rows: %w", err)
		}
		s.SHA1, s.SHA256 = strings.ToLower(s.SHA1), strings.ToLower(s.SHA256)
		s.ArchiveDate, s.DeleteDate = archive.Time, deleted.Time
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sample rows: %w", err)
	}
	kinds := [3]bool{}
	for _, s := range out {
		kinds[0] = kinds[0] || s.SHA256 != ""
		kinds[1] = kinds[1] || !s.ArchiveDate.IsZero()
		kinds[2] = kinds[2] || !s.DeleteDate.IsZero()
	}
	if kinds != [3]bool{true, true, true} {
		return nil, fmt.Errorf("sample rows: too few rows (%d) to sample every kind; load more", len(out))
	}
	return out, nil
}

// explain runs EXPLAIN on q and returns one line per table and whether
// every table is read through an index (not a full scan).
func explain(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, bool, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("explain %s: %w", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, false, err
	}
	var lines []string
	usesIdx := true
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, false, err
		}
		get := func(name string) string {
			for i, c := range cols {
				if strings.EqualFold(c, name) {
					return vals[i].String
				}
			}
			return ""
		}
		typ, key, extra := get("type"), get("key"), get("Extra")
		if typ == "ALL" || key == "" {
			usesIdx = false
		}
		line := fmt.Sprintf("%s %s key=%s rows=%s", get("table"), typ, key, get("rows"))
		if strings.Contains(extra, "filesort") {
			line += " filesort"
		}
		lines = append(lines, line)
	}
	return lines, usesIdx && len(lines) > 0, rows.Err()
}

func summarize(name string, lat []time.Duration, plan []string, idx bool) Query {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Query{Name: name, Runs: len(lat), MedianMs: ms(lat[len(lat)/2]), P99Ms: ms(lat[min(len(lat)-1, len(lat)*99/100)]), Explain: plan, UsesIdx: idx}
}

// WriteTable writes the metadata scale results.
func (s *ScaleReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "metadata: %d file versions ingested in %.1f s: %.0f rows/s\n\n", s.Rows, s.IngestSecs, s.RowsPerSec)
	fmt.Fprintln(w, "| query | runs | median ms | p99 ms | index | plan |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, q := range s.Queries {
		idx := "yes"
		if !q.UsesIdx {
			idx = "NO"
		}
		_, err := fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %s | %s |\n", q.Name, q.Runs, q.MedianMs, q.P99Ms, idx, strings.Join(q.Explain, "; "))
		if err != nil {
			return err
		}
	}
	if len(s.Tables) > 0 {
		fmt.Fprintln(w)
		writeTableSizes(w, s.Tables)
		for _, t := range s.Tables {
			d, i := t.PerMillion()
			m := float64(CommonsVersions) / 1e6
			fmt.Fprintf(w, "\nat %d rows (Commons' versions; its distinct contents are nearly as many): %s about %.0f GiB of rows and %.0f GiB of indexes\n",
				CommonsVersions, t.Table, d*m/1024, i*m/1024)
		}
	}
	return nil
}

// addBackups gives every backed-up version of the wiki (ids up to maxID) a
// backups row on one made-up server, as the backup records it (one row per
// content), a quarter of them already checked by verify at times spread
// over a day, and links the versions to them.
func addBackups(ctx context.Context, db *sql.DB, wikiID, maxID int64) error {
	res, err := db.ExecContext(ctx, `INSERT INTO locations (endpoint) VALUES ('http://minio.bench.invalid:9000')`)
	if err != nil {
		return fmt.Errorf("add a location: %w", err)
	}
	loc, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("add a location: %w", err)
	}
	// In chunks, like the marking above.
	for lo := int64(0); lo <= maxID; lo += 100_000 {
		if _, err := db.ExecContext(ctx, `INSERT IGNORE INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key,
			encrypted, stored_size, backup_date, verified_at)
			SELECT wiki_id, sha256, sha1, size, ?, 'bench', LOWER(HEX(sha256)), 0, size, UTC_TIMESTAMP(),
				IF(id % 8 = 0, UTC_TIMESTAMP(6) - INTERVAL (id % 86400) SECOND, NULL)
			FROM files WHERE wiki_id = ? AND id > ? AND id <= ? AND backup_status = 'backedup'`, loc, wikiID, lo, lo+100_000); err != nil {
			return fmt.Errorf("add backups: %w", err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE files AS f JOIN backups AS b ON b.wiki_id = f.wiki_id AND b.sha256 = f.sha256
			SET f.backup_id = b.id WHERE f.wiki_id = ? AND f.id > ? AND f.id <= ? AND f.backup_status = 'backedup'`, wikiID, lo, lo+100_000); err != nil {
			return fmt.Errorf("link versions to their backups: %w", err)
		}
	}
	return nil
}
