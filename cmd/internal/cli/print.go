package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// Match is a file version as the recovery tools print it, in text and in
// --json; the field names are stable.
type Match struct {
	ID                  int64   `json:"id"`
	Wiki                string  `json:"wiki"`
	Title               string  `json:"title"`
	ProductionContainer string  `json:"production_container"`
	ProductionPath      string  `json:"production_path"`
	SHA1                string  `json:"sha1"`
	SHA256              string  `json:"sha256"`
	Size                int64   `json:"size"`
	Type                string  `json:"type"`
	ProductionStatus    string  `json:"production_status"`
	ProductionURL       *string `json:"production_url"`
	UploadDate          *string `json:"upload_date"`
	ArchiveDate         *string `json:"archive_date"`
	DeleteDate          *string `json:"delete_date"`
	BackupStatus        string  `json:"backup_status"`
	BackupReason        *string `json:"backup_reason"` // why it is error or unavailable
	BackupDate          *string `json:"backup_date"`
	BackupLocation      *string `json:"backup_location"`
	BackupContainer     *string `json:"backup_container"`
	BackupPath          *string `json:"backup_path"`
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newMatch describes f for output.
func newMatch(f metadata.File) Match {
	m := Match{
		ID: f.ID, Wiki: f.Wiki, Title: f.Title, ProductionContainer: f.Container, ProductionPath: f.Path,
		SHA1: f.SHA1, SHA256: f.SHA256, Size: f.Size, Type: f.MIME, ProductionStatus: string(f.Status),
		ProductionURL: ptr(f.SourceURL), UploadDate: ptr(fmtDate(f.UploadDate)), ArchiveDate: ptr(fmtDate(f.ArchiveDate)),
		DeleteDate: ptr(fmtDate(f.DeleteDate)), BackupStatus: string(f.BackupStatus), BackupDate: ptr(fmtDate(f.BackupDate)),
		BackupReason: ptr(f.ErrorReason),
	}
	if b := f.Backup; b != nil {
		m.BackupLocation, m.BackupContainer, m.BackupPath = ptr(b.Location), ptr(b.Bucket), ptr(b.ObjectKey)
	}
	return m
}

// newMatches describes files for output; never nil, so JSON shows [].
func newMatches(files []metadata.File) []Match {
	out := make([]Match, 0, len(files))
	for _, f := range files {
		out = append(out, newMatch(f))
	}
	return out
}

// matchPrinter shows matches as they are found: a block of text each
// (not with --json), and a "match" line each in the session log (on the
// screen too, except in batch mode, where the blocks say it already and
// there may be a million). With streamJSON (query --json) it writes the
// matches as the QueryResult they are part of, one at a time, so that
// memory does not grow with their number; end closes it.
type matchPrinter struct {
	s          *session
	w          *bufio.Writer // flushed after each print
	streamJSON bool
	// total is the number of matches when known (they come at once), 0
	// in batch mode.
	total int
	n     int
}

func (s *session) newMatchPrinter(w io.Writer, streamJSON bool) *matchPrinter {
	return &matchPrinter{s: s, w: bufio.NewWriterSize(w, 64<<10), streamJSON: streamJSON}
}

// print shows files, the next matches.
func (p *matchPrinter) print(files []metadata.File) error {
	if err := p.write(files); err != nil {
		return err
	}
	return p.w.Flush()
}

func (p *matchPrinter) write(files []metadata.File) error {
	s := p.s
	none := func(p *string) string {
		if p == nil {
			return "none"
		}
		return *p
	}
	level := slog.LevelInfo
	if s.o.BatchFile != "" {
		level = slog.LevelDebug
	} else {
		p.total = len(files)
	}
	for _, f := range files {
		p.n++
		m := newMatch(f)
		s.log.Log(context.Background(), level, "match", "id", f.ID, "wiki", f.Wiki, "file", f.Title, "upload_date", none(m.UploadDate),
			"sha1", f.SHA1, "status", f.Status, "backup_location", none(m.BackupLocation), "backup_path", none(m.BackupPath))
		if p.streamJSON {
			if err := p.json(m); err != nil {
				return err
			}
			continue
		}
		if s.f.JSON {
			continue
		}
		if p.total > 0 {
			fmt.Fprintf(p.w, "--- match %d of %d ---\n", p.n, p.total)
		} else {
			fmt.Fprintf(p.w, "--- match %d ---\n", p.n)
		}
		for _, kv := range [][2]string{
			{"wiki", m.Wiki}, {"title", m.Title}, {"production_container", m.ProductionContainer},
			{"production_path", m.ProductionPath}, {"sha1", m.SHA1}, {"sha256", none(ptr(m.SHA256))},
			{"size", fmt.Sprint(m.Size)}, {"type", none(ptr(m.Type))}, {"production_status", m.ProductionStatus},
			{"production_url", none(m.ProductionURL)}, {"upload_date", none(m.UploadDate)},
			{"archive_date", none(m.ArchiveDate)}, {"delete_date", none(m.DeleteDate)},
			{"backup_status", m.BackupStatus}, {"backup_reason", none(m.BackupReason)}, {"backup_date", none(m.BackupDate)},
			{"backup_location", none(m.BackupLocation)}, {"backup_container", none(m.BackupContainer)},
			{"backup_path", none(m.BackupPath)},
		} {
			if _, err := fmt.Fprintf(p.w, "%-21s %s\n", kv[0]+":", printable(kv[1])); err != nil {
				return err
			}
		}
	}
	return nil
}

// json writes one match of a streamed QueryResult, on a line of its own
// (a million matches indented would double the output), and the opening
// of the result before the first.
func (p *matchPrinter) json(m Match) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sep := ",\n    "
	if p.n == 1 {
		sep = "{\n  \"matches\": [\n    "
	}
	p.w.WriteString(sep)
	_, err = p.w.Write(b)
	return err
}

