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
	"github.com/mediabackups/mediabackups/verify"
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
	// BackupReason says why a version failed or cannot be backed up
	// (error, unavailable, unreadable, gone), or why it is pending again;
	// null when there is nothing to say.
	BackupReason    *string `json:"backup_reason"`
	BackupDate      *string `json:"backup_date"`
	BackupLocation  *string `json:"backup_location"`
	BackupContainer *string `json:"backup_container"`
	BackupPath      *string `json:"backup_path"`
	// VerifyDate and VerifyResult are when `mediabackups verify` last
	// read the object back and what it found (null: never).
	VerifyDate   *string `json:"verify_date"`
	VerifyResult *string `json:"verify_result"`
	// MD5 is null when unknown (backed up before md5s were recorded).
	MD5 *string `json:"md5"`
	// AuditStatus is what the last `mediabackups audit` found in
	// production (ok, missing, damaged; null: never audited), AuditSince
	// since when, AuditDetail what is wrong, and AuditChecked when the
	// version was last checked.
	AuditStatus  *string `json:"audit_status"`
	AuditSince   *string `json:"audit_since"`
	AuditDetail  *string `json:"audit_detail"`
	AuditChecked *string `json:"audit_checked"`
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
		MD5:          ptr(f.MD5), AuditStatus: ptr(string(f.Audit.Status)), AuditSince: ptr(fmtDate(f.Audit.Since)),
		AuditDetail: ptr(f.Audit.Detail), AuditChecked: ptr(fmtDate(f.Audit.Checked)),
	}
	if b := f.Backup; b != nil {
		m.BackupLocation, m.BackupContainer, m.BackupPath = ptr(b.Location), ptr(b.Bucket), ptr(b.ObjectKey)
		m.VerifyDate, m.VerifyResult = ptr(fmtDate(b.VerifiedAt)), ptr(string(b.VerifyResult))
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
// screen too for the first page of a search, but not in batch mode nor
// after a search's first page, where the blocks say it already and there
// may be a million). With streamJSON (query --json) it writes the
// matches as the QueryResult they are part of, one at a time, so that
// memory does not grow with their number; end closes it.
type matchPrinter struct {
	s          *session
	w          *bufio.Writer // flushed after each print
	streamJSON bool
	// total is the number of matches when known (they came in one page),
	// else 0.
	total int
	n     int
	// byStatus counts the matches by backup status (see counts).
	byStatus map[string]int
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
	switch {
	case s.o.BatchFile != "" || p.n >= metadata.SearchPage:
		// A batch, or a search of more than a page: perhaps a million.
		level = slog.LevelDebug
	case p.n == 0 && len(files) < metadata.SearchPage:
		// A search's matches come a page at a time: a first page that is
		// not full is all of them.
		p.total = len(files)
	}
	if p.byStatus == nil {
		p.byStatus = map[string]int{}
	}
	for _, f := range files {
		p.n++
		p.byStatus[string(f.BackupStatus)]++
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
			{"backup_path", none(m.BackupPath)}, {"md5", none(m.MD5)}, {"verify_date", none(m.VerifyDate)},
			{"verify_result", none(m.VerifyResult)}, {"audit_status", auditLine(m)},
			{"audit_checked", none(m.AuditChecked)},
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

// counts returns the matches printed so far by backup status: every
// status of metadata.BackupStatuses, 0 included.
func (p *matchPrinter) counts() map[string]int {
	out := make(map[string]int, len(metadata.BackupStatuses))
	for _, st := range metadata.BackupStatuses {
		out[string(st)] = p.byStatus[string(st)]
	}
	return out
}

// countAttrs are counts() as log attributes, in the order of
// metadata.BackupStatuses: "pending", 0, "processing", 0, ...
func (p *matchPrinter) countAttrs() []any {
	n := p.counts()
	var out []any
	for _, st := range metadata.BackupStatuses {
		out = append(out, string(st), n[string(st)])
	}
	return out
}

// end closes a streamed QueryResult with the counts by backup status and
// the batch counts (nothing is written when there was no match: the
// command's error is the result).
func (p *matchPrinter) end(batch *BatchCounts) error {
	if !p.streamJSON || p.n == 0 {
		return nil
	}
	counts, err := json.MarshalIndent(p.counts(), "  ", "  ")
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(batch, "  ", "  ")
	if err != nil {
		return err
	}
	if _, err = fmt.Fprintf(p.w, "\n  ],\n  \"by_backup_status\": %s,\n  \"batch\": %s\n}\n", counts, b); err != nil {
		return err
	}
	return p.w.Flush()
}

// auditLine describes what the last audit found: "missing since …: why".
func auditLine(m Match) string {
	if m.AuditStatus == nil {
		return "never audited"
	}
	s := *m.AuditStatus
	if m.AuditSince != nil {
		s += " since " + *m.AuditSince
	}
	if m.AuditDetail != nil {
		s += ": " + *m.AuditDetail
	}
	return s
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
	Matches []Match `json:"matches"`
	// ByBackupStatus counts the matches by backup status: every status of
	// metadata.BackupStatuses, 0 included.
	ByBackupStatus map[string]int `json:"by_backup_status"`
	Batch          *BatchCounts   `json:"batch"` // null unless in batch mode
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

// VerifyReport is what `verify --json` prints.
type VerifyReport struct {
	Mode   string  `json:"mode"`   // "all" or "sample"
	Sample float64 `json:"sample"` // the fraction, 1 with --all
	Repair bool    `json:"repair"`
	// MaxRateMBs is the read limit in MB/s; 0: none.
	MaxRateMBs float64      `json:"max_rate_mb_s"`
	Wikis      []VerifyWiki `json:"wikis"`
	Total      verify.Stats `json:"total"`
	// Problems are the objects that were not ok: missing, damaged,
	// repaired, lost (the only copy) or not checked.
	Problems []VerifyProblem `json:"problems"`
	// VersionsWithoutObject are versions whose backup status says stored
	// but that point to no object.
	VersionsWithoutObject []Match `json:"versions_without_object"`
	// Orphans are listed with --all only (null otherwise).
	Orphans     []VerifyOrphan      `json:"orphans"`
	OrphanStats *verify.OrphanStats `json:"orphan_stats"`
	Seconds     float64             `json:"seconds"`
}

// VerifyWiki is what verify did for one wiki.
type VerifyWiki struct {
	Wiki string `json:"wiki"`
	verify.Stats
}

// VerifyProblem is an object whose check did not find it ok.
type VerifyProblem struct {
	Wiki     string `json:"wiki"`
	Location string `json:"location"`
	Bucket   string `json:"bucket"`
	Object   string `json:"object"`
	SHA256   string `json:"sha256"`
	SHA1     string `json:"sha1"`
	// Found is missing, damaged or unchecked; Result is the same, or
	// repaired or lost after --repair.
	Found  string `json:"found"`
	Result string `json:"result"`
	Detail string `json:"detail"`
	// Repair says where the repaired copy came from, or why there is none.
	Repair   *string `json:"repair"`
	Versions []Match `json:"versions"`
}

// VerifyOrphan is a stored object that no version refers to.
type VerifyOrphan struct {
	Location     string `json:"location"`
	Object       string `json:"object"`
	Size         int64  `json:"size"`
	LastModified string `json:"last_modified"`
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
