package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/cmd/internal/cli"
)

func TestManPagesCoverEveryCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	// bench takes flag defaults from the test services' variables; no page
	// may carry them (scripts/test.sh builds the package with them set).
	const secret = "mbtest:leaked-password@tcp(127.0.0.1:1)/"
	t.Setenv("MEDIABACKUPS_TEST_MARIADB_DSN", secret)
	t.Setenv("MEDIABACKUPS_TEST_MINIO_ENDPOINTS", "http://leaked.example:1")
	if err := writeManPages(dir, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	// One page per command a user can run: walk the tree the binary runs.
	f := &cli.Factory{IO: cli.IO{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}}
	root := cli.NewRootCmd(f)
	root.InitDefaultCompletionCmd() // as cobra does when the binary runs
	want := []string{"query-media-file.1", "restore-media-file.1", "delete-media-file.1"}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		want = append(want, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub)
			}
		}
	}
	walk(root)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pages:\n got %v\nwant %v", got, want)
	}
	for _, name := range []string{"mediabackups-backup.1", "mediabackups-schema-apply.1", "mediabackups-completion-bash.1"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("no page for a sub-command: %v", err)
		}
	}

	page := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	restore := page("restore-media-file.1")
	for _, s := range []string{
		`.TH "RESTORE-MEDIA-FILE" "1" "Jan 2026" "mediabackups 1.2.3" "mediabackups manual"`,
		`restore-media-file [flags] [FILE]`, // the binary's own usage line, not "mediabackups restore"
		`\fB--parallel\fP=4`,
		// Plain help text comes out as written: not read as an HTML tag,
		"logged to <logdir>/recovery.log",
		// and the table of search flags keeps its lines.
		"\n  --sha256 HEX               sha256 in hexadecimal\n",
	} {
		if !strings.Contains(restore, s) {
			t.Errorf("restore-media-file.1 lacks %q:\n%s", s, restore)
		}
	}
	for _, name := range got {
		if p := page(name); strings.Contains(p, "leaked") {
			t.Errorf("%s holds a value from the builder's environment:\n%s", name, p)
		}
	}
	if strings.Contains(restore, "Auto generated") {
		t.Error("restore-media-file.1 has cobra's 'Auto generated' history section (a build date in every page)")
	}
	if s := page("mediabackups.1"); !strings.Contains(s, "\n  mediabackups schema apply                 # create or migrate the MariaDB schema\n") {
		t.Errorf("mediabackups.1 lost the layout of its example commands:\n%s", s)
	}

	// man itself reads every page without a warning, where it is installed.
	if _, err := exec.LookPath("man"); err != nil {
		t.Log("man not installed: pages not rendered")
		return
	}
	for _, name := range got {
		cmd := exec.Command("man", "--warnings", "-l", "-Tutf8", filepath.Join(dir, name))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("man -l %s: %v %s", name, err, stderr.String())
		}
	}
}

func TestMarkdownText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"prose is escaped", "logged to <logdir>/x_y *now*", "logged to \\<logdir\\>/x\\_y \\*now\\*\n"},
		{"indented run is a code block",
			"Search:\n  --a  one\n  --b  two\nDates are UTC.",
			"Search:\n\n```\n  --a  one\n  --b  two\n```\n\nDates are UTC.\n"},
		{"blank line inside an indented run stays inside",
			"  a\n\n  b\n", "\n```\n  a\n\n  b\n```\n\n"},
		{"paragraphs stay apart", "one\n\ntwo", "one\n\ntwo\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := markdownText(tt.in); got != tt.want {
				t.Errorf("markdownText(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
		})
	}
}
