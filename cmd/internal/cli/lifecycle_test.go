package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/sharding"
	"github.com/mediabackups/mediabackups/storage"
)

func TestLifecycleFlags(t *testing.T) {
	type got struct {
		rebalance *RebalanceOptions
		recover   *RecoverServerOptions
		rekey     *RekeyOptions
	}
	tests := []struct {
		cmd     string
		args    []string
		check   func(g got) bool
		wantErr string
	}{
		{cmd: "rebalance", check: func(g got) bool {
			o := g.rebalance
			return !o.Execute && o.MaxBytes == 0 && o.Parallel == 4 && o.Timeout == storage.DefaultTimeout
		}},
		{cmd: "rebalance", args: []string{"--execute", "--max-bytes", "2GiB", "--parallel", "8", "--timeout", "1m"}, check: func(g got) bool {
			o := g.rebalance
			return o.Execute && o.MaxBytes == 2<<30 && o.Parallel == 8 && o.Timeout == time.Minute
		}},
		{cmd: "rebalance", args: []string{"--max-bytes", "lots"}, wantErr: `"lots" is not a size`},
		{cmd: "rebalance", args: []string{"--parallel", "0"}, wantErr: `"--parallel" flag: out of range: give a number from 1 to`},
		{cmd: "rebalance", args: []string{"extra"}, wantErr: "unknown command"},
		{cmd: "recover-server", args: []string{"HTTP://Backup1005:9000/"}, check: func(g got) bool {
			return g.recover.Endpoint == "http://backup1005:9000" && !g.recover.Execute
		}},
		{cmd: "recover-server", args: []string{"http://backup1005:9000", "--execute"}, check: func(g got) bool { return g.recover.Execute }},
		{cmd: "recover-server", wantErr: "accepts 1 arg"},
		{cmd: "recover-server", args: []string{"backup1005:9000"}, wantErr: "want http://host:port"},
		{cmd: "rekey", args: []string{"--identity", "a.txt", "--identity", "b.txt", "--execute"}, check: func(g got) bool {
			o := g.rekey
			return o.Execute && strings.Join(o.Identities, ",") == "a.txt,b.txt" && o.Parallel == 4
		}},
		{cmd: "rekey", args: []string{"--timeout", "0s"}, wantErr: `"--timeout" flag: out of range: give a duration from 1s`},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var g got
			// The real command tree, with the command's run function replaced.
			root := NewRootCmd(f)
			for _, sub := range root.Commands() {
				if sub.Name() == tt.cmd {
					root.RemoveCommand(sub)
				}
			}
			switch tt.cmd {
			case "rebalance":
				root.AddCommand(newRebalanceCmd(f, func(_ context.Context, o *RebalanceOptions) error { g.rebalance = o; return nil }))
			case "recover-server":
				root.AddCommand(newRecoverServerCmd(f, func(_ context.Context, o *RecoverServerOptions) error { g.recover = o; return nil }))
			case "rekey":
				root.AddCommand(newRekeyCmd(f, func(_ context.Context, o *RekeyOptions) error { g.rekey = o; return nil }))
			}
			root.SetArgs(append([]string{tt.cmd}, tt.args...))
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&bytes.Buffer{})
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(g) {
				t.Errorf("options: %+v %+v %+v", g.rebalance, g.recover, g.rekey)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "1234", want: 1234},
		{in: "1234B", want: 1234},
		{in: "10KiB", want: 10 << 10},
		{in: "1.5GiB", want: 3 << 29},
		{in: "2 TiB", want: 2 << 40},
		{in: "500GB", want: 500e9},
		{in: "3MB", want: 3e6},
		{in: " 7MiB ", want: 7 << 20},
		{in: "", bad: true},
		{in: "GiB", bad: true},
		{in: "-1", bad: true},
		{in: "10 parsecs", bad: true},
		{in: "1e30", bad: true},
		{in: "NaN", bad: true},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseByteSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "10GiB", "1.5TB", "-3", "NaN", "Inf", "9e18"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseByteSize(s)
		if err == nil && n < 0 {
			t.Fatalf("parseByteSize(%q) = %d", s, n)
		}
	})
}

func TestShardRanges(t *testing.T) {
	eps := []config.Endpoint{
		{URL: "http://s1:9000"},
		{URL: "http://s2:9000", State: sharding.ReadOnly},
		{URL: "http://s3:9000", State: sharding.Down},
		{URL: "http://s4:9000", State: sharding.Active},
	}
	rows, err := shardRanges(eps)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ first, last, state, to string }{
		{"00000000", "3fffffff", "active", "http://s1:9000"},
		{"40000000", "7fffffff", "readonly", "http://s4:9000"},
		{"80000000", "bfffffff", "down", "http://s4:9000"},
		{"c0000000", "ffffffff", "active", "http://s4:9000"},
	}
	for i, w := range want {
		r := rows[i]
		if r.Index != i || r.Endpoint != eps[i].URL || r.First != w.first || r.Last != w.last || r.State != w.state || r.ReceivesNew == nil || *r.ReceivesNew != w.to {
			t.Errorf("row %d = %+v (receives_new %v), want %+v", i, r, r.ReceivesNew, w)
		}
	}
	// No active server: nothing receives new objects.
	rows, err = shardRanges([]config.Endpoint{{URL: "http://s1:9000", State: sharding.Down}})
	if err != nil || rows[0].ReceivesNew != nil {
		t.Errorf("no active server: %+v, %v", rows, err)
	}
}
