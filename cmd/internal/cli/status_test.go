package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
)

// TestStatusTextShowsWhatJSONShows: every count `status --json` gives
// (each backup status, the sha1 mismatches, objects and bytes per server)
// is in the text output too.
func TestStatusTextShowsWhatJSONShows(t *testing.T) {
	f, out, _ := interactiveFactory(t)
	f.cfg.Wikis = []config.Wiki{{Name: "testwiki", Type: "public"}}
	ctx := context.Background()
	s, err := metadata.Open(ctx, f.cfg.Metadata.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// One mismatch, one version in each of two statuses the first status
	// text left out.
	for _, q := range []string{
		`UPDATE files SET downloaded_sha1 = UNHEX(REPEAT('cd', 20)) WHERE title = 'Deleted_copy.png'`,
		`UPDATE files SET backup_status = 'gone' WHERE title = 'Deleted_copy.png'`,
		`UPDATE files SET backup_status = 'unavailable' WHERE production_status = 'archived'`,
		`INSERT INTO locations (endpoint) VALUES ('http://127.0.0.1:9101')`,
		`INSERT INTO backups (wiki_id, sha256, sha1, size, location_id, bucket, object_key, encrypted, stored_size, backup_date)
			SELECT wiki_id, UNHEX(REPEAT('ef', 32)), sha1, 95, (SELECT id FROM locations), 'mediabackups', 'k', 0, 2048, UTC_TIMESTAMP()
			FROM files WHERE production_status = 'public'`,
		`UPDATE files SET backup_status = 'backedup', backup_id = (SELECT id FROM backups) WHERE production_status = 'public'`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	f.JSON = true
	if err := statusRun(ctx, &StatusOptions{F: f}); err != nil {
		t.Fatal(err)
	}
	var sums []metadata.Summary
	if err := json.Unmarshal(out.Bytes(), &sums); err != nil || len(sums) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	out.Reset()
	f.JSON = false
	if err := statusRun(ctx, &StatusOptions{F: f}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	sum := sums[0]
	if sum.SHA1Mismatches != 1 || sum.ByBackupStatus["gone"] != 1 || sum.ByBackupStatus["unavailable"] != 1 || len(sum.ObjectsByLocation) != 1 {
		t.Fatalf("the fixture is not what the test expects: %+v", sum)
	}
	want := []string{fmt.Sprintf("sha1 mismatches: %d (see `mediabackups mismatches --wiki testwiki`)", sum.SHA1Mismatches)}
	for _, st := range metadata.BackupStatuses {
		want = append(want, fmt.Sprintf("%-16s %d (%s)\n", string(st)+":", sum.ByBackupStatus[string(st)], humanBytes(sum.BytesByBackupStatus[string(st)])))
	}
	for ep, n := range sum.ObjectsByLocation {
		want = append(want, fmt.Sprintf("objects on %s: %d (%s)", ep, n, humanBytes(sum.BytesByLocation[ep])))
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("status text lacks %q:\n%s", w, text)
		}
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "file", "0 files"},
		{1, "file", "1 file"},
		{2, "file", "2 files"},
		{1, "hidden version", "1 hidden version"},
		{3, "hidden version", "3 hidden versions"},
		{0, "entry", "0 entries"},
		{1, "entry", "1 entry"},
		{2, "sha1 mismatch", "2 sha1 mismatches"},
		{2, "day", "2 days"},
		{2, "failed step", "2 failed steps"},
	} {
		if got := count(tc.n, tc.noun); got != tc.want {
			t.Errorf("count(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
