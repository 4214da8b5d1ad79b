package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// SwiftAccess is a Swift account the audit bench may create containers
// in: it creates only "mbbench-audit<random>-local-public.*" and removes
// them at the end.
type SwiftAccess struct {
	AuthURL string
	User    string
	Key     string
}

// AuditScaleOptions configures AuditScale.
type AuditScaleOptions struct {
	// Binary is the mediabackups executable whose `audit` is timed.
	Binary   string
	Services Services // the MariaDB account that may create databases
	Swift    SwiftAccess
	// Objects is how many objects (and versions) to make; default 100 000,
	// spread by MediaWiki's hash over the 256 shards of a public zone.
	Objects int
	// Parallel is audit --parallel; default audit.DefaultParallel.
	Parallel int
	// Legacy also times the first audit of versions backed up before md5s
	// were recorded: one HEAD per object.
	Legacy bool
	Keep   bool
	Dir    string
	Log    io.Writer
}

// AuditScaleReport is the outcome of AuditScale.
type AuditScaleReport struct {
	Objects    int             `json:"objects"`
	Containers int             `json:"containers"`
	Parallel   int             `json:"parallel"`
	SetupSecs  float64         `json:"setup_seconds"`
	Runs       []AuditScaleRun `json:"runs"`
}

// AuditScaleRun is one timed `mediabackups audit`.
type AuditScaleRun struct {
	Name          string  `json:"name"`
	Seconds       float64 `json:"seconds"`
	ObjectsPerSec float64 `json:"objects_per_s"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	CPUSecs       float64 `json:"cpu_s"`
	// Commons110M is how long the same run would take over Commons' 110 M
	// objects at this rate.
	Commons110MHours float64 `json:"commons_110m_hours"`
}

// commonsObjects is the size of Commons' production, for the projection.
const commonsObjects = 110e6

// AuditScale makes Objects small objects in the 256 shard containers of a
// synthetic wiki's public zone in a real Swift (bulk uploads of tar
// archives), registers a version for each in a database of its own with
// its md5 as the backup records it, and times `mediabackups audit` of it
// as a child process: the first audit (it records every version's state),
// a second one of the unchanged wiki (listings only, nothing written) and,
// with Legacy, a first audit of versions without md5s (a HEAD each, and
// the md5s recorded). Each run must find production whole, or the
// measurement is void. The containers and the database are removed at
// the end unless Keep.
func AuditScale(ctx context.Context, o AuditScaleOptions) (_ *AuditScaleReport, err error) {
	if o.Objects <= 0 {
		o.Objects = 100_000
	}
	if o.Parallel <= 0 {
		o.Parallel = audit.DefaultParallel
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Binary == "" || o.Swift.AuthURL == "" {
		return nil, errors.New("audit bench: needs the mediabackups binary and a Swift")
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "mbbench-audit-"); err != nil {
			return nil, fmt.Errorf("audit bench: %w", err)
		}
		if !o.Keep {
			defer os.RemoveAll(o.Dir)
		}
	}
	rep := &AuditScaleReport{Objects: o.Objects, Parallel: o.Parallel}
	start := time.Now()
	suffix := randomSuffix()
	layout := mediawiki.Containers{Project: benchPrefix, Lang: "audit" + suffix, PublicShards: true}

	// The database.
	cfg, err := mysql.ParseDSN(o.Services.DSN)
	if err != nil {
		return nil, fmt.Errorf("bench database DSN: %w", err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	dbName := benchPrefix + "_audit_" + suffix
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
		return nil, fmt.Errorf("create bench database %s: %w", dbName, err)
	}
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "kept database %s\n", dbName)
			return
		}
		admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+dbName)
	}()
	cfg.DBName = dbName
	st, err := metadata.Open(ctx, cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	const wiki = "benchaudit"
	wikiID, err := st.EnsureWiki(ctx, wiki, "public")
	if err != nil {
		return nil, err
	}

	// Swift.
	conn := &ncw.Connection{AuthUrl: o.Swift.AuthURL, UserName: o.Swift.User, ApiKey: o.Swift.Key, UserAgent: "mediabackups-bench"}
	if err := conn.Authenticate(ctx); err != nil {
		return nil, fmt.Errorf("audit bench: log in to Swift at %s: %w", o.Swift.AuthURL, err)
	}
	prefix := layout.Project + "-" + layout.Lang + "-local-"
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "kept the Swift containers %s*\n", prefix)
			return
		}
		if cerr := removeSwiftContainers(context.WithoutCancel(ctx), conn, prefix); cerr != nil && err == nil {
			err = cerr
		}
	}()
	fmt.Fprintf(o.Log, "audit: making %d objects in %s* ...\n", o.Objects, prefix)
	versions, containers, err := makeAuditObjects(ctx, conn, layout, o.Objects, o.Log)
	if err != nil {
		return nil, err
	}
	rep.Containers = containers
	fmt.Fprintf(o.Log, "audit: registering %d versions ...\n", len(versions))
	if err := registerAuditVersions(ctx, st, wikiID, versions); err != nil {
		return nil, err
	}
	rep.SetupSecs = time.Since(start).Seconds()

	// The config of the child.
	keyFile := filepath.Join(o.Dir, "swift-key")
	if err := os.WriteFile(keyFile, []byte(o.Swift.Key+"\n"), 0o600); err != nil {
		return nil, err
	}
	endpoints := o.Services.Endpoints
	if len(endpoints) == 0 {
		endpoints = []string{"http://127.0.0.1:9"} // the audit never calls MinIO
	}
	c := &config.Config{
		Datacenter: "bench",
		Metadata:   config.Metadata{DSN: cfg.FormatDSN()},
		Storage:    config.Storage{Bucket: benchPrefix + "-unused", Endpoints: config.ActiveEndpoints(endpoints...)},
		UserAgent:  "mediabackups-bench/1.0 (benchmark; root@localhost)",
		Wikis: []config.Wiki{{Name: wiki, API: "http://127.0.0.1:9/api.php", Type: "public", Project: layout.Project, Lang: layout.Lang,
			PublicShards: true, Production: &config.Production{Type: config.ProductionSwift, AuthURL: o.Swift.AuthURL,
				User: o.Swift.User, KeyFile: keyFile}}},
	}
	b, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(o.Dir, "mediabackups.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	timed := func(name string) error {
		fmt.Fprintf(o.Log, "audit: %s ...\n", name)
		m, err := runChild(ctx, o.Binary, "--config", cfgPath, "--json", "audit", "--wiki", wiki, "--parallel", strconv.Itoa(o.Parallel))
		if err != nil {
			return fmt.Errorf("audit bench, %s: %w", name, err)
		}
		r, err := audit.ReadReport(bytes.NewReader(m.Stdout))
		if err != nil {
			return fmt.Errorf("audit bench, %s: %w", name, err)
		}
		if r.Versions != int64(len(versions)) || len(r.Problems) != 0 || r.SizeOnly != 0 {
			return fmt.Errorf("audit bench, %s: %d versions compared (want %d), %d problems, %d by size only: the measurement is void",
				name, r.Versions, len(versions), len(r.Problems), r.SizeOnly)
		}
		s := m.Elapsed.Seconds()
		rate := float64(o.Objects) / s
		rep.Runs = append(rep.Runs, AuditScaleRun{Name: name, Seconds: s, ObjectsPerSec: rate, PeakRSSMiB: float64(m.MaxRSS) / (1 << 20),
			CPUSecs: m.CPU.Seconds(), Commons110MHours: commonsObjects / rate / 3600})
		return nil
	}
	if err := timed("first audit (md5s recorded by the backup)"); err != nil {
		return rep, err
	}
	if err := timed("next audit, nothing changed (listings only)"); err != nil {
		return rep, err
	}
	if o.Legacy {
		if _, err := st.DB().ExecContext(ctx, `UPDATE files SET md5 = NULL, audit_status = NULL, audit_date = NULL, audit_detail = NULL
			WHERE wiki_id = ?`, wikiID); err != nil {
			return rep, err
		}
		if err := timed("first audit of versions without md5 (a HEAD each)"); err != nil {
			return rep, err
		}
		if err := timed("next audit (the md5s learned)"); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// auditVersion is one synthetic version and its object's bytes' hashes.
type auditVersion struct {
	title, container, path string
	sha1, md5              string
}

// auditBody is the 64 bytes of object i.
func auditBody(i int) []byte {
	a := sha256.Sum256([]byte("mediabackups audit bench " + strconv.Itoa(i)))
	b := sha256.Sum256(a[:])
	return append(a[:], b[:]...)
}

// makeAuditObjects uploads n objects, named and sharded as MediaWiki names
// current versions, in tar archives of up to 5 000 that Swift's bulk
// middleware extracts (4 at a time), and returns their versions and how
// many containers they went to.
func makeAuditObjects(ctx context.Context, conn *ncw.Connection, layout mediawiki.Containers, n int, log io.Writer) ([]auditVersion, int, error) {
	versions := make([]auditVersion, n)
	shards := map[string]bool{}
	for i := range versions {
		title := fmt.Sprintf("Bench_audit_%07d.png", i)
		c, p := layout.Public(title)
		body := auditBody(i)
		s, m := sha1.Sum(body), md5.Sum(body)
		versions[i] = auditVersion{title: title, container: c, path: p, sha1: hex.EncodeToString(s[:]), md5: hex.EncodeToString(m[:])}
		shards[c] = true
	}
	// Containers first: an extracted archive may not create more than a
	// few (max_containers_per_extraction).
	for c := range shards {
		if err := conn.ContainerCreate(ctx, c, nil); err != nil {
			return nil, 0, fmt.Errorf("audit bench: create container %s: %w", c, err)
		}
	}
	const batch = 5000
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		done    int
		started = time.Now()
		sem     = make(chan struct{}, 4)
	)
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := lo; i < hi; i++ {
			v := versions[i]
			body := auditBody(i)
			if err := tw.WriteHeader(&tar.Header{Name: v.container + "/" + v.path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
				return nil, 0, err
			}
			if _, err := tw.Write(body); err != nil {
				return nil, 0, err
			}
		}
		if err := tw.Close(); err != nil {
			return nil, 0, err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := conn.BulkUpload(ctx, "", &buf, ncw.UploadTar, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("audit bench: bulk upload of objects %d-%d: %w", lo, hi-1, err))
			case len(res.Errors) > 0 || res.NumberCreated != int64(hi-lo):
				errs = append(errs, fmt.Errorf("audit bench: bulk upload of objects %d-%d: %d created, errors %v", lo, hi-1, res.NumberCreated, res.Errors))
			default:
				done += hi - lo
				fmt.Fprintf(log, "audit: %d objects made (%.0f/s)\n", done, float64(done)/time.Since(started).Seconds())
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	return versions, len(shards), nil
}

// registerAuditVersions records the versions as current versions of the
// wiki, each with its md5 as the backup records it.
func registerAuditVersions(ctx context.Context, st *metadata.Store, wikiID int64, versions []auditVersion) error {
	up := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	md5s := make(map[string]string, len(versions))
	batch := make([]metadata.File, 0, 500)
	for i, v := range versions {
		md5s[v.title] = v.md5
		batch = append(batch, metadata.File{Title: v.title, Container: v.container, Path: v.path, SHA1: v.sha1, Size: 64,
			MIME: "image/png", Status: metadata.Public, UploadDate: up})
		if len(batch) == cap(batch) || i == len(versions)-1 {
			if _, err := st.SyncVersions(ctx, wikiID, batch, "bench"); err != nil {
				return fmt.Errorf("audit bench: register versions: %w", err)
			}
			batch = batch[:0]
		}
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT id, title FROM files WHERE wiki_id = ?`, wikiID)
	if err != nil {
		return err
	}
	type idMD5 struct {
		id  int64
		md5 []byte
	}
	var all []idMD5
	for rows.Next() {
		var id int64
		var title string
		if err := rows.Scan(&id, &title); err != nil {
			rows.Close()
			return err
		}
		raw, _ := hex.DecodeString(md5s[title])
		all = append(all, idMD5{id, raw})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	for lo := 0; lo < len(all); lo += 1000 {
		chunk := all[lo:min(len(all), lo+1000)]
		args := make([]any, 0, 2*len(chunk))
		for _, x := range chunk {
			args = append(args, x.id, x.md5)
		}
		q := `UPDATE files AS f JOIN (` + strings.TrimSuffix(strings.Repeat(`SELECT ? AS id, ? AS md5 UNION ALL `, len(chunk)), ` UNION ALL `) +
			`) AS v ON f.id = v.id SET f.md5 = v.md5`
		if _, err := st.DB().ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("audit bench: record md5s: %w", err)
		}
	}
	return nil
}

