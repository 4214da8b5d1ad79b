package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/backup"
)

// DefaultClasses is the corpus the issue asks for: many small files, some
// medium ones, a few large ones.
var DefaultClasses = []Class{{2000, 64 << 10}, {500, 1 << 20}, {8, 64 << 20}}

// HugeClass is the single 4 GiB file --huge adds.
var HugeClass = Class{1, 4 << 30}

// Options configures Run.
type Options struct {
	// Binary is the mediabackups executable the children run (the server,
	// the raw transfers, backup and restore).
	Binary   string
	Services Services
	Classes  []Class
	// Workers is the concurrency of every runner: backup --workers, restore
	// --parallel and the raw transfers.
	Workers int
	// Dir holds the run's corpus, config and restored files; default a new
	// directory under os.TempDir(). CorpusDir, when set, is where the
	// corpus is generated (or reused, if it matches).
	Dir       string
	CorpusDir string
	// Keep leaves the database, the bucket and Dir in place.
	Keep bool
	// ProfileDir, when set, receives CPU and heap profiles of every backup
	// child (backup-<wiki>.cpu.pprof, .heap.pprof).
	ProfileDir string
	// Wikis limits the wiki types run: "public", "private" (default both).
	Wikis []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Row is one measurement.
type Row struct {
	Class       string  `json:"class"`
	Wiki        string  `json:"wiki"` // public, private, or "" for a raw ceiling
	Op          string  `json:"op"`   // hash ..., raw-put, backup, raw-get, restore, verify, prod-rclone, to-production, raw-move, rebalance
	Files       int     `json:"files"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	FilesPerSec float64 `json:"files_per_s"`
	MBPerSec    float64 `json:"mb_per_s"` // 10^6 bytes of content per second
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	// CPUSecs is the user and system time of the child itself (not of the
	// servers it talks to).
	CPUSecs float64 `json:"cpu_s"`
	// Ratio is MBPerSec over the ceiling's of the same class (raw-put for
	// backup, raw-get for restore and verify, prod-rclone for
	// to-production, raw-move for rebalance); 0 for the ceilings
	// themselves.
	Ratio float64 `json:"ratio,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Report is the outcome of a Run.
type Report struct {
	Host    string    `json:"host"`
	CPUs    int       `json:"cpus"`
	Workers int       `json:"workers"`
	Started time.Time `json:"started"`
	// Load is the machine's load average (1, 5, 15 minutes) when the
	// bench started and when it ended: other work on the machine changes
	// every figure.
	Load       [2][3]float64     `json:"load_average"`
	Rows       []Row             `json:"rows"`
	Scale      *WikiScaleReport  `json:"scale,omitempty"`
	Horizontal *HorizontalReport `json:"horizontal,omitempty"`
	Metadata   *ScaleReport      `json:"metadata,omitempty"`
	Audit      *AuditScaleReport `json:"audit,omitempty"`
	Took       time.Duration     `json:"took_ns"`
}

// NewReport starts a report of this machine: host, CPUs, start time and
// load average.
func NewReport(workers int) *Report {
	r := &Report{CPUs: runtime.NumCPU(), Workers: workers, Started: time.Now().UTC()}
	r.Host, _ = os.Hostname()
	r.Load[0] = LoadAverage()
	return r
}

func (o *Options) defaults() {
	if len(o.Classes) == 0 {
		o.Classes = DefaultClasses
	}
	if o.Workers <= 0 {
		o.Workers = 2 * runtime.NumCPU()
	}
	if len(o.Wikis) == 0 {
		o.Wikis = []string{"public", "private"}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Run generates the corpus, sets up a database and bucket, measures every
// class (see the package documentation) and cleans up. It fails if a backup
// or restore does not process every file of its class, so a report never
// shows a speed of work that was not done.
func Run(ctx context.Context, o Options) (_ *Report, err error) {
	o.defaults()
	if o.Binary == "" {
		return nil, fmt.Errorf("bench: no mediabackups binary to run")
	}
	names := map[string]bool{}
	for _, c := range o.Classes {
		if names[c.Name()] {
			return nil, fmt.Errorf("bench: size class %s is given twice", c.Name())
		}
		names[c.Name()] = true
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "mbbench-"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if !o.Keep {
			defer os.RemoveAll(o.Dir)
		}
	}
	if o.CorpusDir == "" {
		o.CorpusDir = filepath.Join(o.Dir, "corpus")
	}
	rep := NewReport(o.Workers)

	fmt.Fprintf(o.Log, "generating corpus in %s ...\n", o.CorpusDir)
	corpus, err := GenerateCorpus(ctx, o.CorpusDir, o.Classes, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, o.Binary, o.CorpusDir)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	w, err := newWorld(ctx, o.Services, o.Dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "kept database %s, bucket %s and %s\n", w.dbName, w.bucket, o.Dir)
			w.store.Close()
			return
		}
		if cerr := w.cleanup(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	wikis := map[string]string{}
	for _, cl := range o.Classes {
		for _, typ := range o.Wikis {
			wikis[wikiName(typ, cl)] = typ
		}
	}
	if err := w.writeConfig(srv.URL+"/api.php", wikis); err != nil {
		return nil, err
	}
	for _, cl := range o.Classes {
		for _, typ := range o.Wikis {
			if err := w.register(ctx, wikiName(typ, cl), typ, srv.URL, corpus.ByClass(cl.Name())); err != nil {
				return nil, err
			}
		}
	}
	start := time.Now()
	for _, cl := range o.Classes {
		rows, err := runClass(ctx, o, w, corpus, cl)
		rep.Rows = append(rep.Rows, rows...)
		if err != nil {
			return rep, err
		}
	}
	rep.Took = time.Since(start)
	return rep, nil
}

func wikiName(typ string, cl Class) string {
	return "bench" + typ[:3] + strings.ToLower(cl.Name())
}

func runClass(ctx context.Context, o Options, w *world, corpus *Corpus, cl Class) ([]Row, error) {
	files := corpus.ByClass(cl.Name())
	bytes := int64(len(files)) * cl.Size
	row := func(op, wiki string, m measure, note string) Row {
		s := m.Elapsed.Seconds()
		return Row{Class: cl.Name(), Wiki: wiki, Op: op, Files: len(files), Bytes: bytes, Seconds: s,
			FilesPerSec: float64(len(files)) / s, MBPerSec: float64(bytes) / 1e6 / s,
			PeakRSSMiB: float64(m.MaxRSS) / (1 << 20), CPUSecs: m.CPU.Seconds(), Note: note}
	}
	var rows []Row
	fmt.Fprintf(o.Log, "%s: hashing cost of md5 ...\n", cl.Name())
	hc, err := hashCost(ctx, o.CorpusDir, files, 3)
	if err != nil {
		return rows, err
	}
	for _, r := range hc {
		r.Class = cl.Name()
		rows = append(rows, r)
	}
	workers := strconv.Itoa(o.Workers)
	raw := func(op, out string) (measure, error) {
		args := []string{"bench", "raw", "--op", op, "--corpus", o.CorpusDir, "--class", cl.Name(),
			"--bucket", w.bucket, "--endpoints", strings.Join(w.svc.Endpoints, ","),
			"--access-key", w.svc.Creds.AccessKey, "--secret-key-file", filepath.Join(w.dir, "minio-secret"), "--workers", workers}
		if out != "" {
			args = append(args, "--out", out)
		}
		return runChild(ctx, o.Binary, args...)
	}

	fmt.Fprintf(o.Log, "%s: raw PUT of %d files ...\n", cl.Name(), len(files))
	m, err := raw("put", "")
	if err != nil {
		return rows, err
	}
	put := row("raw-put", "", m, "")
	rows = append(rows, put)
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		fmt.Fprintf(o.Log, "%s: backup of %s ...\n", cl.Name(), wiki)
		args := []string{"--config", w.config, "--json", "backup", "--wiki", wiki, "--workers", workers}
		if o.ProfileDir != "" {
			args = append(args, "--cpuprofile", filepath.Join(o.ProfileDir, "backup-"+wiki+".cpu.pprof"),
				"--memprofile", filepath.Join(o.ProfileDir, "backup-"+wiki+".heap.pprof"))
		}
		m, err := runChild(ctx, o.Binary, args...)
		if err != nil {
			return rows, err
		}
		var out struct{ Total backup.Stats }
		if err := json.Unmarshal(m.Stdout, &out); err != nil {
			return rows, fmt.Errorf("backup of %s: read its JSON output: %w", wiki, err)
		}
		if out.Total.BackedUp != len(files) || out.Total.Errors != 0 {
			return rows, fmt.Errorf("backup of %s: backed up %d of %d files (%d errors): the measurement is void", wiki, out.Total.BackedUp, len(files), out.Total.Errors)
		}
		r := row("backup", typ, m, "")
		r.Ratio = r.MBPerSec / put.MBPerSec
		rows = append(rows, r)
	}

	out := filepath.Join(w.dir, "restored", cl.Name())
	if err := os.MkdirAll(filepath.Join(out, "raw"), 0o755); err != nil {
		return rows, err
	}
	defer os.RemoveAll(out)
	fmt.Fprintf(o.Log, "%s: raw GET of %d files ...\n", cl.Name(), len(files))
	if m, err = raw("get", filepath.Join(out, "raw")); err != nil {
		return rows, err
	}
	get := row("raw-get", "", m, "")
	rows = append(rows, get)
	os.RemoveAll(filepath.Join(out, "raw"))
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		fmt.Fprintf(o.Log, "%s: restore of %s ...\n", cl.Name(), wiki)
		r, err := restoreClass(ctx, o, w, wiki, filepath.Join(out, typ), files)
		if err != nil {
			return rows, err
		}
		if r == nil {
			continue
		}
		rr := row("restore", typ, r.m, r.note)
		rr.Ratio = rr.MBPerSec / get.MBPerSec
		rows = append(rows, rr)
		os.RemoveAll(filepath.Join(out, typ))
	}
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		fmt.Fprintf(o.Log, "%s: verify of %s ...\n", cl.Name(), wiki)
		m, err := verifyClass(ctx, o, w, wiki, len(files))
		if err != nil {
			return rows, err
		}
		vr := row("verify", typ, m, "")
		vr.Ratio = vr.MBPerSec / get.MBPerSec
		rows = append(rows, vr)
	}
	prod, err := productionRows(ctx, o, w, cl, files, row)
	rows = append(rows, prod...)
	if err != nil {
		return rows, err
	}
	moved, err := rebalanceClass(ctx, o, w, cl, len(files), raw, row)
	return append(rows, moved...), err
}

// verifyClass runs `mediabackups verify` over every object of wiki, with
// no rate limit, at the bench's concurrency, and checks that it found each
// one intact. (--sample 1 reads every object, like --all, without the
// listing of the buckets for orphans, which is not what is measured.)
func verifyClass(ctx context.Context, o Options, w *world, wiki string, files int) (measure, error) {
	m, err := runChild(ctx, o.Binary, "--config", w.config, "--json", "verify", "--wiki", wiki, "--sample", "1",
		"--max-rate", "0", "--parallel", strconv.Itoa(o.Workers))
	if err != nil {
		return m, err
	}
	var out struct {
		Total struct{ Objects, OK int }
	}
	if err := json.Unmarshal(m.Stdout, &out); err != nil {
		return m, fmt.Errorf("verify of %s: read its JSON output: %w", wiki, err)
	}
	if out.Total.Objects != files || out.Total.OK != files {
		return m, fmt.Errorf("verify of %s: %d of %d objects checked, %d ok: the measurement is void", wiki, out.Total.Objects, files, out.Total.OK)
	}
	return m, nil
}

// rebalanceClass measures the raw move ceiling (GET from a server, PUT to
// the next one, with plain minio-go) and then `rebalance --execute` of each
// wiki of the class under the rotated config, which gives every object the
// next server as its home: the same moves. A rebalance that does not move
// every object voids the measurement.
func rebalanceClass(ctx context.Context, o Options, w *world, cl Class, files int,
	raw func(op, out string) (measure, error), row func(op, wiki string, m measure, note string) Row) ([]Row, error) {
	if len(w.svc.Endpoints) < 2 {
		return nil, nil // nowhere to move to
	}
	fmt.Fprintf(o.Log, "%s: raw move of %d files ...\n", cl.Name(), files)
	m, err := raw("move", "")
	if err != nil {
		return nil, err
	}
	ceiling := row("raw-move", "", m, "")
	rows := []Row{ceiling}
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		fmt.Fprintf(o.Log, "%s: rebalance of %s ...\n", cl.Name(), wiki)
		m, err := runChild(ctx, o.Binary, "--config", w.rotated, "--json", "rebalance", "--execute", "--wiki", wiki,
			"--parallel", strconv.Itoa(o.Workers))
		if err != nil {
			return rows, err
		}
		var out struct {
			Moved  []struct{ Objects int }
			Failed []json.RawMessage
		}
		if err := json.Unmarshal(m.Stdout, &out); err != nil {
			return rows, fmt.Errorf("rebalance of %s: read its JSON output: %w", wiki, err)
		}
		n := 0
		for _, f := range out.Moved {
			n += f.Objects
		}
		if n != files || len(out.Failed) > 0 {
			return rows, fmt.Errorf("rebalance of %s: moved %d of %d objects (%d failed): the measurement is void", wiki, n, files, len(out.Failed))
		}
		r := row("rebalance", typ, m, "")
		r.Ratio = r.MBPerSec / ceiling.MBPerSec
		rows = append(rows, r)
	}
	return rows, nil
}
