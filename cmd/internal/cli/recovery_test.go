package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/eraselog"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/search"
)

func TestCloseMatches(t *testing.T) {
	names := []string{"commonswiki", "enwiki", "testwiki", "privatewiki", "dewiki"}
	for _, tc := range []struct{ in, want string }{
		{"comonswiki", "[commonswiki]"},
		{"testwik", "[testwiki]"},
		{"TestWiki", "[testwiki]"},
		{"enwikii", "[enwiki]"},
		{"zzzzzzzzzz", "[]"},
	} {
		if got := fmt.Sprint(closeMatches(tc.in, names)); got != tc.want {
			t.Errorf("closeMatches(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestConfirmPolicy(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		canPrompt, stdinTTY, yes, execute bool
		ask                               bool
		err                               string
	}{
		{"terminal asks", true, true, false, false, true, ""},
		{"terminal, --yes", true, true, true, false, false, ""},
		{"delete --execute --yes on a terminal is refused", true, true, true, true, false, "refused"},
		{"delete --execute --yes with stdin not a terminal", false, false, true, true, false, ""},
		{"stdin a terminal but stdout piped: still refused", false, true, true, true, false, "refused"},
		{"no terminal, no --yes", false, false, false, false, false, "--yes is required"},
		{"no terminal, execute, no --yes", false, false, false, true, false, "--yes is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ask, err := confirmPolicy(tc.canPrompt, tc.stdinTTY, tc.yes, tc.execute)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != ExitUsage {
					t.Errorf("exit code of %v, want ExitUsage", err)
				}
				return
			}
			if err != nil || ask != tc.ask {
				t.Fatalf("ask = %v, %v; want %v", ask, err, tc.ask)
			}
		})
	}
}

func TestRecoveryFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--sha1", "abc", "--sha1-base36", "rjr"}, "--sha1-base36: the search already has a sha1: give it once"},
		{[]string{"--upload-date", "2025-01-01 00:00:00", "--upload-date", "2025-01-02 00:00:00", "--upload-between", ".."}, "--upload-between: \"..\" has neither end"},
		{[]string{"--upload-between", "2025-02-01..2025-01-01"}, "--upload-between: range \"2025-02-01..2025-01-01\" is empty"},
		{[]string{"--archive-between", "2025-01-01"}, "--archive-between: \"2025-01-01\" is not a range: write FROM..TO"},
		{[]string{"--delete-between", "..2025-13-01"}, "--delete-between: range \"..2025-13-01\", TO:"},
		{[]string{"--all"}, "--all needs --wiki"},
		{[]string{"--all=maybe", "--wiki", "w"}, "\"maybe\" is not true or false"},
		{[]string{"--wiki", "w", "--all", "erase.log"}, "takes no search flag"},
		{[]string{"--container", "c"}, "go together"},
		{[]string{"--title", "A.png", "erase.log"}, "takes no search flag"},
		{[]string{"a", "b"}, "accepts at most 1 arg"},
		{[]string{"--parallel", "0", "--title", "x"}, "from 1 to 1024"},
		// Values are checked before anything runs, and the flag at fault named.
		{[]string{"--container", "a b", "--path", "ok"}, "--container: \"a b\" is not a container name"},
		{[]string{"--container", "c", "--path", " "}, "--path: the path is empty"},
		{[]string{"--sha1", "xyz"}, "--sha1: \"xyz\" is not hexadecimal"},
		{[]string{"--upload-date", "yesterday"}, "--upload-date:"},
		{[]string{"/nonexistent/erase.log"}, "batch file: stat /nonexistent/erase.log: no such file"},
		{[]string{"/dev/null"}, "batch file /dev/null is not a regular file (a device)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			cmd := newRestoreCmd(f, func(context.Context, *RestoreOptions) error { t.Fatal("ran"); return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
		})
	}
	// Several search flags are ANDed into one query; --all=false is no
	// criterion.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--title", "A.png", "--upload-between", "2025-01-01.."}, "title=A.png upload_between=2025-01-01 00:00:00.."},
		{[]string{"--wiki", "w", "--all", "--archive-between", "..2025-02-01 12:00:00"}, "archive_between=..2025-02-01 12:00:00 all=yes"},
		{[]string{"--wiki", "w", "--all=false", "--delete-between", "20250101000000..20250102000000"}, "delete_between=2025-01-01 00:00:00..2025-01-02 00:00:00"},
		{[]string{"--upload-date", "2025-01-01 10:00:00", "--upload-between", "2025-01-01..2025-01-02"}, "upload_date=2025-01-01 10:00:00 upload_between=2025-01-01 00:00:00..2025-01-02 00:00:00"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var got *RestoreOptions
			cmd := newRestoreCmd(f, func(_ context.Context, o *RestoreOptions) error { got = o; return nil })
			cmd.SetArgs(tc.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			sf, err := got.methods()
			if err != nil {
				t.Fatal(err)
			}
			q, err := sf.query()
			if err != nil || q.String() != tc.want {
				t.Errorf("query = %q, %v; want %q", q.String(), err, tc.want)
			}
		})
	}
	// delete refuses --all alone (a usage error, before anything runs),
	// and takes it narrowed; query and restore take it alone.
	for _, tc := range []struct {
		cmd  string
		args []string
		err  string
	}{
		{"delete", []string{"--wiki", "w", "--all"}, "delete refuses --all alone"},
		{"delete", []string{"--wiki", "w", "--all", "--execute", "--yes"}, "delete refuses --all alone"},
		{"delete", []string{"--wiki", "w", "--all", "--delete-between", "2025-01-01.."}, ""},
		{"delete", []string{"--wiki", "w", "--delete-between", "2025-01-01.."}, ""},
		{"query", []string{"--wiki", "w", "--all"}, ""},
		{"restore", []string{"--wiki", "w", "--all"}, ""},
	} {
		t.Run(tc.cmd+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			ran := false
			var cmd *cobra.Command
			switch tc.cmd {
			case "delete":
				cmd = newDeleteCmd(f, func(context.Context, *DeleteOptions) error { ran = true; return nil })
			case "query":
				cmd = newQueryCmd(f, func(context.Context, *QueryOptions) error { ran = true; return nil })
			default:
				cmd = newRestoreCmd(f, func(context.Context, *RestoreOptions) error { ran = true; return nil })
			}
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tc.err == "" {
				if err != nil || !ran {
					t.Fatalf("error = %v, ran %v; want it to run", err, ran)
				}
				return
			}
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ee) || ee.code != ExitUsage || ran {
				t.Fatalf("error = %v, ran %v; want a usage error %q", err, ran, tc.err)
			}
		})
	}
	f, _, _ := testFactory()
	var got *DeleteOptions
	cmd := newDeleteCmd(f, func(_ context.Context, o *DeleteOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--wiki", "testwiki", "--sha1-base36", "rjr", "--execute", "--delete-shared", "--timeout", "3s", "--yes"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Execute || !got.DeleteShared || got.Timeout != 3*time.Second || !got.Yes || *got.Search["sha1-base36"] != "rjr" || got.Wiki != "testwiki" {
		t.Errorf("options = %+v", got)
	}
}

// scripted is a Prompter that gives prepared answers and records the
// questions.
type scripted struct {
	answers []string // Select answers are indexes, as decimal text
	asked   []string
}