// removeSwiftContainers empties (bulk deletes of 1 000) and removes every
// container whose name starts with prefix, which must be a bench one.
func removeSwiftContainers(ctx context.Context, conn *ncw.Connection, prefix string) error {
	if !strings.HasPrefix(prefix, benchPrefix+"-") {
		return fmt.Errorf("refusing to remove the Swift containers %s*: not a bench prefix", prefix)
	}
	names, err := conn.ContainerNamesAll(ctx, &ncw.ContainersOpts{Prefix: prefix})
	if err != nil {
		return fmt.Errorf("audit bench: list %s*: %w", prefix, err)
	}
	var errs []error
	for _, c := range names {
		objs, err := conn.ObjectNamesAll(ctx, c, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for lo := 0; lo < len(objs); lo += 1000 {
			if _, err := conn.BulkDelete(ctx, c, objs[lo:min(len(objs), lo+1000)]); err != nil {
				errs = append(errs, fmt.Errorf("audit bench: empty %s: %w", c, err))
			}
		}
		if err := conn.ContainerDelete(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("audit bench: remove %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// WriteTable writes the audit bench's results.
func (r *AuditScaleReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "audit: %d objects in %d containers (made and registered in %.0f s), --parallel %d\n\n",
		r.Objects, r.Containers, r.SetupSecs, r.Parallel)
	fmt.Fprintln(w, "| run | seconds | objects/s | peak RSS MiB | CPU s | 110 M objects at this rate |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, x := range r.Runs {
		if _, err := fmt.Fprintf(w, "| %s | %.1f | %.0f | %.0f | %.1f | %.1f h |\n", x.Name, x.Seconds, x.ObjectsPerSec, x.PeakRSSMiB,
			x.CPUSecs, x.Commons110MHours); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *AuditScaleReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
