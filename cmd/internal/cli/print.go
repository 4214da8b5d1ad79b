package cli

import (
	"fmt"
	"io"
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

// printMatches writes every match, one block each (not with --json), and
// logs them.
func (s *session) printMatches(w io.Writer, files []metadata.File) {
	none := func(p *string) string {
		if p == nil {
			return "none"
		}
		return *p
	}
	for i, f := range files {
		m := newMatch(f)
		s.log.Info("match", "id", f.ID, "wiki", f.Wiki, "file", f.Title, "upload_date", none(m.UploadDate),
			"sha1", f.SHA1, "status", f.Status, "backup_location", none(m.BackupLocation), "backup_path", none(m.BackupPath))
		if s.f.JSON {
			continue
		}
		fmt.Fprintf(w, "--- match %d of %d ---\n", i+1, len(files))
		for _, kv := range [][2]string{
			{"wiki", m.Wiki}, {"title", m.Title}, {"production_container", m.ProductionContainer},
			{"production_path", m.ProductionPath}, {"sha1", m.SHA1}, {"sha256", none(ptr(m.SHA256))},
			{"size", fmt.Sprint(m.Size)}, {"type", none(ptr(m.Type))}, {"production_status", m.ProductionStatus},
			{"production_url", none(m.ProductionURL)}, {"upload_date", none(m.UploadDate)},
			{"archive_date", none(m.ArchiveDate)}, {"delete_date", none(m.DeleteDate)},
			{"backup_status", m.BackupStatus}, {"backup_date", none(m.BackupDate)},
			{"backup_location", none(m.BackupLocation)}, {"backup_container", none(m.BackupContainer)},
			{"backup_path", none(m.BackupPath)},
		} {
			fmt.Fprintf(w, "%-21s %s\n", kv[0]+":", printable(kv[1]))
		}
	}
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

// ProductionRestoreResult is what `restore --to-production --json` prints.
// The counts are those of the summary line; in a dry run, what it would do.
type ProductionRestoreResult struct {
	DryRun bool `json:"dry_run"`
	// Files are the versions dealt with, each with its action: written,
	// replaced, skipped, kept-damaged (would-write, would-replace in a dry
	// run).
	Files  []ProductionFile `json:"files"`
	Failed []FailedFile     `json:"failed"`
	Total  int              `json:"total"`
	// Written counts the versions written, Replaced those of them that
	// replaced a damaged object; Skipped the versions not written, KeptDamaged
	// those of them whose damaged object was left as it is.
	Written     int          `json:"written"`
	Replaced    int          `json:"replaced"`
	Skipped     int          `json:"skipped"`
	KeptDamaged int          `json:"kept_damaged"`
	Batch       *BatchCounts `json:"batch"`
	Audit       *AuditSource `json:"audit"` // null unless --from-audit
}

// ProductionFile is a version a restore into production dealt with.
type ProductionFile struct {
	Match  Match  `json:"match"`
	Place  string `json:"place"` // container/path
	Action string `json:"action"`
}
