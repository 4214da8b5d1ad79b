package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mediabackups/mediabackups/bench/synthwiki"
	"github.com/mediabackups/mediabackups/config"
)

// WikiScaleOptions configures WikiScale.
type WikiScaleOptions struct {
	// Binary is the mediabackups executable the children run.
	Binary   string
	Services Services
	// Versions are the sizes to inventory, in file versions: one synthetic
	// wiki of about that many versions each, in a database of its own.
	Versions []int64
	// UpdateEvents is how many log events `update` catches up after the
	// first inventory; 0 runs no update.
	UpdateEvents int64
	Seed         uint64
	// Dir holds the configs; default a new directory under os.TempDir().
	Dir  string
	Keep bool
	// ProfileDir, when set, receives CPU and heap profiles of every
	// inventory and update child.
	ProfileDir string
	Log        io.Writer
}

// InventoryRow is one inventory of a synthetic wiki.
type InventoryRow struct {
	Versions int64 `json:"versions"` // recorded, as the model predicts
	Files    int64 `json:"files"`    // file names of the synthetic wiki
	measured
	RowsPerSec float64 `json:"rows_per_s"`
	// RowsPerCPUSec is rows per CPU second of the inventory, the API and
	// MariaDB together: what rows/s would be if each got a core when it
	// needs one (the three work one after the other). 0 when unknown.
	RowsPerCPUSec float64 `json:"rows_per_cpu_s"`
	// Table is the files table after the inventory.
	Table TableSize `json:"table"`
}

// UpdateRow is `update` catching up the tail of a synthetic wiki.
type UpdateRow struct {
	Events   int64 `json:"events"`   // file events applied
	Versions int64 `json:"versions"` // versions in the metadata before the update
	measured
	EventsPerSec float64 `json:"events_per_s"`
	// EventsPerCPUSec is events per CPU second of update, the API and
	// MariaDB together (see InventoryRow.RowsPerCPUSec).
	EventsPerCPUSec float64 `json:"events_per_cpu_s"`
	Added           int     `json:"added"`
	Changed         int     `json:"changed"`
	Renamed         int     `json:"renamed"`
}

