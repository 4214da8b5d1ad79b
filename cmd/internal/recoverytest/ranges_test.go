package recoverytest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// TestWholeWikiAndDateRangeRestore restores every version of the public
// test wiki with --all, then the versions uploaded in a date range, and
// checks each file written against the backups' metadata and production's
// own bytes; delete refuses --all alone. The shared wikis are only read.
func TestWholeWikiAndDateRangeRestore(t *testing.T) {
	pub, priv := testsvc.PublicWiki(t), testsvc.PrivateWiki(t)
	e := newEnv(t, wikiConf{"testwiki", "public", pub}, wikiConf{"privatewiki", "private", priv})
	pubBytes := originals(t, pub)

	// restore runs restore-media-file --json with args into a new
	// directory and returns the sha1 of each version written (by the
	// bytes in the file), sorted, and the directory.
	restore := func(t *testing.T, args ...string) ([]string, string) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "restored")
		r := e.mustRun("restore-media-file", append([]string{"--json", "--yes", "--target", dir}, args...)...)
		var res struct {
			Written []struct {
				Match struct{ Wiki, SHA1 string }
				Name  string
			}
			Failed []any
			Total  int
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		if len(res.Failed) != 0 || res.Total != len(res.Written) {
			t.Fatalf("failed %v, total %d, written %d\n%s", res.Failed, res.Total, len(res.Written), r)
		}
		var got []string
		for _, w := range res.Written {
			b, err := os.ReadFile(filepath.Join(dir, w.Name))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha1.Sum(b)
			h := hex.EncodeToString(sum[:])
			if h != w.Match.SHA1 || w.Match.Wiki != "testwiki" {
				t.Errorf("%s: sha1 %s of wiki %s, want %s of testwiki", w.Name, h, w.Match.Wiki, w.Match.SHA1)
			}
			if orig, ok := pubBytes[h]; !ok || string(orig) != string(b) {
				t.Errorf("%s: not production's bytes", w.Name)
			}
			got = append(got, h)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != len(got) {
			t.Errorf("%d files in %s, %d written", len(entries), dir, len(got))
		}
		sort.Strings(got)
		return got, dir
	}
	sha1s := func(vs []version) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.sha1)
		}
		sort.Strings(out)
		return out
	}

	all := e.versions("w.name = 'testwiki' AND f.backup_id IS NOT NULL")
	if n := len(e.versions("w.name = 'testwiki'")); n != len(all) || n < 10 {
		t.Fatalf("testwiki: %d versions, %d backed up; want all of at least 10 backed up", n, len(all))
	}

	t.Run("--all restores every version of the wiki, and only those", func(t *testing.T) {
		got, _ := restore(t, "--wiki", "testwiki", "--all")
		if want := sha1s(all); !slices.Equal(got, want) {
			t.Errorf("restored %v\nwant %v", got, want)
		}
	})

	t.Run("a date range: FROM included, TO excluded", func(t *testing.T) {
		// Between the second and the last upload dates: the versions
		// uploaded at FROM are in, those at TO are not.
		var dates []string
		for _, v := range all {
			if !slices.Contains(dates, v.uploaded) {
				dates = append(dates, v.uploaded)
			}
		}
		sort.Strings(dates)
		if len(dates) < 4 {
			t.Fatalf("only %d upload dates: %v", len(dates), dates)
		}
		from, to := dates[1], dates[len(dates)-1]
		want := sha1s(e.versions("w.name = 'testwiki' AND f.upload_date >= ? AND f.upload_date < ?", from, to))
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("the range %s..%s selects %d of %d versions", from, to, len(want), len(all))
		}
		got, _ := restore(t, "--wiki", "testwiki", "--upload-between", from+".."+to)
		if !slices.Equal(got, want) {
			t.Errorf("restored %v\nwant %v", got, want)
		}
		// Open end, as days, and combined with --all (which adds nothing).
		day, _ := time.Parse("20060102150405", to)
		want = sha1s(e.versions("w.name = 'testwiki' AND f.upload_date >= ?", day.Format("2006-01-02")))
		got, _ = restore(t, "--wiki", "testwiki", "--all", "--upload-between", day.Format("2006-01-02")+"..")
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("restored %v\nwant %v", got, want)
		}
	})

	t.Run("delete refuses --all alone, and changes nothing", func(t *testing.T) {
		before, objs := e.dbState(), e.objects()
		r := e.run("delete-media-file", "--wiki", "testwiki", "--all", "--execute", "--yes")
		if r.code != 2 || !strings.Contains(r.stderr, "delete refuses --all alone") {
			t.Errorf("delete --all: %s", r)
		}
		if e.dbState() != before || !slices.Equal(e.objects(), objs) {
			t.Error("delete --all changed the backups")
		}
	})
}
