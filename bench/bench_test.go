package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/storage"
)

func TestParseClass(t *testing.T) {
	tests := []struct {
		in   string
		want Class
		ok   bool
	}{
		{"2000x64KiB", Class{2000, 64 << 10}, true},
		{"500x1MiB", Class{500, 1 << 20}, true},
		{"8x64MiB", Class{8, 64 << 20}, true},
		{"1x4GiB", Class{1, 4 << 30}, true},
		{" 3X100 ", Class{3, 100}, true},
		{"10x5k", Class{10, 5 << 10}, true},
		{"x64KiB", Class{}, false},
		{"0x64KiB", Class{}, false},
		{"-1x64KiB", Class{}, false},
		{"10", Class{}, false},
		{"10x", Class{}, false},
		{"10x0", Class{}, false},
		{"10x1.5MiB", Class{}, false},
		{"10x99999999999GiB", Class{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseClass(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseClass(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestClassName(t *testing.T) {
	for size, want := range map[int64]string{64 << 10: "64KiB", 1 << 20: "1MiB", 4 << 30: "4GiB", 1000: "1000B", 1536: "1536B", 3072: "3KiB"} {
		if got := (Class{1, size}).Name(); got != want {
			t.Errorf("Class{1, %d}.Name() = %q, want %q", size, got, want)
		}
	}
}

func FuzzParseClass(f *testing.F) {
	for _, s := range []string{"2000x64KiB", "1x4GiB", "3x100", "x", "9x9g", "1x1125899906842624"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseClass(s)
		if err != nil {
			return
		}
		if c.Count <= 0 || c.Size <= 0 || c.Size > 1<<50 {
			t.Fatalf("ParseClass(%q) = %+v: out of range", s, c)
		}
		// The name parses back to the same size.
		back, err := ParseSize(c.Name())
		if err != nil || back != c.Size {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d", c.Name(), back, err, c.Size)
		}
	})
}

func TestGenerateCorpus(t *testing.T) {
	dir := t.TempDir()
	classes := []Class{{3, 1000}, {2, 70 << 10}}
	c, err := GenerateCorpus(context.Background(), dir, classes, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 5 || len(c.ByClass("1000B")) != 3 || len(c.ByClass("70KiB")) != 2 {
		t.Fatalf("corpus = %+v", c.Files)
	}
	seen := map[string]bool{}
	for _, f := range c.Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil || int64(len(b)) != f.Size {
			t.Fatalf("%s: %d bytes, %v; want %d", f.Path, len(b), err, f.Size)
		}
		if seen[f.SHA1] {
			t.Fatalf("%s: same content as another file: the backup would deduplicate it", f.Path)
		}
		seen[f.SHA1] = true
	}
	// Same classes and seed: reused as is; another seed: regenerated.
	again, err := GenerateCorpus(context.Background(), dir, classes, 7)
	if err != nil || again.Files[0].SHA1 != c.Files[0].SHA1 {
		t.Fatalf("regenerated a matching corpus: %v", err)
	}
	other, err := GenerateCorpus(context.Background(), dir, classes, 8)
	if err != nil || other.Files[0].SHA1 == c.Files[0].SHA1 {
		t.Fatalf("reused a corpus of another seed: %v", err)
	}
}

// The mediabackups binary the children run, built once for every test.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary builds mediabackups for the children the bench runs.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "mbbench-test-"); binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "mediabackups"), "../cmd/mediabackups")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build mediabackups: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "mediabackups")
}

// TestBenchSmoke runs the whole bench on a tiny corpus, so that it cannot
// rot: every runner must work and process every file. Timings are not
// checked.
func TestBenchSmoke(t *testing.T) {
	dsn := testsvc.Need(t, "MEDIABACKUPS_TEST_MARIADB_DSN")
	mio := testsvc.MinIOServers(t)
	sw := testsvc.SwiftService(t)
	svc := Services{DSN: dsn, Endpoints: mio.Endpoints, Creds: storage.Credentials{AccessKey: mio.AccessKey, SecretKey: mio.SecretKey},
		Swift: &Swift{AuthURL: sw.AuthURL, User: sw.User, Key: sw.Key}}
	if _, err := exec.LookPath("rclone"); err != nil {
		testsvc.SkipOrFail(t, "rclone is not installed (testenv/up.sh installs it): %v", err)
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var log bytes.Buffer
	rep, err := Run(ctx, Options{Binary: bin, Services: svc, Classes: []Class{{12, 64 << 10}, {2, 17 << 20}}, Workers: 3,
		Pairs: 2, Dir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	ops := map[string]int{}
	for _, r := range rep.Rows {
		ops[r.Op]++
		if r.Seconds <= 0 || r.MBPerSec <= 0 || (r.PeakRSSMiB <= 0 && !strings.HasPrefix(r.Op, "hash")) {
			t.Errorf("row %+v: missing measurements", r)
		}
		if (r.Op == "backup" || r.Op == "restore" || r.Op == "verify" || r.Op == "to-production" || r.Op == "rebalance") && r.Ratio <= 0 {
			t.Errorf("row %+v: no ratio to its ceiling", r)
		}
	}
	// 2 classes × (2 hash sets, raw-put, raw-get, 2 backups, 2 restores, 2
	// verifies, rclone, 2 restores into production, raw-move, 2 rebalances)
	if want := map[string]int{"hash sha1+sha256": 2, "hash +md5": 2, "raw-put": 2, "raw-get": 2, "backup": 4, "restore": 4, "verify": 4,
		"prod-rclone": 2, "to-production": 4, "raw-move": 2, "rebalance": 4}; !equalCounts(ops, want) {
		t.Errorf("ops = %v, want %v", ops, want)
	}
	// 2 classes × 2 wikis × (backup vs rclone upload, restore vs rclone
	// download), 2 pairs each.
	pairs := map[string]int{}
	for _, p := range rep.Peer {
		pairs[p.Ours+" vs "+p.Peer]++
		if p.Pairs != 2 || len(p.Ratios) != 2 || p.Median <= 0 || p.Min > p.Median || p.Median > p.Max || p.Verdict == "" ||
			p.OursMBPerSec <= 0 || p.PeerMBPerSec <= 0 || p.OursCPUSecs <= 0 || p.PeerCPUSecs <= 0 {
			t.Errorf("peer row %+v: missing or inconsistent measurements", p)
		}
	}
	if want := map[string]int{"backup vs rclone upload": 4, "restore vs rclone download": 4}; !equalCounts(pairs, want) {
		t.Errorf("peer rows = %v, want %v", pairs, want)
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil || !strings.Contains(out.String(), "| 17MiB | private | backup ") ||
		!strings.Contains(out.String(), "| 17MiB | private | restore vs rclone download | 2 ") ||
		!strings.Contains(out.String(), "| 17MiB | private | verify ") ||
		!strings.Contains(out.String(), "| 17MiB | private | to-production ") {
		t.Errorf("table: %v\n%s", err, out.String())
	}

}

// TestMetadataScaleSmoke loads a small metadata store and times every
// query the bench reports at scale, so that none of them rots: each must
// use an index, and the tables must be measured.
func TestMetadataScaleSmoke(t *testing.T) {
	svc := Services{DSN: testsvc.Need(t, "MEDIABACKUPS_TEST_MARIADB_DSN")}
	sr, err := MetadataScale(context.Background(), ScaleOptions{Services: svc, Rows: 3000, Runs: 5})
	if err != nil {
		t.Fatal(err)
	}
	// 11 search methods (not --all), the claim, the oldest pending, the
	// audit page, and the three steps of verify's walk.
	if sr.Rows != 3000 || sr.RowsPerSec <= 0 || len(sr.Queries) != 17 {
		t.Fatalf("scale report = %+v", sr)
	}
	for _, q := range sr.Queries {
		if !q.UsesIdx {
			t.Errorf("%s does not use an index: %v", q.Name, q.Explain)
		}
	}
	if len(sr.Tables) != 2 || sr.Tables[0].Rows != 3000 || sr.Tables[0].DataMiB <= 0 || sr.Tables[0].IndexMiB <= 0 || len(sr.Tables[0].Indexes) < 5 ||
		sr.Tables[1].Table != "backups" || sr.Tables[1].Rows == 0 {
		t.Errorf("table sizes = %+v", sr.Tables)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestAuditBenchSmoke runs the audit bench on a few hundred objects in the
// test Swift, so that it cannot rot: every run must find the synthetic
// production whole, and the containers must be gone afterwards.
func TestAuditBenchSmoke(t *testing.T) {
	dsn := testsvc.Need(t, "MEDIABACKUPS_TEST_MARIADB_DSN")
	sw := testsvc.SwiftService(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log bytes.Buffer
	rep, err := AuditScale(ctx, AuditScaleOptions{Binary: bin, Services: Services{DSN: dsn},
		Swift: SwiftAccess{AuthURL: sw.AuthURL, User: sw.User, Key: sw.Key}, Objects: 60, Parallel: 3, Legacy: true, Log: &log})
	if err != nil {
		t.Fatalf("audit bench: %v\n%s", err, log.String())
	}
	if rep.Objects != 60 || rep.Containers < 40 || len(rep.Runs) != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Runs {
		if r.Seconds <= 0 || r.ObjectsPerSec <= 0 || r.PeakRSSMiB <= 0 || r.Commons110MHours <= 0 {
			t.Errorf("run %+v: missing measurements", r)
		}
	}
	var out bytes.Buffer
	if err := (&Report{Audit: rep}).WriteTable(&out); err != nil || !strings.Contains(out.String(), "| next audit, nothing changed") {
		t.Errorf("table: %v\n%s", err, out.String())
	}
	lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
	defer lcancel()
	// Only this run's: another bench may be running beside the test.
	if !strings.HasPrefix(rep.ContainerPrefix, benchPrefix+"-audit") {
		t.Fatalf("container prefix %q", rep.ContainerPrefix)
	}
	left, err := sw.Connection(t).ContainerNamesAll(lctx, &ncw.ContainersOpts{Prefix: rep.ContainerPrefix})
	if err != nil || len(left) != 0 {
		t.Errorf("containers left behind: %v, %v", left, err)
	}
}

// TestScaleSmoke runs every scale path at a tiny size, so that none can
// rot: the inventory of two synthetic wikis and the update after the
// first, the horizontal run with one and two backup processes, and the
// table sizes. Timings are not checked.
func TestScaleSmoke(t *testing.T) {
	dsn := testsvc.Need(t, "MEDIABACKUPS_TEST_MARIADB_DSN")
	mio := testsvc.MinIOServers(t)
	svc := Services{DSN: dsn, Endpoints: mio.Endpoints, Creds: storage.Credentials{AccessKey: mio.AccessKey, SecretKey: mio.SecretKey}}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	rep := &Report{}
	var err error
	rep.Scale, err = WikiScale(ctx, WikiScaleOptions{Binary: bin, Services: svc, Versions: []int64{2000, 4000}, UpdateEvents: 300,
		Seed: 3, Dir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("scale: %v\n%s", err, log.String())
	}
	if n := len(rep.Scale.Inventories); n != 2 {
		t.Fatalf("%d inventories, want 2", n)
	}
	for _, r := range rep.Scale.Inventories {
		if r.Versions < 1800 || r.RowsPerSec <= 0 || r.RowsPerCPUSec <= 0 || r.PeakRSSMiB <= 0 || r.CPUSecs <= 0 || r.Table.Rows != r.Versions || r.APIRequests < 2 ||
			r.Table.DataMiB <= 0 || r.Table.IndexMiB <= 0 {
			t.Errorf("inventory row %+v: missing measurements", r)
		}
		if r.APICPUSecs < 0 || r.MariaDBCPUSecs < 0 {
			t.Errorf("inventory row %+v: the CPU of the API server or of the local MariaDB is unknown", r)
		}
	}
	u := rep.Scale.Update
	if u == nil || u.Events != 300 || u.EventsPerSec <= 0 || u.EventsPerCPUSec <= 0 || u.Added == 0 || u.Changed == 0 || u.Renamed == 0 || u.APIRequests < 5 {
		t.Fatalf("update row %+v", u)
	}
	// Events are applied in stretches whose titles are asked about
	// together: fewer than the two requests per event of one by one.
	if u.APIRequests >= 2*u.Events {
		t.Errorf("update made %d API requests for %d events: not batched", u.APIRequests, u.Events)
	}

	rep.Horizontal, err = Horizontal(ctx, HorizontalOptions{Binary: bin, Services: svc, Processes: []int{1, 2}, Class: Class{40, 16 << 10},
		Workers: 2, Dir: t.TempDir(), Log: &log}, 2)
	if err != nil {
		t.Fatalf("horizontal: %v\n%s", err, log.String())
	}
	if len(rep.Horizontal.Rows) != 2 {
		t.Fatalf("horizontal rows: %+v", rep.Horizontal.Rows)
	}
	for _, r := range rep.Horizontal.Rows {
		if r.FilesPerSec <= 0 || r.FilesPerCPUSec <= 0 || r.BackupCPUSecs <= 0 || r.MinIOCPUSecs <= 0 || r.MariaDBCPUSecs < 0 || r.Bound == "" {
			t.Errorf("horizontal row %+v: missing measurements", r)
		}
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 300 |", "projection to 110000000 versions", "horizontal scale: 40x16KiB", "| 2 | 2 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
