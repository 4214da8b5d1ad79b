package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
		{args: []string{"--workers", "-1"}, wantErr: "from 1 to 1024"},
		{args: []string{"--workers", "0"}, wantErr: "from 1 to 1024"},
		{args: []string{"--workers", "many"}, wantErr: "invalid argument"},
		{args: []string{"--lease", "1ns"}, wantErr: "from 3s to 24h"},
		{args: []string{"--lease", "0"}, wantErr: "from 3s to 24h"},
		{args: []string{"--lease", "-5s"}, wantErr: "from 3s to 24h"},
		{args: []string{"--lease", "90s", "--batch", "0"}, want: BackupOptions{Lease: 90 * time.Second}},
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
		{[]string{"verify", "--help"}, ExitOK, "ONLY COPY LOST"},
		{[]string{"verify"}, ExitUsage, "give --all, or --sample"},
		{[]string{"--config", "/nonexistent/mediabackups.yaml", "status"}, ExitError, "MEDIABACKUPS_CONFIG"},
		{[]string{"--json", "--config", "/nonexistent/x.yaml", "status"}, ExitError, `"exit_code":1`},
		// Unknown commands and stray words are usage errors, in JSON too.
		{[]string{"bogus", "--json"}, ExitUsage, `unknown command "bogus" for "mediabackups"`},
		{[]string{"bogus"}, ExitUsage, `unknown command "bogus"`},
		{[]string{"bakup"}, ExitUsage, "did you mean backup?"},
		{[]string{"help", "bogus"}, ExitUsage, `unknown command "bogus"`},
		{[]string{"help", "schema", "apply"}, ExitOK, "migration"},
		{[]string{"schema", "bogus"}, ExitUsage, `unknown command "bogus" for "mediabackups schema"`},
		{[]string{"schema"}, ExitOK, "apply"},
		{[]string{"completion", "bogus"}, ExitUsage, `unknown command "bogus" for "mediabackups completion"`},
		{[]string{"completion", "bash"}, ExitOK, "bash completion"},
		{[]string{"backup", "extra", "--json"}, ExitUsage, `unknown command "extra" for "mediabackups backup"`},
		{[]string{"status", "--json", "extra"}, ExitUsage, `unknown command "extra"`},
		// --json after the bad word is still honoured.
		{[]string{"backup", "--workers", "0", "--json"}, ExitUsage, "from 1 to 1024"},
		{[]string{"backup", "--bogus", "--json"}, ExitUsage, "unknown flag: --bogus"},
		{[]string{"backup", "--bogus", "--json=false"}, ExitUsage, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tt.args, strings.NewReader(""), &out, &errOut)
			checkExit(t, tt.args, code, tt.code, tt.out, out.String(), errOut.String())
		})
	}
	for _, bin := range []struct{ name, command string }{{"query-media-file", "query"}, {"restore-media-file", "restore"}, {"delete-media-file", "delete"}} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--bogus", "--json"}, "Run '" + bin.name + " --help'"},
			{[]string{"a", "b", "--json"}, "accepts at most 1 arg"},
			{[]string{"--json", "--sha1", "abc", "--sha1-base36", "y"}, "--sha1-base36: the search already has a sha1"},
			{[]string{"--json", "--all"}, "--all needs --wiki"},
		} {
			t.Run(bin.name+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				var out, errOut bytes.Buffer
				code := MainAs(bin.name, bin.command, tc.args, strings.NewReader(""), &out, &errOut)
				checkExit(t, tc.args, code, ExitUsage, tc.want, out.String(), errOut.String())
			})
		}
	}
}