func (s *scripted) next(label string) (string, error) {
	s.asked = append(s.asked, label)
	if len(s.answers) == 0 {
		return "", errPromptAborted
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *scripted) Input(label, def string) (string, error) {
	a, err := s.next(label)
	if a == "<default>" {
		a = def
	}
	return a, err
}

func (s *scripted) Select(label string, items []string) (int, error) {
	a, err := s.next(label)
	if err != nil {
		return 0, err
	}
	var i int
	_, err = fmt.Sscan(a, &i)
	return i, err
}

// interactiveFactory returns a Factory on a fresh database holding a few
// versions of testwiki (no MinIO: query only reads the metadata).
func interactiveFactory(t *testing.T) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	dsn := testsvc.Database(t)
	s, err := metadata.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	day := func(d int) time.Time { return time.Date(2025, 1, d, 9, 0, 0, 0, time.UTC) }
	vs := []metadata.File{
		{Title: "Wow!Amazing.png", Container: "wikipedia-test-local-public", Path: "9/9b/Wow!Amazing.png", SourceURL: "http://x/9/9b/Wow%21Amazing.png",
			SHA1: "f6acdd72afe01d29332a00df841f15feb98f1fa1", Size: 95, Status: metadata.Public, UploadDate: day(2)},
		{Title: "Wow!Amazing.png", Container: "wikipedia-test-local-public", Path: "archive/9/9b/20250102090000!Wow!Amazing.png",
			ArchiveName: "20250102090000!Wow!Amazing.png", ArchiveDate: day(2),
			SHA1: "2124fdb9b84a6667f0cb76400eed2615213af9b0", Size: 95, Status: metadata.Archived, UploadDate: day(1)},
		{Title: "Deleted_copy.png", Container: "wikipedia-test-local-deleted", Path: "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png",
			StorageKey: "rjrzta2uecby71eo37q33rfc4bdtzyv.png", SHA1: "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", Size: 94,
			Status: metadata.Deleted, UploadDate: day(3), DeleteDate: day(4)},
	}
	if _, err := s.SyncVersions(ctx, wiki, vs, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE files SET sha256 = UNHEX(REPEAT('ab', 32)) WHERE title = 'Deleted_copy.png'`); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := testFactory()
	// Storage is configured but never contacted by these tests: nothing
	// listens on port 1.
	secret := filepath.Join(t.TempDir(), "recovery-secret")
	if err := os.WriteFile(secret, []byte("not-a-real-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.cfg = &config.Config{Metadata: config.Metadata{DSN: dsn}, LogDir: t.TempDir(), DefaultWiki: "testwiki",
		Storage: config.Storage{Bucket: "mediabackups", Endpoints: config.ActiveEndpoints("http://127.0.0.1:1"),
			Recovery: config.Credential{AccessKey: "recovery", SecretKeyFile: secret}}}
	return f, out, errOut
}

func TestInteractiveQueryEveryMethod(t *testing.T) {
	f, out, _ := interactiveFactory(t)
	idx := map[string]string{}
	for i, m := range search.Methods {
		idx[m.Name] = fmt.Sprint(i)
	}
	for _, tc := range []struct {
		method  string
		answers []string // after wiki and method
		refused string   // the message for the bad value
		want    string   // a title in the output
		matches int
	}{
		{"title", []string{"  ", "File:Wow!Amazing.png"}, "the title is empty", "Wow!Amazing.png", 2},
		{"sha1", []string{"xyz", "f6acdd72afe01d29332a00df841f15feb98f1fa1"}, "not hexadecimal", "Wow!Amazing.png", 1},
		{"sha1-base36", []string{"rjrzta2uecby71eo37q33rfc4bdtzyv00", "rjrzta2uecby71eo37q33rfc4bdtzyv"}, "not a sha1 in base 36", "Deleted_copy.png", 1},
		{"path", []string{"wiki pedia", "wikipedia-test-local-public", "", "archive/9/9b/20250102090000!Wow!Amazing.png"}, "not a container name", "20250102090000!Wow!Amazing.png", 1},
		{"sha256", []string{"abab", strings.Repeat("AB", 32)}, "exactly 64", "Deleted_copy.png", 1},
		{"upload-date", []string{"yesterday", "20250101090000"}, "not a date", "2124fdb9b84a6667f0cb76400eed2615213af9b0", 1},
		{"archive-date", []string{"2025-01-02", "2025-01-02 09:00:00"}, "YYYY-MM-DD hh:mm:ss", "20250102090000!Wow!Amazing.png", 1},
		{"delete-date", []string{"2025-13-01 00:00:00", "2025-01-04 09:00:00"}, "not a date", "Deleted_copy.png", 1},
		// A range, or every version, is offered to be narrowed; "0" searches.
		{"upload-between", []string{"2025-01-02..2025-01-01", "2025-01-01..2025-01-03", "0"}, "is empty", "Wow!Amazing.png", 2},
		{"archive-between", []string{"2025-01-02", "..2025-01-03", "0"}, "not a range", "20250102090000!Wow!Amazing.png", 1},
		{"delete-between", []string{"..", "2025-01-04..", "0"}, "neither end", "Deleted_copy.png", 1},
		{"all", []string{fmt.Sprint(len(search.Methods)), "0"}, "the search already has a all", "Deleted_copy.png", 3},
	} {
		t.Run(tc.method, func(t *testing.T) {
			out.Reset()
			p := &scripted{answers: append([]string{"testwik", "<default>", idx[tc.method]}, tc.answers...)}
			opts := &QueryOptions{RecoveryOptions{F: f, Tool: "query", Prompter: p}}
			if err := queryRun(context.Background(), opts); err != nil {
				t.Fatalf("query: %v\n%s", err, out)
			}
			o := out.String()
			for _, want := range []string{`✗ unknown wiki "testwik"; did you mean: testwiki`, "✗ " + "", tc.refused, tc.want,
				fmt.Sprintf("match %d of %d", tc.matches, tc.matches)} {
				if !strings.Contains(o, want) {
					t.Errorf("output lacks %q:\n%s", want, o)
				}
			}
			if len(p.answers) != 0 {
				t.Errorf("answers left: %v (asked %v)", p.answers, p.asked)
			}
			// The bad value was asked again: the value question came twice.
			if n := len(p.asked); n < 5 {
				t.Errorf("asked %v, want the wiki and the value asked twice", p.asked)
			}
		})
	}
	// The session is in the log.
	b, err := os.ReadFile(filepath.Join(f.cfg.LogDir, "query.log"))
	if err != nil || !strings.Contains(string(b), "session start") || !strings.Contains(string(b), "answer refused") {
		t.Errorf("query.log: %v\n%s", err, b)
	}
}

// TestInteractiveNarrowing: a broad search is narrowed by the next method
// chosen; a precise one ends the questions; delete does not take every
// version alone and asks again.
func TestInteractiveNarrowing(t *testing.T) {
	f, out, _ := interactiveFactory(t)
	idx := func(name string) string {
		for i, m := range search.Methods {
			if m.Name == name {
				return fmt.Sprint(i)
			}
		}
		t.Fatalf("no method %s", name)
		return ""
	}
	plus1 := func(name string) string { var i int; fmt.Sscan(idx(name), &i); return fmt.Sprint(i + 1) }
	for _, tc := range []struct {
		tool    string
		answers []string
		want    string // the query
		refused string
	}{
		{"query", []string{"testwiki", idx("upload-between"), "2025-01-01..", plus1("title"), "Wow!Amazing.png"},
			"title=Wow!Amazing.png upload_between=2025-01-01 00:00:00..", ""},
		{"query", []string{"testwiki", idx("all"), plus1("delete-between"), "2025-01-04..", "0"},
			"delete_between=2025-01-04 00:00:00.. all=yes", ""},
		{"restore", []string{"testwiki", idx("upload-between"), "2025-01-02..", plus1("archive-between"), "..2030-01-01", "0"},
			"upload_between=2025-01-02 00:00:00.. archive_between=..2030-01-01 00:00:00", ""},
		{"delete", []string{"testwiki", idx("all"), "0", plus1("sha1"), "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"},
			"sha1=ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457 all=yes", "delete refuses --all alone"},
	} {
		t.Run(tc.tool+" "+tc.want, func(t *testing.T) {
			out.Reset()
			p := &scripted{answers: tc.answers}
			opts := &RecoveryOptions{F: f, Tool: tc.tool, Prompter: p}
			s, err := opts.openSession(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			q, err := s.ask(context.Background())
			s.close(nil)
			if err != nil || q.String() != tc.want || q.WikiID == 0 {
				t.Fatalf("ask = %q (wiki %d), %v; want %q (asked %v)", q.String(), q.WikiID, err, tc.want, p.asked)
			}
			if len(p.answers) != 0 {
				t.Errorf("answers left: %v (asked %v)", p.answers, p.asked)
			}
			if tc.refused != "" && !strings.Contains(out.String(), "✗ "+tc.refused) {
				t.Errorf("output lacks %q:\n%s", tc.refused, out)
			}
		})
	}
}

func TestInteractiveAbortAndNothingFound(t *testing.T) {
	f, out, _ := interactiveFactory(t)
	// n at the confirmation: ExitAborted, before any storage is touched
	// (this config has no storage at all).
	p := &scripted{answers: []string{"testwiki", "0", "Wow!Amazing.png", "maybe", "n"}}
	opts := &RestoreOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "restore", Prompter: p}, Target: t.TempDir(), Parallel: 1}
	err := restoreRun(context.Background(), opts)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitAborted {
		t.Fatalf("restore answered n: %v, want ExitAborted", err)
	}
	if !strings.Contains(out.String(), "✗ answer y or n") {
		t.Errorf("a bad answer was not asked again:\n%s", out)
	}
	if entries, _ := os.ReadDir(opts.Target); len(entries) != 0 {
		t.Errorf("files written after n: %v", entries)
	}
	// Ctrl-C at a prompt aborts too.
	p = &scripted{answers: []string{"testwiki"}}
	err = queryRun(context.Background(), &QueryOptions{RecoveryOptions{F: f, Tool: "query", Prompter: p}})
	if !errors.As(err, &ee) || ee.code != ExitAborted {
		t.Fatalf("query interrupted: %v, want ExitAborted", err)
	}
	// Nothing found.
	p = &scripted{answers: []string{"testwiki", "0", "Nope.png"}}
	err = queryRun(context.Background(), &QueryOptions{RecoveryOptions{F: f, Tool: "query", Prompter: p}})
	if !errors.As(err, &ee) || ee.code != ExitNotFound {
		t.Fatalf("query of an unknown title: %v, want ExitNotFound", err)
	}
}

func TestUnwritableLogDir(t *testing.T) {
	f, _, _ := interactiveFactory(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	opts := &QueryOptions{RecoveryOptions{F: f, Tool: "query", Search: map[string]*string{"title": ptr("x")}, LogDir: file}}
	err := queryRun(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "--logdir") {
		t.Fatalf("query with a log dir that is a file: %v, want a hint about --logdir", err)
	}
}

// TestTitleHints: a title search without a match suggests the capitalised
// title, or the close titles, from the metadata.
func TestTitleHints(t *testing.T) {
	f, _, _ := interactiveFactory(t)
	for _, tc := range []struct {
		title, hint string
	}{
		{"wow!Amazing.png", `did you mean --title "Wow!Amazing.png"? Titles are matched byte for byte, and MediaWiki capitalises their first letter`},
		{"Wow!Amazing.pgn", `close titles in the backups: "Wow!Amazing.png"`},
		{"deleted copy.png", `did you mean --title "Deleted_copy.png"?`},
		{"Deleted_copy.pn", `close titles in the backups: "Deleted_copy.png"`},
		{"Zebra_crossing.svg", ""},
	} {
		t.Run(tc.title, func(t *testing.T) {
			opts := &QueryOptions{RecoveryOptions{F: f, Tool: "query", Search: map[string]*string{"title": ptr(tc.title)}}}
			err := queryRun(context.Background(), opts)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != ExitNotFound {
				t.Fatalf("query: %v, want ExitNotFound", err)
			}
			if tc.hint == "" {
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("a hint for a title close to nothing: %v", err)
				}
				return
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %q lacks the hint %q", err, tc.hint)
			}
		})
	}
}

// countingFinder is the real store, counting its queries.
type countingFinder struct {
	versionFinder
	calls, keys int
}

func (c *countingFinder) FindVersions(ctx context.Context, wikiID int64, keys []metadata.VersionKey) ([]metadata.File, error) {
	c.calls++
	c.keys += len(keys)
	return c.versionFinder.FindVersions(ctx, wikiID, keys)
}

// TestBatchMatchesInChunks: a log of 2 500 entries, three of them backed
// up (one named twice), is matched with one query per chunk of entries;
// the misses are listed up to batchShown and counted beyond.
func TestBatchMatchesInChunks(t *testing.T) {
	f, _, errOut := interactiveFactory(t)
	ctx := context.Background()
	s, err := f.openStore(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := s.WikiID(ctx, "testwiki")
	known, err := s.Search(ctx, metadata.Query{WikiID: id, Title: "Wow!Amazing.png"})
	if err != nil || len(known) != 2 {
		t.Fatalf("fixture: %v, %v", known, err)
	}
	deleted, _ := s.Search(ctx, metadata.Query{WikiID: id, Title: "Deleted_copy.png"})
	known = append(known, deleted...)
	var log strings.Builder
	log.WriteString("user@mwmaint2002:~$ mwscript eraseArchivedFile.php --wiki testwiki --filekey '*' --delete\r\n")
	line := func(key, date, title string) {
		fmt.Fprintf(&log, "Deleted version '%s.png' (%s) of file '%s'\r\n", key, date, title)
	}
	for i := range 2500 {
		switch i {
		case 700, 1800:
			k := known[i/1000]
			b36, _ := mediawiki.SHA1HexToBase36(k.SHA1)
			line(b36, k.UploadDate.Format("20060102150405"), k.Title)
		case 2400, 2401: // the same version twice
			b36, _ := mediawiki.SHA1HexToBase36(known[2].SHA1)
			line(b36, known[2].UploadDate.Format("20060102150405"), known[2].Title)
		default:
			line(fmt.Sprintf("%x", i+1), "20200101000000", fmt.Sprintf("Missing_%d.png", i))
		}
	}
	path := filepath.Join(t.TempDir(), "erase.log")
	os.WriteFile(path, []byte(log.String()), 0o600)
	n, wikis, err := scanBatch(path, "")
	if err != nil || n != 2500 || fmt.Sprint(wikis) != "[testwiki]" {
		t.Fatalf("scanBatch = %d, %v, %v", n, wikis, err)
	}
	cf := &countingFinder{versionFinder: s}
	var got []int64
	m := &batchMatcher{find: cf, ids: map[string]int64{"testwiki": id}, emit: func(fs []metadata.File) error {
		for _, x := range fs {
			got = append(got, x.ID)
		}
		return nil
	}, log: f.Logger(), total: n, every: time.Hour}
	fh, _ := os.Open(path)
	defer fh.Close()
	c, err := m.run(ctx, eraselog.NewReader(fh))
	if err != nil {
		t.Fatal(err)
	}
	if cf.calls != 3 || cf.keys != 2500 {
		t.Errorf("%d queries for %d keys, want 3 (one per chunk of %d)", cf.calls, cf.keys, batchChunk)
	}
	if c != (BatchCounts{Entries: 2500, Found: 4, Missing: 2496}) {
		t.Errorf("counts %+v", c)
	}
	want := []int64{known[0].ID, known[1].ID, known[2].ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("emitted ids %v, want %v (each once, in log order)", got, want)
	}
	out := errOut.String()
	if n := strings.Count(out, "no backed-up version matches"); n != batchShown {
		t.Errorf("%d misses listed, want %d", n, batchShown)
	}
	if !strings.Contains(out, "batch: 2486 more entries without a backed-up version (only the first 10 are listed)") {
		t.Errorf("no summary of the misses not listed:\n%s", out)
	}
}

// TestBatchFileWithoutDeletionLines: a binary file, or any file without a
// "Deleted version" line, is a usage error that says so.
func TestBatchFileWithoutDeletionLines(t *testing.T) {
	f, _, _ := interactiveFactory(t)
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"binary":     append(bytes.Repeat([]byte{0, 0xff, 0x13, '\n'}, 1000), bytes.Repeat([]byte{7}, 200<<10)...),
		"empty":      nil,
		"a dry run":  []byte("mwscript eraseArchivedFile.php --wiki=testwiki --filekey '*' --filename A.png\nWould delete version 'rjr.png' (20250101120000) of file 'A.png'\n"),
		"some prose": []byte("Dear operator,\nplease delete these files.\n"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			os.WriteFile(path, content, 0o600)
			err := queryRun(context.Background(), &QueryOptions{RecoveryOptions{F: f, Tool: "query", BatchFile: path}})
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "no deletion lines found in "+path) {
				t.Errorf("%v, want a usage error: no deletion lines found", err)
			}
		})
	}
}

func TestRestoreToProductionFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" when the flags are accepted
	}{
		{[]string{"--to-production", "--title", "A.png"}, ""},
		{[]string{"--to-production", "--from-audit", "a.json", "--execute", "--replace-damaged", "--create-containers"}, ""},
		{[]string{"--to-production", "--target", "out", "--title", "A.png"}, "give one of them"},
		{[]string{"--to-production", "--target", ".", "--title", "A.png"}, "give one of them"},
		{[]string{"--execute", "--title", "A.png"}, "--execute only go(es) with --to-production"},
		{[]string{"--replace-damaged", "--create-containers", "--title", "A.png"}, "--replace-damaged, --create-containers only"},
		{[]string{"--from-audit", "a.json"}, "--from-audit only"},
		{[]string{"--to-production", "--from-audit", "a.json", "--title", "A.png"}, "give no search flag"},
		{[]string{"--to-production", "--from-audit", "a.json", "erase.log"}, "give no search flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := testFactory()
			var got *RestoreOptions
			cmd := newRestoreCmd(f, func(_ context.Context, o *RestoreOptions) error { got = o; return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tc.err == "" {
				if err != nil || got == nil || !got.ToProduction {
					t.Fatalf("error = %v, options %+v", err, got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != ExitUsage {
				t.Errorf("exit code of %v, want ExitUsage", err)
			}
		})
	}
}

// TestBatchQueryStreamsOneResult: query --json in batch mode writes its
// matches one at a time, and the result is the one QueryResult that a
// script reads, equal to the matches of the same versions.
func TestBatchQueryStreamsOneResult(t *testing.T) {
	f, out, _ := interactiveFactory(t)
	ctx := context.Background()
	s, err := f.openStore(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := s.WikiID(ctx, "testwiki")
	known, _ := s.Search(ctx, metadata.Query{WikiID: id, Title: "Wow!Amazing.png"})
	var log strings.Builder
	log.WriteString("$ mwscript eraseArchivedFile.php --wiki=testwiki\n")
	for _, k := range known {
		b36, _ := mediawiki.SHA1HexToBase36(k.SHA1)
		fmt.Fprintf(&log, "Deleted version '%s.png' (%s) of file '%s'\n", b36, k.UploadDate.Format("20060102150405"), k.Title)
	}
	log.WriteString("Deleted version '1.png' (20200101000000) of file 'Gone.png'\n")
	path := filepath.Join(t.TempDir(), "erase.log")
	os.WriteFile(path, []byte(log.String()), 0o600)
	f.JSON = true
	defer func() { f.JSON = false }()
	err = queryRun(ctx, &QueryOptions{RecoveryOptions{F: f, Tool: "query", BatchFile: path}})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitPartial {
		t.Fatalf("query: %v, want ExitPartial (one entry missing)", err)
	}
	var res QueryResult
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || dec.More() {
		t.Fatalf("not one QueryResult: %v\n%s", err, out)
	}
	byStatus := map[string]int{}
	for _, st := range metadata.BackupStatuses {
		byStatus[string(st)] = 0
	}
	for _, k := range known {
		byStatus[string(k.BackupStatus)]++
	}
	want := QueryResult{Matches: newMatches(known), ByBackupStatus: byStatus, Batch: &BatchCounts{Entries: 3, Found: 2, Missing: 1}}
	g, _ := json.Marshal(res)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("streamed result\n%s\nwant\n%s", g, w)
	}
	// The same in text: one block per match, numbered as they come.
	out.Reset()
	f.JSON = false
	queryRun(ctx, &QueryOptions{RecoveryOptions{F: f, Tool: "query", BatchFile: path}})
	if !strings.Contains(out.String(), "--- match 2 ---\nwiki:                 testwiki\n") || strings.Count(out.String(), "--- match") != 2 {
		t.Errorf("text output:\n%s", out)
	}
}

// TestSyncedLog checks the journal of a restore into production: lines
// recorded at once are all on disk when Record returns, and once a sync
// fails every Record fails.
func TestSyncedLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "recovery.log")
	lf, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	audit := newAuditLog(lf, p)
	s := &session{log: slog.New(slog.NewTextHandler(audit, nil)), audit: audit, logPath: p}
	j := newSyncedLog(s)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.Record("writing into production", "n", i); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(p)
	if n := strings.Count(string(b), "writing into production"); n != 50 {
		t.Errorf("%d lines in the log, want 50", n)
	}
	lf.Close()
	for range 2 {
		if err := j.Record("writing into production"); err == nil || !strings.Contains(err.Error(), "the session log "+p) {
			t.Errorf("Record after the log closed = %v", err)
		}
	}
}

func TestRestoreProgressCounts(t *testing.T) {
	var out bytes.Buffer
	p := newRestoreProgress(newStatusLine(&out), 4)
	p.start = time.Now().Add(-2 * time.Second)
	p.Done(metadata.File{}, "a", nil)
	p.Done(metadata.File{}, "", errors.New("x"))
	if got := out.String(); !strings.Contains(got, "progress: 2/4 files, 1 failed, 1.0 files/s, 2s left\n") {
		t.Errorf("progress lines:\n%s", got)
	}
}
