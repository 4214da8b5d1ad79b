package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
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
		{[]string{"--title", "A.png", "--sha1", "abc"}, "give one search method"},
		{[]string{"--container", "c"}, "go together"},
		{[]string{"--title", "A.png", "erase.log"}, "takes no search flag"},
		{[]string{"a", "b"}, "accepts at most 1 arg"},
		{[]string{"--parallel", "0", "--title", "x"}, "at least 1"},
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
	f.cfg = &config.Config{Metadata: config.Metadata{DSN: dsn}, LogDir: t.TempDir(), DefaultWiki: "testwiki"}
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

// TestSyncedLog checks the journal of a restore into production: lines
// recorded at once are all on disk when Record returns, and once a sync
// fails every Record fails.
func TestSyncedLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "recovery.log")
	lf, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{log: slog.New(slog.NewTextHandler(lf, nil)), logFile: lf, logPath: p}
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
		if err := j.Record("writing into production"); err == nil || !strings.Contains(err.Error(), "sync the session log") {
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
