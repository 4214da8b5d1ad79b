package main_test

// End-to-end tests of the metrics: real runs of the binary, scraped over
// HTTP and read from their textfiles with the Prometheus client library's
// parser, checked against the metadata database.

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mediabackups/mediabackups/metadata"
)

type families map[string]*dto.MetricFamily

func parseMetrics(t *testing.T, r io.Reader) families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return mfs
}

func readMetricsFile(t *testing.T, path string) families {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseMetrics(t, f)
}

func scrape(t *testing.T, url string) families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	return parseMetrics(t, resp.Body)
}

// get returns the value of the series of family name with exactly the
// given labels (name, value, ...), and whether there is one.
func (mfs families) get(name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.Metric {
		if len(m.Label)*2 != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				found = found || (labels[i] == l.GetName() && labels[i+1] == l.GetValue())
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// want checks one series against the value the database gives.
func (mfs families) want(t *testing.T, what string, db float64, name string, labels ...string) {
	t.Helper()
	got, ok := mfs.get(name, labels...)
	if !ok || got != db {
		t.Errorf("%s: %s%v = %v (present: %v), the database says %v", what, name, labels, got, ok, db)
	}
}

var metricsURL = regexp.MustCompile(`msg="serving metrics" url=(http://\S+/metrics)`)

// metricsURLOf waits for the command's log to say where it serves metrics.
func metricsURLOf(t *testing.T, out *syncBuffer, cmd interface{ Kill() error }) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := metricsURL.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			cmd.Kill()
			t.Fatalf("no metrics URL in the log:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) float(q string, args ...any) float64 {
	e.t.Helper()
	var v sql.NullFloat64
	if err := e.DB.QueryRow(q, args...).Scan(&v); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return v.Float64
}

// TestBackupMetricsMatchTheDatabase backs up the test wiki with
// --metrics-listen and --metrics-file, scrapes it mid-run, and checks the
// scrape and the final file against the metadata.
func TestBackupMetricsMatchTheDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	dir := t.TempDir()
	ctx := context.Background()

	// A slow file first (lowest id, claimed first), so that the backup is
	// caught mid-run with the wiki's own files pending behind it.
	srv, files := slowProduction(t, 1)
	store, err := metadata.Open(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	wikiID, err := store.EnsureWiki(ctx, "testwiki", "public")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(files[0])
	if _, err := store.SyncVersions(ctx, wikiID, []metadata.File{{Title: "Slow_0.txt", Container: "wikipedia-test-local-public",
		Path: "s/sl/Slow_0.txt", SourceURL: srv.URL + "/0", SHA1: hex.EncodeToString(sum[:]), Size: int64(len(files[0])),
		Status: metadata.Public, UploadDate: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)}}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.Exec("UPDATE files SET created_at = created_at - INTERVAL 1 DAY"); err != nil {
		t.Fatal(err)
	}

	inv := filepath.Join(dir, "mediabackups-inventory-testwiki.prom")
	e.run("inventory", "--wiki", "testwiki", "--metrics-file", inv)
	invMetrics := readMetricsFile(t, inv)
	invMetrics.want(t, "inventory file", e.float(`SELECT UNIX_TIMESTAMP(finished_at) FROM last_success WHERE command = 'inventory'`),
		"mediabackups_last_success_timestamp_seconds", "command", "inventory", "wiki", "testwiki")
	invMetrics.want(t, "inventory file", 0, "mediabackups_errors_total", "command", "inventory", "wiki", "testwiki", "reason", "denied")

	file := filepath.Join(dir, "mediabackups-backup-testwiki.prom")
	cmd := e.command("backup", "--wiki", "testwiki", "--workers", "1", "--batch", "1",
		"--metrics-listen", "127.0.0.1:0", "--metrics-file", file)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := metricsURLOf(t, out, cmd.Process)

	// Mid-run: the slow file is held; the scrape says what the database says.
	deadline := time.Now().Add(30 * time.Second)
	for e.float(`SELECT COUNT(*) FROM files WHERE title = 'Slow_0.txt' AND backup_status = 'processing'`) != 1 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the backup never claimed the slow file\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	mid := scrape(t, url)
	oldest := `SELECT UNIX_TIMESTAMP(MIN(created_at)) FROM files WHERE wiki_id = ? AND backup_status = 'pending'
		AND production_status <> 'hard-deleted'`
	mid.want(t, "mid-run scrape", e.float(oldest, wikiID), "mediabackups_oldest_pending_timestamp_seconds", "wiki", "testwiki")
	mid.want(t, "mid-run scrape", 0, "mediabackups_backup_files_total", "wiki", "testwiki", "status", "backedup")
	if _, ok := mid.get("mediabackups_last_success_timestamp_seconds", "command", "backup", "wiki", "testwiki"); ok {
		t.Error("mid-run scrape: a last success of backup before any")
	}
	if mid["go_goroutines"] == nil || mid["process_resident_memory_bytes"] == nil {
		t.Error("mid-run scrape: no go_* or process_* metrics")
	}

	if err := cmd.Wait(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	// The end: the file holds the final values; the database agrees.
	end := readMetricsFile(t, file)
	var files0 float64
	for _, st := range []string{"backedup", "duplicate", "error"} {
		n := e.float(`SELECT COUNT(*) FROM files WHERE wiki_id = ? AND backup_status = ?`, wikiID, st)
		end.want(t, "final file", n, "mediabackups_backup_files_total", "wiki", "testwiki", "status", st)
		files0 += n
	}
	if all := e.float(`SELECT COUNT(*) FROM files WHERE wiki_id = ?`, wikiID); files0 != all || all < 10 {
		t.Errorf("%v versions backed up, duplicate or failed of %v", files0, all)
	}
	end.want(t, "final file", e.float(`SELECT SUM(size) FROM files WHERE wiki_id = ? AND backup_status = 'backedup'`, wikiID),
		"mediabackups_backup_bytes_total", "wiki", "testwiki", "status", "backedup")
	rows, err := e.DB.Query(`SELECT l.endpoint, COUNT(*), SUM(b.stored_size) FROM backups b JOIN locations l ON l.id = b.location_id
		WHERE b.wiki_id = ? GROUP BY l.endpoint`, wikiID)
	if err != nil {
		t.Fatal(err)
	}
	servers := 0
	for rows.Next() {
		var ep string
		var n, bytes float64
		if err := rows.Scan(&ep, &n, &bytes); err != nil {
			t.Fatal(err)
		}
		servers++
		end.want(t, "final file", n, "mediabackups_storage_objects_written_total", "wiki", "testwiki", "server", ep)
		end.want(t, "final file", bytes, "mediabackups_storage_written_bytes_total", "wiki", "testwiki", "server", ep)
	}
	rows.Close()
	if servers != len(e.Endpoints) || len(end["mediabackups_storage_objects_written_total"].GetMetric()) != servers {
		t.Errorf("objects on %d servers in the database, %d in the metrics; %d configured", servers,
			len(end["mediabackups_storage_objects_written_total"].GetMetric()), len(e.Endpoints))
	}
	for _, ep := range e.Endpoints {
		end.want(t, "final file", 0, "mediabackups_storage_put_failures_total", "wiki", "testwiki", "server", ep)
	}
	end.want(t, "final file", e.float(`SELECT UNIX_TIMESTAMP(finished_at) FROM last_success WHERE wiki_id = ? AND command = 'backup'`, wikiID),
		"mediabackups_last_success_timestamp_seconds", "command", "backup", "wiki", "testwiki")
	if _, ok := end.get("mediabackups_oldest_pending_timestamp_seconds", "wiki", "testwiki"); ok {
		t.Error("final file: an oldest pending file, with none pending")
	}
	for _, m := range end["mediabackups_errors_total"].GetMetric() {
		if m.GetCounter().GetValue() != 0 {
			t.Errorf("final file: errors %v", m)
		}
	}
}

// TestUpdateFollowMetrics scrapes `update --follow` once it has caught up
// with the test wiki's log.
func TestUpdateFollowMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	start := time.Now()
	// A long interval: after its first round the follower waits, so the
	// scrape and the database are read in a quiet moment.
	cmd := e.command("update", "--wiki", "testwiki", "--follow", "--interval", "10m", "--metrics-listen", "127.0.0.1:0")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := metricsURLOf(t, out, cmd.Process)
	deadline := time.Now().Add(60 * time.Second)
	for e.float(`SELECT COUNT(*) FROM last_success WHERE command = 'update'`) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("update --follow never finished a round\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := scrape(t, url)
	caughtUp := e.float(`SELECT GREATEST(UNIX_TIMESTAMP(c.log_timestamp), UNIX_TIMESTAMP(s.started_at))
		FROM wiki_cursors c JOIN last_success s ON s.wiki_id = c.wiki_id AND s.command = 'update'`)
	m.want(t, "scrape", caughtUp, "mediabackups_update_caught_up_timestamp_seconds", "wiki", "testwiki")
	if caughtUp < float64(start.Unix()-1) || caughtUp > float64(time.Now().Unix()) {
		t.Errorf("caught up at %v, want the start of the round: between %v and now", caughtUp, start.Unix())
	}
	m.want(t, "scrape", e.float(`SELECT UNIX_TIMESTAMP(finished_at) FROM last_success WHERE command = 'update'`),
		"mediabackups_last_success_timestamp_seconds", "command", "update", "wiki", "testwiki")
	m.want(t, "scrape", 0, "mediabackups_errors_total", "command", "update", "wiki", "testwiki", "reason", "wiki_api")
	for _, name := range []string{"mediabackups_oldest_pending_timestamp_seconds", "mediabackups_backup_files_total"} {
		if m[name] != nil {
			t.Errorf("update exports %s", name)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("update --follow after SIGTERM: %v\n%s", err, out.String())
	}
	if _, err := http.Get(url); err == nil {
		t.Error("the metrics server outlived the process")
	}
}
