package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func testFactory() (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Factory{IO: IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}, &out, &errOut
}

func TestBackupFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    BackupOptions
		wantErr string
	}{
		{args: []string{"--wiki", "testwiki", "--workers", "3", "--lease", "30s", "--retry-errors"},
			want: BackupOptions{Wiki: "testwiki", Workers: 3, Lease: 30 * time.Second, RetryErrors: true}},
		{args: []string{"--batch", "10"}, want: BackupOptions{Batch: 10, Lease: 10 * time.Minute}},
		{args: []string{"--workers", "-1"}, wantErr: "must not be negative"},
		{args: []string{"--workers", "many"}, wantErr: "invalid argument"},
		{args: []string{"extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var got *BackupOptions
			cmd := newBackupCmd(f, func(_ context.Context, o *BackupOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Wiki != tt.want.Wiki || got.Lease != tt.want.Lease || got.Batch != tt.want.Batch || got.RetryErrors != tt.want.RetryErrors ||
				(tt.want.Workers != 0 && got.Workers != tt.want.Workers) {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestInventoryNeedsWiki(t *testing.T) {
	f, _, _ := testFactory()
	cmd := newInventoryCmd(f, func(context.Context, *InventoryOptions) error { t.Fatal("ran without --wiki"); return nil })
	cmd.SetArgs(nil)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--wiki is required") {
		t.Fatalf("error = %v", err)
	}
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code ExitCode
		out  string
	}{
		// --help never reads the config (there is none here).
		{[]string{"--help"}, ExitOK, "schema apply"},
		{[]string{"backup", "--help"}, ExitOK, "--retry-errors"},
		{[]string{"backup", "--no-such-flag"}, ExitUsage, "unknown flag"},
		{[]string{"--config", "/nonexistent/mediabackups.yaml", "status"}, ExitError, "MEDIABACKUPS_CONFIG"},
		{[]string{"--json", "--config", "/nonexistent/x.yaml", "status"}, ExitError, `"exit_code":1`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.out) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s%s", code, tt.code, tt.out, out.String(), errOut.String())
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestMetricsFlags: the monitoring flags reach the options of every command
// that has them, and a textfile node_exporter would ignore is a usage error
// before anything runs.
func TestMetricsFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen bool
		cmd    func(f *Factory, got *MetricsOptions) *cobra.Command
	}{
		{"backup", true, func(f *Factory, got *MetricsOptions) *cobra.Command {
			return newBackupCmd(f, func(_ context.Context, o *BackupOptions) error { *got = o.Metrics; return nil })
		}},
		{"update", true, func(f *Factory, got *MetricsOptions) *cobra.Command {
			return newUpdateCmd(f, func(_ context.Context, o *UpdateOptions) error { *got = o.Metrics; return nil })
		}},
		{"inventory", false, func(f *Factory, got *MetricsOptions) *cobra.Command {
			return newInventoryCmd(f, func(_ context.Context, o *InventoryOptions) error { *got = o.Metrics; return nil })
		}},
		{"status", false, func(f *Factory, got *MetricsOptions) *cobra.Command {
			return newStatusCmd(f, func(_ context.Context, o *StatusOptions) error { *got = o.Metrics; return nil })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(args ...string) (MetricsOptions, error) {
				f, _, _ := testFactory()
				var got MetricsOptions
				cmd := tc.cmd(f, &got)
				cmd.SetArgs(append([]string{"--wiki", "testwiki"}, args...))
				cmd.SetOut(&bytes.Buffer{})
				cmd.SetErr(&bytes.Buffer{})
				return got, cmd.Execute()
			}
			got, err := run("--metrics-file", "/var/lib/prometheus/node-exporter/x.prom")
			if err != nil || got.File != "/var/lib/prometheus/node-exporter/x.prom" {
				t.Errorf("--metrics-file: %+v, %v", got, err)
			}
			_, err = run("--metrics-file", "/tmp/x.txt")
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), ".prom") {
				t.Errorf("--metrics-file x.txt: %v, want a usage error naming .prom", err)
			}
			got, err = run("--metrics-listen", "127.0.0.1:9791")
			if tc.listen && (err != nil || got.Listen != "127.0.0.1:9791") {
				t.Errorf("--metrics-listen: %+v, %v", got, err)
			}
			if !tc.listen && err == nil {
				t.Errorf("%s accepted --metrics-listen, which only long-running commands have", tc.name)
			}
		})
	}
}

func TestBenchScaleFlags(t *testing.T) {
	t.Setenv(envBenchSecret, "secret")
	svc := []string{"--dsn", "u:p@tcp(127.0.0.1:1)/", "--endpoints", "http://127.0.0.1:2", "--access-key", "a"}
	tests := []struct {
		args    []string
		check   func(*BenchOptions) bool
		wantErr string
	}{
		{args: []string{"--scale-versions", "1000000,3000000,10000000"},
			check: func(o *BenchOptions) bool {
				return o.scale() && len(o.ScaleVersions) == 3 && o.ScaleVersions[2] == 10_000_000 && o.ScaleUpdateEvents == 1_000_000
			}},
		{args: []string{"--scale-versions", "5000", "--scale-update-events", "0", "--scale-seed", "7"},
			check: func(o *BenchOptions) bool { return o.ScaleUpdateEvents == 0 && o.ScaleSeed == 7 }},
		{args: []string{"--scale-processes", "1,2,4,8", "--scale-class", "100x1MiB"},
			check: func(o *BenchOptions) bool {
				return o.scale() && len(o.ScaleProcesses) == 4 && o.ScaleClass == "100x1MiB"
			}},
		{args: []string{"--meta-only"}, check: func(o *BenchOptions) bool { return !o.scale() }},
		{args: []string{"--scale-versions", "0"}, wantErr: "not a positive number"},
		{args: []string{"--scale-processes", "2,-1"}, wantErr: "not a positive number"},
		{args: []string{"--scale-versions", "100", "--meta-only"}, wantErr: "instead of"},
		{args: []string{"--scale-processes", "1", "--class", "1x1KiB"}, wantErr: "instead of"},
		{args: []string{"--scale-update-events", "10"}, wantErr: "give --scale-versions too"},
		{args: []string{"--scale-class", "10x1KiB"}, wantErr: "give --scale-processes too"},
		{args: []string{"--scale-processes", "1", "--scale-class", "ten"}, wantErr: "--scale-class"},
		{args: []string{"--scale-versions", "1e6"}, wantErr: "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var got *BenchOptions
			cmd := newBenchCmdRun(f, func(_ context.Context, o *BenchOptions) error { got = o; return nil })
			cmd.SetArgs(append(append([]string{}, svc...), tt.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("options = %+v", *got)
			}
		})
	}
}
