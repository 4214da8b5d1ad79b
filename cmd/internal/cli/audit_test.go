package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/metadata"
)

func TestAuditFlags(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		parallel int
		budget   int64
		wantErr  string
	}{
		{args: []string{"--wiki", "w"}, parallel: audit.DefaultParallel, budget: audit.DefaultReadBudget},
		{args: []string{"--wiki", "w", "--parallel", "16", "--read-budget", "500MiB"}, parallel: 16, budget: 500 << 20},
		{args: []string{"--wiki", "w", "--read-budget", "1GB"}, parallel: audit.DefaultParallel, budget: 1e9},
		{args: []string{"--wiki", "w", "--read-budget", "0"}, parallel: audit.DefaultParallel, budget: -1},
		{args: []string{"--parallel", "2"}, wantErr: "--wiki is required"},
		{args: []string{"--wiki", "w", "--parallel", "0"}, wantErr: "give a number from 1 to 256"},
		{args: []string{"--wiki", "w", "--read-budget", "lots"}, wantErr: "want a size"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var got *AuditOptions
			cmd := newAuditCmd(f, func(_ context.Context, o *AuditOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(ExitUsage, err) }) // as the root command does
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want a usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Wiki != "w" || got.Parallel != tt.parallel || got.readBudget != tt.budget {
				t.Errorf("options = %+v, want parallel %d, budget %d", *got, tt.parallel, tt.budget)
			}
		})
	}
}

// TestPrintAudit pins the text output: a line per problem, new or known
// since when, and the summary with the comparison.
func TestPrintAudit(t *testing.T) {
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	res := &audit.Result{
		Report: audit.Report{Wiki: "testwiki", Versions: 47},
		Findings: []audit.Finding{
			{Problem: audit.Problem{ID: 28, Title: "Simple.png", Status: "public", ProductionContainer: "c", ProductionPath: "2/2e/Simple.png",
				Problem: audit.Missing, Detail: "not in production", BackupOK: true}, New: true, Since: since},
			{Problem: audit.Problem{ProductionContainer: "c", ProductionPath: "6/6d/Evil\x1b[2J.png", Problem: audit.Unexpected,
				Detail: "size 3: no version is at this place"}, Since: since},
		},
		Previous: &metadata.AuditRun{Started: since},
		Changes:  audit.Changes{New: 1, Unchanged: 1},
		Counts:   metadata.AuditCounts{Containers: 2, Objects: 47, Versions: 47, Missing: 1, Unexpected: 1},
		Checks:   audit.Checks{MD5: 46},
		Elapsed:  2 * time.Second,
	}
	var buf bytes.Buffer
	printAudit(&buf, "swift http://x/v1/AUTH_test", res)
	want := `missing    c/2/2e/Simple.png (Simple.png, id 28, public, backup ok): not in production [new]
unexpected c/6/6d/Evil\x1b[2J.png: size 3: no version is at this place [since 2026-12-01 10:00:00 UTC]
audit of testwiki on swift http://x/v1/AUTH_test: 47 versions in 2 containers, 47 objects listed, in 2s (24 objects/s)
  1 missing, 0 damaged, 1 unexpected
  found whole: 46 by md5, 0 by the sha1 header, 0 read and hashed, 0 by size only; objects read: 0 (0 B); md5 recorded for 0 versions
  since the last audit (2026-12-01 10:00:00 UTC): new: 1, fixed: 0, unchanged: 1
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}
