package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/mediabackups/mediabackups/cmd/internal/cli"
)

// writeManPages writes a section 1 man page for every command of the four
// binaries into dir, which must exist: mediabackups.1 and one
// mediabackups-COMMAND[-SUB].1 per command and sub-command a user can run
// (help excepted; completion included), and query-media-file.1,
// restore-media-file.1 and delete-media-file.1, from the command trees the
// binaries run (cli.BinaryCommands). version goes into each page's footer;
// the date is SOURCE_DATE_EPOCH's (read by cobra/doc, for reproducible
// builds), else today's.
//
// It unsets every MEDIABACKUPS_* variable of this process first: some flag
// defaults are read from the environment (bench's come from the test
// services' MEDIABACKUPS_TEST_*), and a page must show the documented
// default, never the values, DSN password included, of whoever builds it.
func writeManPages(dir, version string) error {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MEDIABACKUPS_") {
			os.Unsetenv(name)
		}
	}
	header := &doc.GenManHeader{Source: "mediabackups " + version, Manual: "mediabackups manual"}
	cmds, err := cli.BinaryCommands(&cli.Factory{IO: cli.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}})
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		// No "Auto generated" history section with a build date in it.
		cmd.DisableAutoGenTag = true
		manText(cmd)
		if err := doc.GenManTree(cmd, header, dir); err != nil {
			return fmt.Errorf("write the man pages of %s into %s: %w", cmd.Name(), dir, err)
		}
	}
	return nil
}

// manText rewrites the help texts of cmd and its sub-commands (these
// instances serve only the man pages) from the plain text --help prints
// into the markdown cobra/doc renders, so that a page says what --help says.
func manText(cmd *cobra.Command) {
	cmd.Short = markdownProse(cmd.Short)
	cmd.Long = markdownText(cmd.Long)
	for _, c := range cmd.Commands() {
		manText(c)
	}
}

// markdownText turns plain help text into markdown that renders the same:
// runs of indented lines (tables of flags, example commands) become code
// blocks and keep their layout; other lines are prose, filled into
// paragraphs, with markdown's special characters escaped so that
// "<logdir>" or "*" come out as written.
func markdownText(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	indented := func(l string) bool { return strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") }
	blank := func(l string) bool { return strings.TrimSpace(l) == "" }
	var b strings.Builder
	for i := 0; i < len(lines); {
		switch {
		case indented(lines[i]) && !blank(lines[i]):
			j := i
			// A blank line between two indented runs stays inside the block.
			for j < len(lines) && (indented(lines[j]) && !blank(lines[j]) || blank(lines[j]) && j+1 < len(lines) && indented(lines[j+1]) && !blank(lines[j+1])) {
				j++
			}
			b.WriteString("\n```\n" + strings.Join(lines[i:j], "\n") + "\n```\n\n")
			i = j
		case blank(lines[i]):
			b.WriteString("\n")
			i++
		default:
			b.WriteString(markdownProse(lines[i]) + "\n")
			i++
		}
	}
	return b.String()
}

// markdownProse escapes the characters that markdown would read as markup.
func markdownProse(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>#+-!|~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
