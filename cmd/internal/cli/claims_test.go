package cli

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

func TestParseWorkerID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		host string
		pid  int
		ok   bool
	}{
		{"backup1001:1234:0a1b2c3d", "backup1001", 1234, true},
		{"host.example.org:1:ff", "host.example.org", 1, true},
		{"a:b:1:ff", "a:b", 1, true},
		{"host:0:ff", "", 0, false},
		{"host:x:ff", "", 0, false},
		{"host:12", "", 0, false},
		{"w", "", 0, false},
		{"", "", 0, false},
	} {
		host, pid, ok := parseWorkerID(tc.id)
		if host != tc.host || pid != tc.pid || ok != tc.ok {
			t.Errorf("parseWorkerID(%q) = %q, %d, %v; want %q, %d, %v", tc.id, host, pid, ok, tc.host, tc.pid, tc.ok)
		}
	}
}

func TestWorkerState(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	lease := 10 * time.Minute
	claim := func(worker string, renewedAgo time.Duration) metadata.WorkerClaims {
		renewed := now.Add(-renewedAgo)
		return metadata.WorkerClaims{Worker: worker, Files: 1, FirstLeaseEnd: renewed.Add(lease), LastLeaseEnd: renewed.Add(lease), Renewed: renewed}
	}
	// A pid that cannot run: above the kernel's pid_max (at most 2^22).
	const deadPID = "4194305"
	me := "here:" + strconv.Itoa(os.Getpid()) + ":aa"
	for _, tc := range []struct {
		name string
		c    metadata.WorkerClaims
		want string
	}{
		{"this host, running", claim(me, time.Hour), workerRunning},
		{"this host, gone", claim("here:"+deadPID+":aa", 0), workerGone},
		{"elsewhere, renewing", claim("there:1:aa", 2*time.Minute), workerActive},
		{"elsewhere, overdue", claim("there:1:aa", lease/3+2*time.Minute), workerStalled},
		{"not a worker id", claim("w", 0), workerActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := workerState(tc.c, "here", now); got != tc.want {
				t.Errorf("workerState = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBackupDBWaitFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    time.Duration
		wantErr string
	}{
		{nil, 3 * time.Minute, ""},
		{[]string{"--db-wait", "30s"}, 30 * time.Second, ""},
		{[]string{"--db-wait", "0"}, 0, ""},
		{[]string{"--db-wait", "-1s"}, 0, "must not be negative"},
	} {
		f, _, _ := testFactory()
		var got *BackupOptions
		cmd := newBackupCmd(f, func(_ context.Context, o *BackupOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.DBWait != tc.want {
			t.Errorf("%v: %v, db wait %v; want %v", tc.args, err, got.DBWait, tc.want)
		}
	}
}
