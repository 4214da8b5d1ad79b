package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mediabackups/mediabackups/backup"
)

// HorizontalOptions configures Horizontal.
type HorizontalOptions struct {
	// Binary is the mediabackups executable the children run.
	Binary   string
	Services Services
	// Processes are the numbers of backup processes to run at once on the
	// same pending set, e.g. 1, 2, 4, 8.
	Processes []int
	// Class is the corpus every count backs up (default 4000 × 64 KiB).
	Class Class
	// Workers is --workers of each process (default 2 × CPUs).
	Workers int
	// Dir holds the corpus and the config; default a new directory.
	Dir       string
	CorpusDir string
	Keep      bool
	Log       io.Writer
}

// DefaultHorizontalClass is the corpus of the horizontal scale run: small
// files, where the per-file work (claim, record, dedup check) weighs most.
var DefaultHorizontalClass = Class{4000, 64 << 10}

// HorizontalRow is one count of backup processes.
type HorizontalRow struct {
	Processes   int     `json:"processes"`
	Workers     int     `json:"workers_per_process"`
	Files       int     `json:"files"`
	Seconds     float64 `json:"seconds"`
	FilesPerSec float64 `json:"files_per_s"`
	MBPerSec    float64 `json:"mb_per_s"`
	// Speedup is FilesPerSec over that of the first count measured.
	Speedup    float64 `json:"speedup"`
	PeakRSSMiB float64 `json:"peak_rss_mib"` // the largest of the processes
	// CPU seconds while the processes ran: the backups (all of them, from
	// their rusage), and the local MariaDB, MinIO servers and production
	// server (/proc; -1 when not a local process).
	BackupCPUSecs  float64 `json:"backup_cpu_s"`
	MariaDBCPUSecs float64 `json:"mariadb_cpu_s"`
	MinIOCPUSecs   float64 `json:"minio_cpu_s"`
	ServerCPUSecs  float64 `json:"production_cpu_s"`
	// MachineBusy is the busy share of all the machine's cores, 0..1,
	// whoever used them.
	MachineBusy float64 `json:"machine_busy"`
	// FilesPerCPUSec is files per CPU second of the whole pipeline (the
	// backups, MariaDB, MinIO, production): how many files/s each core a
	// CPU-bound deployment gives it buys. 0 when a part is unknown.
	FilesPerCPUSec float64 `json:"files_per_cpu_s"`
	// RowLockWaits and RowLockWaitSecs are InnoDB's row lock waits while
	// the processes ran (the whole server's).
	RowLockWaits    int64   `json:"row_lock_waits"`
	RowLockWaitSecs float64 `json:"row_lock_wait_s"`
	// Bound says what limited this count, and how that is known.
	Bound string `json:"bound"`
}

// HorizontalReport is the outcome of Horizontal.
type HorizontalReport struct {
	Class string          `json:"class"`
	Cores int             `json:"cores"`
	Rows  []HorizontalRow `json:"rows"`
	// Flattens is the first count that added less than 10% of files/s over
	// the count before it (0: it never flattened).
	Flattens int `json:"flattens_at,omitempty"`
}

