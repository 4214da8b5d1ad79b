package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/storage"
	"github.com/mediabackups/mediabackups/verify"
)

func TestVerifyFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    VerifyOptions
		wantErr string
	}{
		{args: []string{"--all"}, want: VerifyOptions{All: true, MaxRate: DefaultVerifyRate, Parallel: 4, OrphanMinAge: time.Hour, Timeout: storage.DefaultTimeout}},
		{args: []string{"--sample", "0.05", "--wiki", "testwiki", "--max-rate", "0", "--repair", "--parallel", "8", "--orphan-min-age", "0s", "--timeout", "5s"},
			want: VerifyOptions{Sample: 0.05, Wiki: "testwiki", Repair: true, Parallel: 8, Timeout: 5 * time.Second}},
		{args: []string{"--sample", "1"}, want: VerifyOptions{Sample: 1, MaxRate: DefaultVerifyRate, Parallel: 4, OrphanMinAge: time.Hour, Timeout: storage.DefaultTimeout}},
		{args: []string{"--all", "--timeout", "0s"}, wantErr: `"--timeout" flag: out of range`},
		{args: nil, wantErr: "give --all, or --sample FRACTION"},
		{args: []string{"--all", "--sample", "0.5"}, wantErr: "give --all, or --sample"},
		{args: []string{"--sample", "0"}, wantErr: "above 0 and at most 1"},
		{args: []string{"--sample", "1.5"}, wantErr: "out of range: give a number from 0 to 1"},
		{args: []string{"--sample", "NaN"}, wantErr: "not a number"},
		{args: []string{"--all", "--max-rate", "-1"}, wantErr: `"--max-rate" flag: out of range`},
		{args: []string{"--all", "--max-rate", "+Inf"}, wantErr: "--max-rate"},
		{args: []string{"--all", "--parallel", "0"}, wantErr: `"--parallel" flag: out of range`},
		{args: []string{"--all", "--orphan-min-age", "-1h"}, wantErr: `"--orphan-min-age" flag: out of range`},
		{args: []string{"--all", "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var got *VerifyOptions
			cmd := newVerifyCmd(f, func(_ context.Context, o *VerifyOptions) error { got = o; return nil })
			cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(ExitUsage, err) }) // as the root command does
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if code := exitCodeOf(err); code != ExitUsage && !strings.Contains(tt.wantErr, "unknown command") {
					t.Errorf("exit code %d, want %d", code, ExitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.F = f
			if *got != tt.want {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func exitCodeOf(err error) ExitCode {
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return ExitError
}

func TestProblemSummaryAndHints(t *testing.T) {
	st := verify.Stats{Objects: 10, OK: 4, Missing: 1, Damaged: 2, Lost: 1, Unchecked: 1, Repaired: 1, VersionsWithoutObject: 1}
	if got, want := problemSummary(st), "1 missing, 2 damaged, 1 only copy lost, 1 not checked, 1 version(s) without an object"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	h := problemHints(st, false)
	for _, want := range []string{"--repair", "ONLY COPY LOST", "first in line", "metadata fault"} {
		if !strings.Contains(h, want) {
			t.Errorf("hints lack %q: %s", want, h)
		}
	}
	if h := problemHints(verify.Stats{Damaged: 1}, true); strings.Contains(h, "--repair") || !strings.Contains(h, "run again later") {
		t.Errorf("hints after a repair = %s", h)
	}
}
