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

// keepCopiesFrom is the number of files from which a class keeps every
// restored and downloaded copy until it is done (see runClass).
const keepCopiesFrom = 1000

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
	// --parallel and the raw transfers. 0 means DefaultWorkers.
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
	// Pairs, when above 0, compares backup with `rclone copy` into the
	// same servers and restore with `rclone copy` out of them, in Pairs
	// interleaved pairs each (see PairRow); the backup and restore rows
	// then show the median of their paired runs. 0 skips the peer.
	Pairs int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Row is one measurement. With Options.Pairs, the backup and restore rows
// are the run of median wall time among their paired runs (see PairRow).
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
	// Peer compares backup and restore with rclone (Options.Pairs).
	Peer []PairRow     `json:"peer,omitempty"`
	Took time.Duration `json:"took_ns"`
}

// NewReport starts a report of this machine: host, CPUs, start time and
// load average.
func NewReport(workers int) *Report {
	r := &Report{CPUs: runtime.NumCPU(), Workers: workers, Started: time.Now().UTC()}
	r.Host, _ = os.Hostname()
	r.Load[0] = LoadAverage()
	return r
}

// DefaultWorkers is the bench's concurrency on a machine of cpus CPUs with
// servers MinIO servers: two per CPU, rounded up to a multiple of servers.
// The peer runs one rclone per server with the same --transfers each
// (peerTransfers), so at this default both sides of a pair run exactly as
// many transfers at once; with 4 workers on 5 servers rclone would run 5.
func DefaultWorkers(cpus, servers int) int {
	w := 2 * max(1, cpus)
	if servers > 1 {
		w = (w + servers - 1) / servers * servers
	}
	return w
}