// Horizontal backs up the same corpus with 1, 2, 4, ... `mediabackups
// backup` processes at once (each count on a wiki of its own, all files
// pending), served by the bench's production server, and reports files/s
// per count with the CPU of every process involved, so that an operator
// can see where adding workers stops paying and why. It fails when a count
// does not back up every file.
func Horizontal(ctx context.Context, o HorizontalOptions, cores int) (_ *HorizontalReport, err error) {
	if o.Class.Count == 0 {
		o.Class = DefaultHorizontalClass
	}
	if o.Workers <= 0 {
		o.Workers = 2 * cores
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "mbbench-horizontal-"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if !o.Keep {
			defer os.RemoveAll(o.Dir)
		}
	}
	if o.CorpusDir == "" {
		o.CorpusDir = filepath.Join(o.Dir, "corpus")
	}
	fmt.Fprintf(o.Log, "horizontal: generating %s in %s ...\n", o.Class, o.CorpusDir)
	corpus, err := GenerateCorpus(ctx, o.CorpusDir, []Class{o.Class}, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	files := corpus.ByClass(o.Class.Name())
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
	name := func(p int) string { return "benchhorizontal" + strconv.Itoa(p) }
	for _, p := range o.Processes {
		wikis[name(p)] = "public"
	}
	if err := w.writeConfig(srv.URL+"/api.php", wikis); err != nil {
		return nil, err
	}
	for _, p := range o.Processes {
		if err := w.register(ctx, name(p), "public", srv.URL, files); err != nil {
			return nil, err
		}
	}
	meter := newCPUMeter(map[string][]string{"mariadb": {o.Services.dbAddr()}, "minio": o.Services.Endpoints})
	meter.add("production", srv.PID())

	rep := &HorizontalReport{Class: o.Class.String(), Cores: cores}
	bytes := int64(len(files)) * o.Class.Size
	for _, p := range o.Processes {
		fmt.Fprintf(o.Log, "horizontal: %d backup processes × %d workers on %d files ...\n", p, o.Workers, len(files))
		waits, waitMs, err := rowLocks(ctx, w.store.DB())
		if err != nil {
			return rep, err
		}
		before := meter.sample()
		start := time.Now()
		ms := make([]measure, p)
		errs := make([]error, p)
		var wg sync.WaitGroup
		for k := range p {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ms[k], errs[k] = runChild(ctx, o.Binary, "--config", w.config, "--json", "backup", "--wiki", name(p),
					"--workers", strconv.Itoa(o.Workers))
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		d := meter.since(before)
		waits2, waitMs2, err := rowLocks(ctx, w.store.DB())
		if err != nil {
			return rep, err
		}
		row := HorizontalRow{Processes: p, Workers: o.Workers, Files: len(files), Seconds: elapsed.Seconds(),
			MariaDBCPUSecs: d.ByName["mariadb"], MinIOCPUSecs: d.ByName["minio"], ServerCPUSecs: d.ByName["production"],
			MachineBusy: d.MachineBusy, RowLockWaits: waits2 - waits, RowLockWaitSecs: float64(waitMs2-waitMs) / 1000}
		if _, ok := d.ByName["minio"]; !ok {
			row.MinIOCPUSecs = -1
		}
		done := 0
		for k := range p {
			if errs[k] != nil {
				return rep, errs[k]
			}
			var out struct{ Total backup.Stats }
			if err := json.Unmarshal(ms[k].Stdout, &out); err != nil {
				return rep, fmt.Errorf("backup process %d of %d: read its JSON output: %w", k+1, p, err)
			}
			if out.Total.Errors != 0 {
				return rep, fmt.Errorf("backup process %d of %d: %d files failed: the measurement is void", k+1, p, out.Total.Errors)
			}
			done += out.Total.BackedUp
			row.BackupCPUSecs += ms[k].CPU.Seconds()
			row.PeakRSSMiB = max(row.PeakRSSMiB, float64(ms[k].MaxRSS)/(1<<20))
		}
		if done != len(files) {
			return rep, fmt.Errorf("%d backup processes backed up %d of %d files: the measurement is void", p, done, len(files))
		}
		row.FilesPerSec = float64(len(files)) / row.Seconds
		row.MBPerSec = float64(bytes) / 1e6 / row.Seconds
		row.Speedup = row.FilesPerSec / firstOr(rep.Rows, row).FilesPerSec
		if row.MariaDBCPUSecs >= 0 && row.MinIOCPUSecs >= 0 && row.ServerCPUSecs >= 0 {
			row.FilesPerCPUSec = float64(len(files)) / (row.BackupCPUSecs + row.MariaDBCPUSecs + row.MinIOCPUSecs + row.ServerCPUSecs)
		}
		row.Bound = boundOf(row, cores)
		if n := len(rep.Rows); n > 0 && rep.Flattens == 0 && row.FilesPerSec < 1.1*rep.Rows[n-1].FilesPerSec {
			rep.Flattens = p
		}
		rep.Rows = append(rep.Rows, row)
		fmt.Fprintf(o.Log, "horizontal: %d processes: %.0f files/s (%s)\n", p, row.FilesPerSec, row.Bound)
	}
	return rep, nil
}

func firstOr(rows []HorizontalRow, r HorizontalRow) HorizontalRow {
	if len(rows) > 0 {
		return rows[0]
	}
	return r
}

// rowLocks reads InnoDB's count and total time (ms) of row lock waits.
func rowLocks(ctx context.Context, db *sql.DB) (waits, ms int64, err error) {
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_row_lock_waits', 'Innodb_row_lock_time')")
	if err != nil {
		return 0, 0, fmt.Errorf("read InnoDB row lock status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return 0, 0, fmt.Errorf("read InnoDB row lock status: %w", err)
		}
		if strings.EqualFold(name, "Innodb_row_lock_waits") {
			waits = v
		} else {
			ms = v
		}
	}
	return waits, ms, rows.Err()
}

// boundOf says what limited a count, from what was measured: the machine's
// cores all busy means CPU (and the shares say whose); otherwise InnoDB
// row lock waits that add up to a fifth of the processes' time mean the
// claims contend in MariaDB; otherwise MariaDB using a whole core means
// MariaDB; otherwise the processes were waiting on something that is not
// CPU (disk, network, latency).
func boundOf(r HorizontalRow, cores int) string {
	parts := map[string]float64{"backup": r.BackupCPUSecs, "MinIO": r.MinIOCPUSecs, "MariaDB": r.MariaDBCPUSecs, "production": r.ServerCPUSecs}
	total := 0.0
	for _, v := range parts {
		if v > 0 {
			total += v
		}
	}
	shares := func() string {
		names := make([]string, 0, len(parts))
		for n := range parts {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return parts[names[i]] > parts[names[j]] })
		var s []string
		for _, n := range names {
			if parts[n] >= 0 && total > 0 {
				s = append(s, fmt.Sprintf("%s %.0f%%", n, 100*parts[n]/total))
			}
		}
		return strings.Join(s, ", ")
	}
	switch {
	case r.MachineBusy >= 0.85:
		return fmt.Sprintf("CPU: all %d cores %.0f%% busy; the pipeline used %.1f cores (%s)", cores, 100*r.MachineBusy, total/r.Seconds, shares())
	case r.RowLockWaitSecs > 0.2*r.Seconds*float64(r.Processes):
		return fmt.Sprintf("MariaDB row locks: %.1f s of waits in %.1f s", r.RowLockWaitSecs, r.Seconds)
	case r.MariaDBCPUSecs > 0.8*r.Seconds:
		return fmt.Sprintf("MariaDB: %.1f cores busy", r.MariaDBCPUSecs/r.Seconds)
	default:
		return fmt.Sprintf("not CPU (%d cores %.0f%% busy; %s): latency, disk or network", cores, 100*r.MachineBusy, shares())
	}
}