// end closes a streamed QueryResult with the batch counts (nothing is
// written when there was no match: the command's error is the result).
func (p *matchPrinter) end(batch *BatchCounts) error {
	if !p.streamJSON || p.n == 0 {
		return nil
	}
	b, err := json.MarshalIndent(batch, "  ", "  ")
	if err != nil {
		return err
	}
	if _, err = fmt.Fprintf(p.w, "\n  ],\n  \"batch\": %s\n}\n", b); err != nil {
		return err
	}
	return p.w.Flush()
}

// printable shows control characters of hostile titles as escapes, so
// they cannot drive the terminal.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

// red colours msg when w is a terminal.
func red(w io.Writer, msg string) string {
	if isTerminal(w) {
		return "\x1b[1;31m" + msg + "\x1b[0m"
	}
	return msg
}

// The --json results of the commands: one type per command, the same shape
// in every mode.

// QueryResult is what `query --json` prints.
type QueryResult struct {
	Matches []Match      `json:"matches"`
	Batch   *BatchCounts `json:"batch"` // null unless in batch mode
}

// RestoreResult is what `restore --json` prints.
type RestoreResult struct {
	Target  string         `json:"target"`
	Written []RestoredFile `json:"written"`
	Failed  []FailedFile   `json:"failed"`
	Total   int            `json:"total"`
	Batch   *BatchCounts   `json:"batch"`
}

// RestoredFile is a file restore wrote, and its name in the target.
type RestoredFile struct {
	Match Match  `json:"match"`
	Name  string `json:"name"`
}

// FailedFile is a file whose restore (or other step) failed.
type FailedFile struct {
	Match Match  `json:"match"`
	Step  string `json:"step"`
	Error string `json:"error"`
}

// DeleteResult is what `delete --json` prints.
type DeleteResult struct {
	DryRun         bool          `json:"dry_run"`
	Groups         []DeleteGroup `json:"groups"`
	ObjectsRemoved int           `json:"objects_removed"`
	ObjectsKept    int           `json:"objects_kept"`
	MarkedDeleted  int           `json:"marked_hard_deleted"`
	Errors         []string      `json:"errors"`
	Batch          *BatchCounts  `json:"batch"`
}

// DeleteGroup is the versions sharing one stored object in a deletion.
type DeleteGroup struct {
	Object       *string `json:"object"`
	Location     *string `json:"location"`
	RemoveObject bool    `json:"remove_object"`
	Files        []Match `json:"files"`
	SharedWith   []Match `json:"shared_with"`
}

// ErrorResult is what every command prints with --json when it fails.
type ErrorResult struct {
	Error    string   `json:"error"`
	ExitCode ExitCode `json:"exit_code"`
}

// count writes n and the noun, in the plural unless n is 1: "1 file",
// "2 files", "0 entries", "3 matches". Only the last word of noun changes
// ("file version" → "file versions").
func count[N int | int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %s", n, pluralOf(noun))
}

// pluralOf returns the plural of an English noun phrase as the tools use
// them (regular nouns only).
func pluralOf(noun string) string {
	switch {
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsRune("aeiou", rune(noun[len(noun)-2])):
		return noun[:len(noun)-1] + "ies"
	case strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"), strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"):
		return noun + "es"
	}
	return noun + "s"
}
