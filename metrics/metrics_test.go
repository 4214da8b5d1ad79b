package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mediabackups/mediabackups/backup"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
	"github.com/mediabackups/mediabackups/storage"
)

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"lost claim", fmt.Errorf("files [3]: %w", metadata.ErrLostClaim), "claim_lost"},
		{"download 403", &backup.StepError{Step: backup.StepDownload, Err: fmt.Errorf("download x: HTTP 403: %w", mediawiki.ErrPermission)}, "denied"},
		{"download 500", &backup.StepError{Step: backup.StepDownload, Err: errors.New("download x: HTTP 500 Internal Server Error")}, "download"},
		{"download timeout", &backup.StepError{Step: backup.StepDownload, Err: context.DeadlineExceeded}, "download"},
		{"dedup check", &backup.StepError{Step: backup.StepMetadata, Err: errors.New("dedup check: bad connection")}, "metadata"},
		{"encrypt", &backup.StepError{Step: backup.StepEncrypt, Err: errors.New("encrypt x: boom")}, "encrypt"},
		{"upload", fmt.Errorf("wrapped: %w", &backup.StepError{Step: backup.StepUpload, Err: storage.ErrChecksumMismatch}), "upload"},
		{"update: login refused", fmt.Errorf("log events: %w", mediawiki.ErrLoginFailed), "denied"},
		{"update: database", fmt.Errorf("save log cursor: %w", &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout"}), "metadata"},
		{"update: API error", fmt.Errorf("apply: %w", &mediawiki.APIError{Code: "internal_api_error_DBQueryError"}), "wiki_api"},
		{"update: timeout", fmt.Errorf("log events: %w", context.DeadlineExceeded), "timeout"},
		{"unknown", errors.New("something new"), "other"},
		{"nil", nil, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metrics.ReasonOf(tc.err); got != tc.want {
				t.Errorf("ReasonOf(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
	seen := map[string]bool{}
	for _, r := range metrics.Reasons {
		if seen[r.Name] || !model.LabelValue(r.Name).IsValid() || r.Help == "" {
			t.Errorf("reason %q: duplicate, invalid or without help", r.Name)
		}
		seen[r.Name] = true
	}
}

// parse reads metrics in the text format with the client library's parser
// and returns them by name.
func parse(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, b)
	}
	return mfs
}

// value returns the value of the series of family name with exactly the
// given labels (name=value pairs), and whether it exists.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestTextfile writes a backup's metrics as node_exporter reads them, with
// real MariaDB and MinIO behind, and reads them back with the client
// library's parser.
func TestTextfile(t *testing.T) {
	ctx := context.Background()
	d := testsvc.NewDeployment(t, 1) // a database and a bucket of its own, removed at the end
	store, err := metadata.Open(ctx, d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	wiki, _ := store.EnsureWiki(ctx, "testwiki", "public")
	if _, err := store.SyncVersions(ctx, wiki, []metadata.File{{Title: "A.png", Container: "c", Path: "a/ab/A.png",
		SHA1: strings.Repeat("a", 40), Size: 3, Status: metadata.Public, UploadDate: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().ExecContext(ctx, "UPDATE files SET created_at = '2026-02-03 04:05:06'"); err != nil {
		t.Fatal(err)
	}
	finished := time.Date(2026, 2, 3, 5, 0, 0, 0, time.UTC)
	if err := store.RecordSuccess(ctx, wiki, "backup", finished.Add(-time.Hour), finished, "host1"); err != nil {
		t.Fatal(err)
	}

	m := metrics.New(metrics.CommandBackup, nil)
	m.WatchMetadata(ctx, store, metrics.Wiki{Name: "testwiki", ID: wiki})
	progress := m.BackupProgress("testwiki")
	progress.FileDone(metadata.File{Backup: &metadata.Backup{Location: "http://s1:9000", StoredSize: 130}}, metadata.BackedUp, 100, nil)
	progress.FileDone(metadata.File{Backup: &metadata.Backup{Location: "http://s1:9000", StoredSize: 70}}, metadata.BackedUp, 50, nil)
	progress.FileDone(metadata.File{Backup: &metadata.Backup{Location: "http://s1:9000", StoredSize: 7}}, metadata.Duplicate, 7, nil)
	progress.FileDone(metadata.File{}, metadata.Error, 0, &backup.StepError{Step: backup.StepUpload, Err: errors.New("503")})
	progress.FileDone(metadata.File{}, "", 0, nil) // claim lost

	mi := d.MinIO
	srv, err := storage.NewServer(d.Endpoints[0], d.Bucket, storage.Credentials{AccessKey: mi.AccessKey, SecretKey: mi.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	put := m.Storage("testwiki", srv)
	if _, err := put.Put(ctx, "testwiki/hello", strings.NewReader("hello"), 5, nil); err != nil {
		t.Fatal(err)
	}
	wrong := make([]byte, 32) // not the sha256 of "world!": the server refuses it
	if _, err := put.Put(ctx, "testwiki/world", strings.NewReader("world!"), 6, wrong); err == nil {
		t.Fatal("a Put with the wrong sha256 succeeded")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "mediabackups-backup.prom")
	if err := m.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	first, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, b)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediabackups_backup_files_total", []string{"wiki", "testwiki", "status", "backedup"}, 2},
		{"mediabackups_backup_files_total", []string{"wiki", "testwiki", "status", "duplicate"}, 1},
		{"mediabackups_backup_files_total", []string{"wiki", "testwiki", "status", "error"}, 1},
		{"mediabackups_backup_files_total", []string{"wiki", "testwiki", "status", "gone"}, 0},
		{"mediabackups_backup_bytes_total", []string{"wiki", "testwiki", "status", "backedup"}, 150},
		{"mediabackups_backup_bytes_total", []string{"wiki", "testwiki", "status", "duplicate"}, 7},
		{"mediabackups_errors_total", []string{"command", "backup", "wiki", "testwiki", "reason", "upload"}, 1},
		{"mediabackups_errors_total", []string{"command", "backup", "wiki", "testwiki", "reason", "claim_lost"}, 1},
		{"mediabackups_errors_total", []string{"command", "backup", "wiki", "testwiki", "reason", "download"}, 0},
		{"mediabackups_storage_objects_written_total", []string{"wiki", "testwiki", "server", "http://s1:9000"}, 2},
		{"mediabackups_storage_written_bytes_total", []string{"wiki", "testwiki", "server", "http://s1:9000"}, 200},
		{"mediabackups_storage_put_failures_total", []string{"wiki", "testwiki", "server", d.Endpoints[0]}, 1},
		{"mediabackups_last_success_timestamp_seconds", []string{"command", "backup", "wiki", "testwiki"}, float64(finished.Unix())},
		{"mediabackups_oldest_pending_timestamp_seconds", []string{"wiki", "testwiki"},
			float64(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC).Unix())},
	} {
		if got, ok := value(mfs, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Only the backup's own series: no update lag, no go_* or process_*
	// (they would collide between the files of several units).
	for name := range mfs {
		if !strings.HasPrefix(name, "mediabackups_") || name == "mediabackups_update_caught_up_timestamp_seconds" {
			t.Errorf("unexpected metric %s in a backup's textfile", name)
		}
	}
	if mf := mfs["mediabackups_backup_files_total"]; mf.GetHelp() == "" || mf.GetType() != dto.MetricType_COUNTER {
		t.Errorf("mediabackups_backup_files_total: help %q, type %v", mf.GetHelp(), mf.GetType())
	}

	// A rewrite replaces the file by a rename: a reader that opened the
	// old one still reads it whole, and no temporary file is left.
	progress.FileDone(metadata.File{}, metadata.BackedUp, 1, nil)
	if err := m.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	old := new(bytes.Buffer)
	if _, err := old.ReadFrom(first); err != nil || !bytes.Equal(old.Bytes(), b) {
		t.Errorf("the file open before the rewrite changed under its reader (err %v)", err)
	}
	b, _ = os.ReadFile(path)
	if got, _ := value(parse(t, b), "mediabackups_backup_files_total", "wiki", "testwiki", "status", "backedup"); got != 3 {
		t.Errorf("after the rewrite: backedup = %v, want 3", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the textfile directory: %v", entries)
	}

	// node_exporter reads only *.prom; a directory that does not exist is
	// an error too.
	if err := m.WriteTextfile(filepath.Join(dir, "metrics.txt")); err == nil || !strings.Contains(err.Error(), ".prom") {
		t.Errorf("WriteTextfile(metrics.txt) = %v, want an error naming .prom", err)
	}
	if err := m.WriteTextfile(filepath.Join(dir, "missing", "x.prom")); err == nil {
		t.Error("WriteTextfile into a missing directory succeeded")
	}

	// The same registry over HTTP, with the runtime's metrics too.
	s, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	served := parse(t, body.Bytes())
	if got, _ := value(served, "mediabackups_backup_files_total", "wiki", "testwiki", "status", "backedup"); got != 3 || served["go_goroutines"] == nil {
		t.Errorf("served: backedup = %v, go_goroutines present: %v", got, served["go_goroutines"] != nil)
	}
	if _, err := m.Serve(s.Addr()); err == nil {
		t.Error("a second server on the same address started")
	}
}