func (o *Options) defaults() {
	if len(o.Classes) == 0 {
		o.Classes = DefaultClasses
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers(runtime.NumCPU(), len(o.Services.Endpoints))
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
			for r := range max(1, o.Pairs) {
				wikis[roundWiki(typ, cl, r, o.Pairs)] = typ
			}
		}
	}
	if err := w.writeConfig(srv.URL+"/api.php", wikis); err != nil {
		return nil, err
	}
	for _, cl := range o.Classes {
		for _, typ := range o.Wikis {
			for r := range max(1, o.Pairs) {
				if err := w.register(ctx, roundWiki(typ, cl, r, o.Pairs), typ, srv.URL, corpus.ByClass(cl.Name())); err != nil {
					return nil, err
				}
			}
		}
	}
	start := time.Now()
	for _, cl := range o.Classes {
		rows, pairs, err := runClass(ctx, o, w, corpus, cl)
		rep.Rows = append(rep.Rows, rows...)
		rep.Peer = append(rep.Peer, pairs...)
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

// roundWiki is the wiki that round r of pairs paired backups backs up: for
// every round but the last a wiki of its own, with the class's versions
// pending, so that each round starts from the same state without undoing
// the one before (deduplication is per wiki); the last round backs up the
// class's own wiki, which restore, verify and the rest then read.
func roundWiki(typ string, cl Class, r, pairs int) string {
	if r >= pairs-1 {
		return wikiName(typ, cl)
	}
	return wikiName(typ, cl) + "r" + strconv.Itoa(r)
}

func runClass(ctx context.Context, o Options, w *world, corpus *Corpus, cl Class) ([]Row, []PairRow, error) {
	files := corpus.ByClass(cl.Name())
	bytes := int64(len(files)) * cl.Size
	row := func(op, wiki string, m measure, note string) Row {
		s := m.Elapsed.Seconds()
		return Row{Class: cl.Name(), Wiki: wiki, Op: op, Files: len(files), Bytes: bytes, Seconds: s,
			FilesPerSec: float64(len(files)) / s, MBPerSec: float64(bytes) / 1e6 / s,
			PeakRSSMiB: float64(m.MaxRSS) / (1 << 20), CPUSecs: m.CPU.Seconds(), Note: note}
	}
	var (
		rows  []Row
		pairs []PairRow
	)
	fmt.Fprintf(o.Log, "%s: hashing cost of md5 ...\n", cl.Name())
	hc, err := hashCost(ctx, o.CorpusDir, files, 3)
	if err != nil {
		return rows, pairs, err
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
	var peer *rclonePeer
	if o.Pairs > 0 {
		if peer, err = newRclonePeer(o, w, cl, files); err != nil {
			return rows, pairs, err
		}
	}

	fmt.Fprintf(o.Log, "%s: raw PUT of %d files ...\n", cl.Name(), len(files))
	m, err := raw("put", "")
	if err != nil {
		return rows, pairs, err
	}
	put := row("raw-put", "", m, "")
	rows = append(rows, put)
	var peerData string // where the last rclone upload left the class, for the downloads
	for ti, typ := range o.Wikis {
		backupRound := func(ctx context.Context, r int) (measure, error) {
			wiki := roundWiki(typ, cl, r, max(1, o.Pairs))
			fmt.Fprintf(o.Log, "%s: backup of %s ...\n", cl.Name(), wiki)
			m, err := backupOnce(ctx, o, w, wiki, len(files), wiki == wikiName(typ, cl))
			if err != nil || wiki == wikiName(typ, cl) {
				return m, err
			}
			// A later round backs up a wiki of its own: remove this one's
			// objects so that the servers hold the same for every round.
			return m, w.removeObjects(ctx, wiki+"/")
		}
		var ms []measure
		if peer == nil {
			m, err := backupRound(ctx, 0)
			if err != nil {
				return rows, pairs, err
			}
			ms = append(ms, m)
		} else {
			upload := func(ctx context.Context, r int) (measure, error) {
				prefix := peer.prefix(typ, r)
				fmt.Fprintf(o.Log, "%s: rclone copy into %d servers (%s) ...\n", cl.Name(), len(w.svc.Endpoints), prefix)
				m, err := peer.upload(ctx, prefix)
				if err != nil {
					return m, err
				}
				if ti == len(o.Wikis)-1 && r == o.Pairs-1 {
					peerData = prefix // kept for the downloads
					return m, nil
				}
				return m, w.removeObjects(ctx, prefix+"/")
			}
			peers, ours, err := interleave(ctx, o.Pairs, upload, backupRound)
			pr := pairRow(cl, len(files), typ, "backup", "rclone upload", peers, ours)
			if len(pr.Ratios) > 0 {
				pairs = append(pairs, pr)
			}
			if err != nil {
				return rows, pairs, err
			}
			fmt.Fprintf(o.Log, "%s\n", pr)
			ms = ours
		}
		r := row("backup", typ, medianRun(ms), "")
		r.Ratio = r.MBPerSec / put.MBPerSec
		rows = append(rows, r)
	}

	out := filepath.Join(w.dir, "restored", cl.Name())
	if err := os.MkdirAll(filepath.Join(out, "raw"), 0o755); err != nil {
		return rows, pairs, err
	}
	defer os.RemoveAll(out)
	// The copies of a class of many files stay until the class is done:
	// ext4 does not reuse an inode freed in the last minutes, and skips
	// each one while looking for a free inode, so removing thousands of
	// files made whichever run came next pay for them (up to 40 % of a
	// 64 KiB restore's CPU, in file creation). Large files are few, and
	// their copies take too much disk to keep.
	keep := len(files) >= keepCopiesFrom
	drop := func(dir string) {
		if !keep {
			os.RemoveAll(dir)
		}
	}
	fmt.Fprintf(o.Log, "%s: raw GET of %d files ...\n", cl.Name(), len(files))
	if m, err = raw("get", filepath.Join(out, "raw")); err != nil {
		return rows, pairs, err
	}
	get := row("raw-get", "", m, "")
	rows = append(rows, get)
	drop(filepath.Join(out, "raw"))
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		restoreRound := func(ctx context.Context, r int) (measure, error) {
			dir := filepath.Join(out, fmt.Sprintf("%s-%d", typ, r))
			defer drop(dir)
			fmt.Fprintf(o.Log, "%s: restore of %s ...\n", cl.Name(), wiki)
			return restoreClass(ctx, o, w, wiki, dir, files, r == 0)
		}
		var ms []measure
		if peer == nil {
			m, err := restoreRound(ctx, 0)
			if err != nil {
				return rows, pairs, err
			}
			ms = append(ms, m)
		} else {
			download := func(ctx context.Context, r int) (measure, error) {
				dir := filepath.Join(out, fmt.Sprintf("rclone-%s-%d", typ, r))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return measure{}, err
				}
				defer drop(dir)
				fmt.Fprintf(o.Log, "%s: rclone copy out of %d servers ...\n", cl.Name(), len(w.svc.Endpoints))
				return peer.download(ctx, peerData, dir)
			}
			peers, ours, err := interleave(ctx, o.Pairs, download, restoreRound)
			pr := pairRow(cl, len(files), typ, "restore", "rclone download", peers, ours)
			if len(pr.Ratios) > 0 {
				pairs = append(pairs, pr)
			}
			if err != nil {
				return rows, pairs, err
			}
			fmt.Fprintf(o.Log, "%s\n", pr)
			ms = ours
		}
		rr := row("restore", typ, medianRun(ms), "")
		rr.Ratio = rr.MBPerSec / get.MBPerSec
		rows = append(rows, rr)
	}
	if peerData != "" {
		if err := w.removeObjects(ctx, peerData+"/"); err != nil {
			return rows, pairs, err
		}
	}
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		fmt.Fprintf(o.Log, "%s: verify of %s ...\n", cl.Name(), wiki)
		m, err := verifyClass(ctx, o, w, wiki, len(files))
		if err != nil {
			return rows, pairs, err
		}
		vr := row("verify", typ, m, "")
		vr.Ratio = vr.MBPerSec / get.MBPerSec
		rows = append(rows, vr)
	}
	prod, err := productionRows(ctx, o, w, cl, files, row)
	rows = append(rows, prod...)
	if err != nil {
		return rows, pairs, err
	}
	moved, err := rebalanceClass(ctx, o, w, cl, len(files), raw, row)
	return append(rows, moved...), pairs, err
}

// backupOnce runs `mediabackups backup` of wiki at the bench's concurrency
// (with profiles when profile and o.ProfileDir say so) and checks that it
// backed up every one of its files.
func backupOnce(ctx context.Context, o Options, w *world, wiki string, files int, profile bool) (measure, error) {
	args := []string{"--config", w.config, "--json", "backup", "--wiki", wiki, "--workers", strconv.Itoa(o.Workers)}
	if profile && o.ProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(o.ProfileDir, "backup-"+wiki+".cpu.pprof"),
			"--memprofile", filepath.Join(o.ProfileDir, "backup-"+wiki+".heap.pprof"))
	}
	m, err := runChild(ctx, o.Binary, args...)
	if err != nil {
		return m, err
	}
	var out struct{ Total backup.Stats }
	if err := json.Unmarshal(m.Stdout, &out); err != nil {
		return m, fmt.Errorf("backup of %s: read its JSON output: %w", wiki, err)
	}
	if out.Total.BackedUp != files || out.Total.Errors != 0 {
		return m, fmt.Errorf("backup of %s: backed up %d of %d files (%d errors): the measurement is void", wiki, out.Total.BackedUp, files, out.Total.Errors)
	}
	return m, nil
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