// measured is what a child took, and what the processes around it did
// meanwhile.
type measured struct {
	Seconds    float64 `json:"seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	CPUSecs    float64 `json:"cpu_s"` // the child's own
	// APICPUSecs is the synthetic wiki server's CPU time, MariaDBCPUSecs
	// the database server's (-1: not a local process).
	APICPUSecs     float64 `json:"api_cpu_s"`
	MariaDBCPUSecs float64 `json:"mariadb_cpu_s"`
	// MachineBusy is the busy share of all the machine's cores, 0..1,
	// whoever used them.
	MachineBusy float64 `json:"machine_busy"`
	// APIRequests is how many api.php requests the child made.
	APIRequests int64 `json:"api_requests"`
}

// pipelineCPU is the CPU seconds of the child, the API server and MariaDB
// together: the inventory and update wait for each in turn, so on a
// machine where each gets a core when it needs one, this is about the wall
// time. 0 when a part is unknown.
func (m measured) pipelineCPU() float64 {
	if m.APICPUSecs < 0 || m.MariaDBCPUSecs < 0 {
		return 0
	}
	return m.CPUSecs + m.APICPUSecs + m.MariaDBCPUSecs
}

// WikiScaleReport is the outcome of WikiScale.
type WikiScaleReport struct {
	Seed        uint64         `json:"seed"`
	Inventories []InventoryRow `json:"inventories"`
	Update      *UpdateRow     `json:"update,omitempty"`
}

// synthWikiName is the synthetic wiki in the configs WikiScale writes.
const synthWikiName = "synthcommons"

// WikiScale runs `mediabackups inventory` against a synthetic wiki of each
// size in o.Versions (package synthwiki, served by a child process), each
// into a new database, and reports rows/s, the inventory's peak RSS and
// CPU, the server's and MariaDB's CPU, and the size of the files table.
// After the first inventory, `update` catches up o.UpdateEvents log
// events. It fails when an inventory does not record exactly the versions
// the model holds, or update does not apply every event: no speed is
// reported for work not done.
func WikiScale(ctx context.Context, o WikiScaleOptions) (*WikiScaleReport, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "mbbench-scale-")
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		o.Dir = d
		if !o.Keep {
			defer os.RemoveAll(d)
		}
	}
	rep := &WikiScaleReport{Seed: o.Seed}
	for n, v := range o.Versions {
		tail := int64(0)
		if n == 0 {
			tail = o.UpdateEvents
		}
		row, up, err := wikiScaleOne(ctx, o, synthwiki.FilesFor(v), tail)
		if err != nil {
			return rep, err
		}
		rep.Inventories = append(rep.Inventories, *row)
		if up != nil {
			rep.Update = up
		}
	}
	return rep, nil
}

func wikiScaleOne(ctx context.Context, o WikiScaleOptions, files, tail int64) (_ *InventoryRow, _ *UpdateRow, err error) {
	cfg := synthwiki.Config{Seed: o.Seed, Files: files, Tail: tail}
	model, err := synthwiki.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Log, "scale: %s: counting its versions ...\n", model)
	want := model.Versions(0)
	dir := filepath.Join(o.Dir, fmt.Sprintf("inventory-%d", files))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("scale: %w", err)
	}
	srv, err := startChildServer(ctx, o.Binary, "bench", "synthwiki", "--files", strconv.FormatInt(files, 10),
		"--tail", strconv.FormatInt(tail, 10), "--seed", strconv.FormatUint(o.Seed, 10), "--addr", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer srv.Stop()
	w, err := newWorld(ctx, o.Services, dir)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "kept database %s and bucket %s\n", w.dbName, w.bucket)
			w.store.Close()
			return
		}
		if cerr := w.cleanup(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	pw, err := w.secretFile("wiki-password", "synthetic")
	if err != nil {
		return nil, nil, err
	}
	wiki := func(api string) []config.Wiki {
		return []config.Wiki{{Name: synthWikiName, API: api, Type: config.TypePublic, User: "Bench@synth", PasswordFile: pw,
			Project: "wikipedia", Lang: "commons", PublicShards: true, DeletedShards: true}}
	}
	if err := w.writeConfigWikis(wiki(fmt.Sprintf("%s/tail/0/api.php", srv.URL))); err != nil {
		return nil, nil, err
	}
	meter := newCPUMeter(map[string][]string{"mariadb": {o.Services.dbAddr()}})
	meter.add("api", srv.PID())

	fmt.Fprintf(o.Log, "scale: inventory of %d versions (%d files) ...\n", want, files)
	args := []string{"--config", w.config, "--json", "inventory", "--wiki", synthWikiName}
	if o.ProfileDir != "" {
		base := filepath.Join(o.ProfileDir, fmt.Sprintf("inventory-%d", want))
		args = append(args, "--cpuprofile", base+".cpu.pprof", "--memprofile", base+".heap.pprof")
	}
	before := meter.sample()
	req0, err := apiRequests(ctx, srv.URL)
	if err != nil {
		return nil, nil, err
	}
	m, err := runChild(ctx, o.Binary, args...)
	if err != nil {
		return nil, nil, err
	}
	req1, err := apiRequests(ctx, srv.URL)
	if err != nil {
		return nil, nil, err
	}
	var inv struct {
		Seen, Added int
	}
	if err := json.Unmarshal(m.Stdout, &inv); err != nil {
		return nil, nil, fmt.Errorf("inventory: read its JSON output: %w", err)
	}
	if int64(inv.Seen) != want || int64(inv.Added) != want {
		return nil, nil, fmt.Errorf("inventory saw %d and added %d versions of the %d the synthetic wiki holds: the measurement is void", inv.Seen, inv.Added, want)
	}
	row := &InventoryRow{Versions: want, Files: files, measured: measure2(m, meter.since(before))}
	row.APIRequests = req1 - req0
	row.RowsPerSec = float64(want) / row.Seconds
	if c := row.pipelineCPU(); c > 0 {
		row.RowsPerCPUSec = float64(want) / c
	}
	sizes, err := tableSizes(ctx, w.store.DB(), "files")
	if err != nil {
		return nil, nil, err
	}
	row.Table = sizes[0]
	fmt.Fprintf(o.Log, "scale: %d versions in %.0f s: %.0f rows/s, peak RSS %.0f MiB\n", want, row.Seconds, row.RowsPerSec, row.PeakRSSMiB)
	if tail == 0 {
		return row, nil, nil
	}

	if err := w.writeConfigWikis(wiki(srv.URL + "/api.php")); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Log, "scale: update of %d log events ...\n", tail)
	args = []string{"--config", w.config, "--json", "update", "--wiki", synthWikiName, "--since", model.T0().Format("2006-01-02T15:04:05Z")}
	if o.ProfileDir != "" {
		base := filepath.Join(o.ProfileDir, fmt.Sprintf("update-%d", tail))
		args = append(args, "--cpuprofile", base+".cpu.pprof", "--memprofile", base+".heap.pprof")
	}
	before = meter.sample()
	if req0, err = apiRequests(ctx, srv.URL); err != nil {
		return nil, nil, err
	}
	m, err = runChild(ctx, o.Binary, args...)
	if err != nil {
		return nil, nil, err
	}
	if req1, err = apiRequests(ctx, srv.URL); err != nil {
		return nil, nil, err
	}
	var up struct {
		Events, Skipped, Added, Changed, Renamed, Unreadable int
	}
	if err := json.Unmarshal(m.Stdout, &up); err != nil {
		return nil, nil, fmt.Errorf("update: read its JSON output: %w", err)
	}
	if int64(up.Events) != tail || up.Skipped != 0 || up.Unreadable != 0 {
		return nil, nil, fmt.Errorf("update read %d events (%d skipped, %d unreadable) of the %d logged: the measurement is void", up.Events, up.Skipped, up.Unreadable, tail)
	}
	u := &UpdateRow{Events: tail, Versions: want, measured: measure2(m, meter.since(before)), Added: up.Added, Changed: up.Changed, Renamed: up.Renamed}
	u.APIRequests = req1 - req0
	u.EventsPerSec = float64(tail) / u.Seconds
	if c := u.pipelineCPU(); c > 0 {
		u.EventsPerCPUSec = float64(tail) / c
	}
	fmt.Fprintf(o.Log, "scale: %d events in %.0f s: %.0f events/s\n", tail, u.Seconds, u.EventsPerSec)
	return row, u, nil
}

func measure2(m measure, d cpuDelta) measured {
	get := func(name string) float64 {
		v, ok := d.ByName[name]
		if !ok {
			return -1
		}
		return v
	}
	return measured{Seconds: m.Elapsed.Seconds(), PeakRSSMiB: float64(m.MaxRSS) / (1 << 20), CPUSecs: m.CPU.Seconds(),
		APICPUSecs: get("api"), MariaDBCPUSecs: get("mariadb"), MachineBusy: d.MachineBusy}
}