// checkExit checks a run's exit code and that its output holds want; with
// --json, stdout must be exactly one ErrorResult with that code.
func checkExit(t *testing.T, args []string, code, wantCode ExitCode, want, out, errOut string) {
	t.Helper()
	if code != wantCode || !strings.Contains(out+errOut, want) {
		t.Errorf("%v: exit %d, want %d; output lacks %q:\n%s%s", args, code, wantCode, want, out, errOut)
	}
	if code == ExitOK || !slices.Contains(args, "--json") {
		if strings.HasPrefix(strings.TrimSpace(out), "{") {
			t.Errorf("%v: JSON without --json:\n%s", args, out)
		}
		return
	}
	var res ErrorResult
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || res.ExitCode != code || res.Error == "" || dec.More() {
		t.Errorf("%v: stdout is not one ErrorResult with exit code %d: %v\n%s", args, code, err, out)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestEndpointTypoFailsEveryCommand: a config whose endpoint has a typo
// is refused when it is loaded, whichever command loads it, before any
// connection is tried.
func TestEndpointTypoFailsEveryCommand(t *testing.T) {
	dir := t.TempDir()
	for name, endpoint := range map[string]string{"port": "http://127.0.0.1:91o3", "path": "http://127.0.0.1:9103/mediabackups"} {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, []byte(`metadata: {dsn: "u@tcp(127.0.0.1:1)/x"}
storage: {endpoints: [http://127.0.0.1:9101, "`+endpoint+`"]}
logdir: `+dir+`
wikis: [{name: testwiki, api: "http://127.0.0.1:1/api.php", type: public}]
`), 0o600)
		for _, args := range [][]string{
			{"status"}, {"shards"}, {"schema", "apply"}, {"inventory", "--wiki", "testwiki"}, {"backup"},
			{"update", "--wiki", "testwiki"}, {"mismatches", "--wiki", "testwiki"},
			{"query", "--title", "A.png"}, {"restore", "--yes", "--title", "A.png"}, {"delete", "--title", "A.png"},
		} {
			t.Run(name+" "+strings.Join(args, " "), func(t *testing.T) {
				var out, errOut bytes.Buffer
				code := Main(append([]string{"--config", path}, args...), strings.NewReader(""), &out, &errOut)
				if code != ExitError || !strings.Contains(errOut.String(), "storage.endpoints: \""+endpoint+"\"") {
					t.Errorf("exit %d, want 1 and the endpoint named:\n%s", code, errOut.String())
				}
			})
		}
	}
}

// TestEveryNumberFlagHasARange walks every command, hidden ones too: each
// number or duration flag must be an intFlag or durationFlag, and a value
// below or above its range (or not a number) is refused with exit 2 and a
// message that gives the range, before the config is read.
func TestEveryNumberFlagHasARange(t *testing.T) {
	f, _, _ := testFactory()
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			var bad []string
			var span string
			switch v := fl.Value.(type) {
			case *intRange:
				bad = []string{fmt.Sprint(v.min - 1), fmt.Sprint(v.max + 1), "x"}
				span = fmt.Sprintf("%d to %d", v.min, v.max)
			case *intsRange:
				bad = []string{fmt.Sprint(v.min - 1), fmt.Sprint(v.max + 1), "x", fmt.Sprintf("%d,%d", v.min, v.max+1)}
				span = fmt.Sprintf("%d to %d", v.min, v.max)
			case *floatRange:
				bad = []string{fmt.Sprint(v.min - 1), fmt.Sprint(v.max*2 + 1), "x", "NaN", "+Inf"}
				span = fmt.Sprintf("%g to %g", v.min, v.max)
			case *durationRange:
				for _, b := range []string{(v.min - time.Nanosecond).String(), (v.max + time.Second).String(), "0", "-5s", "1ns", "10"} {
					if d, err := time.ParseDuration(b); err != nil || d < v.min || d > v.max {
						bad = append(bad, b) // only the values out of this flag's range
					}
				}
				span = fmt.Sprintf("%s to %s", fmtDuration(v.min), fmtDuration(v.max))
			default:
				if tp := fl.Value.Type(); strings.HasPrefix(tp, "int") || strings.HasPrefix(tp, "uint") || strings.HasPrefix(tp, "float") || strings.HasPrefix(tp, "duration") {
					t.Errorf("%s --%s is a %s without a range: define it with intFlag, floatFlag or durationFlag", c.CommandPath(), fl.Name, tp)
				}
				return
			}
			if !strings.Contains(fl.Usage, "("+span+")") {
				t.Errorf("%s --%s: usage %q does not give the range", c.CommandPath(), fl.Name, fl.Usage)
			}
			rng := "from " + span
			path := strings.Fields(c.CommandPath())[1:]
			for _, b := range bad {
				var out, errOut bytes.Buffer
				args := append(append([]string{}, path...), "--"+fl.Name, b, "--json")
				code := Main(append(args, "--config", "/nonexistent.yaml"), strings.NewReader(""), &out, &errOut)
				if code != ExitUsage || !strings.Contains(errOut.String(), rng) || !strings.Contains(errOut.String(), "--"+fl.Name) {
					t.Errorf("%v: exit %d, want 2 and %q:\n%s", args, code, rng, errOut.String())
				}
				checked++
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd(f))
	if checked < 20 {
		t.Errorf("only %d bad values tried: the walk missed the flags", checked)
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

func TestBenchPeerFlags(t *testing.T) {
	t.Setenv(envBenchSecret, "secret")
	svc := []string{"--dsn", "u:p@tcp(127.0.0.1:1)/", "--endpoints", "http://127.0.0.1:2", "--access-key", "a", "--no-production"}
	tests := []struct {
		args      []string
		wantPairs int // bench.Options.Pairs
		wantErr   string
	}{
		{args: nil, wantPairs: 5},
		{args: []string{"--pairs", "9"}, wantPairs: 9},
		{args: []string{"--pairs", "2"}, wantPairs: 2},
		{args: []string{"--no-peer"}, wantPairs: 0},
		{args: []string{"--pairs", "1"}, wantErr: "from 2 to 100"},
		{args: []string{"--pairs", "101"}, wantErr: "from 2 to 100"},
		{args: []string{"--pairs", "3", "--no-peer"}, wantErr: "--no-peer skips"},
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
			if got.peerPairs() != tt.wantPairs {
				t.Errorf("pairs = %d, want %d (options %+v)", got.peerPairs(), tt.wantPairs, *got)
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
		{args: []string{"--scale-versions", "0"}, wantErr: "is out of range: give a comma-separated list"},
		{args: []string{"--scale-processes", "2,-1"}, wantErr: "is out of range: give a comma-separated list"},
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
