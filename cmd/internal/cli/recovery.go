package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/restore"
)

// newRecoveryCmds returns the recovery commands: query, restore, delete.
func newRecoveryCmds(f *Factory) []*cobra.Command {
	return []*cobra.Command{newQueryCmd(f, nil), newRestoreCmd(f, nil), newDeleteCmd(f, nil)}
}

// RecoveryOptions are the search and session options the three recovery
// commands share.
type RecoveryOptions struct {
	F *Factory
	// Tool is "query", "restore" or "delete".
	Tool string

	Wiki        string
	Title       string
	SHA1        string
	SHA1Base36  string
	Container   string
	Path        string
	SHA256      string
	UploadDate  string
	ArchiveDate string
	DeleteDate  string
	// BatchFile is an eraseArchivedFile.php log (batch mode).
	BatchFile string
	LogDir    string
	Yes       bool
	// Prompter asks questions in interactive mode; nil: promptui on the
	// terminal.
	Prompter Prompter
}

// logNames are the session log file of each tool, in the log directory.
var logNames = map[string]string{"query": "query.log", "restore": "recovery.log", "delete": "deletion.log"}

const searchFlagsHelp = `Search (one of; without any, and on a terminal, the command asks):
  --title T                  title on upload or after a rename (File: and spaces are fine;
                             no automatic capitalisation)
  --sha1 HEX                 sha1 in hexadecimal (short values are zero-padded on the left)
  --sha1-base36 B36          sha1 in MediaWiki's base 36 (the storage key without extension)
  --container C --path P     original production container and full path
  --sha256 HEX               sha256 in hexadecimal
  --upload-date D            exact upload date
  --archive-date D           exact archive date
  --delete-date D            exact delete date
Dates are UTC, as "YYYY-MM-DD hh:mm:ss" or YYYYMMDDhhmmss.

Batch mode: give the output of MediaWiki's eraseArchivedFile.php as FILE. Its
"mwscript eraseArchivedFile.php --wiki=NAME" lines set the wiki; each
"Deleted version 'KEY.ext' (YYYYMMDDhhmmss) of file 'Title'" line names a
version, matched on title + upload date + sha1.`

func (o *RecoveryOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Wiki, "wiki", "", "wiki (default: the config's default_wiki, else commonswiki)")
	fl.StringVar(&o.Title, "title", "", "search by title")
	fl.StringVar(&o.SHA1, "sha1", "", "search by sha1 in hexadecimal")
	fl.StringVar(&o.SHA1Base36, "sha1-base36", "", "search by sha1 in base 36")
	fl.StringVar(&o.Container, "container", "", "search by production container (with --path)")
	fl.StringVar(&o.Path, "path", "", "search by production path (with --container)")
	fl.StringVar(&o.SHA256, "sha256", "", "search by sha256 in hexadecimal")
	fl.StringVar(&o.UploadDate, "upload-date", "", "search by exact upload date")
	fl.StringVar(&o.ArchiveDate, "archive-date", "", "search by exact archive date")
	fl.StringVar(&o.DeleteDate, "delete-date", "", "search by exact delete date")
	fl.StringVar(&o.LogDir, "logdir", "", "directory of the session log (default: the config's logdir)")
}

// method returns the search method given by flags and its value, or ""
// when none was given. Giving two is a usage error.
func (o *RecoveryOptions) method() (m restore.Method, value, container string, err error) {
	type given struct {
		m restore.Method
		v string
	}
	var gs []given
	add := func(m restore.Method, v string) {
		if v != "" {
			gs = append(gs, given{m, v})
		}
	}
	add(restore.ByTitle, o.Title)
	add(restore.BySHA1, o.SHA1)
	add(restore.BySHA1Base36, o.SHA1Base36)
	if o.Container != "" || o.Path != "" {
		if o.Container == "" || o.Path == "" {
			return "", "", "", withCode(ExitUsage, errors.New("--container and --path go together: give both"))
		}
		add(restore.ByPath, o.Path)
	}
	add(restore.BySHA256, o.SHA256)
	add(restore.ByUploadDate, o.UploadDate)
	add(restore.ByArchiveDate, o.ArchiveDate)
	add(restore.ByDeleteDate, o.DeleteDate)
	switch {
	case len(gs) > 1:
		return "", "", "", withCode(ExitUsage, fmt.Errorf("give one search method, not %d (--%s and --%s)", len(gs), gs[0].m, gs[1].m))
	case len(gs) == 1 && o.BatchFile != "":
		return "", "", "", withCode(ExitUsage, errors.New("batch mode (a FILE argument) takes no search flag"))
	case len(gs) == 0:
		return "", "", "", nil
	}
	return gs[0].m, gs[0].v, o.Container, nil
}

// session is one run of a recovery command: its log, its store.
type session struct {
	o       *RecoveryOptions
	f       *Factory
	cfg     *config.Config
	log     *slog.Logger
	logFile *os.File
	logPath string
	store   *metadata.Store
}

// openSession opens the session log (a clear error if it cannot be
// written) and the metadata store.
func (o *RecoveryOptions) openSession(ctx context.Context) (*session, error) {
	f := o.F
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	dir := o.LogDir
	if dir == "" {
		dir = cfg.LogDir
	}
	if dir == "" {
		return nil, withCode(ExitUsage, errors.New("no log directory: set logdir in the config or give --logdir"))
	}
	path := filepath.Join(dir, logNames[o.Tool])
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("cannot write the session log %s: %w\nchoose a writable directory with --logdir", path, err))
	}
	lf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("cannot write the session log %s: %w\nchoose a writable directory with --logdir", path, err))
	}
	level := slog.LevelInfo
	if f.Verbose {
		level = slog.LevelDebug
	}
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}),
	))
	s := &session{o: o, f: f, cfg: cfg, log: log, logFile: lf, logPath: path}
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	log.Info("session start", "tool", o.Tool, "user", who, "host", hostname(), "datacenter", cfg.Datacenter, "args", strings.Join(os.Args[1:], " "))
	if s.store, err = f.openStore(ctx, true); err != nil {
		s.log.Error("open the metadata database", "error", err.Error())
		lf.Close()
		return nil, err
	}
	return s, nil
}

// close ends the session with its outcome in the log.
func (s *session) close(err error) {
	if err != nil {
		s.log.Error("session end", "error", err.Error())
	} else {
		s.log.Info("session end")
	}
	if s.store != nil {
		s.store.Close()
	}
	s.logFile.Close()
}

func (s *session) defaultWiki() string {
	if s.o.Wiki != "" {
		return s.o.Wiki
	}
	if s.cfg.DefaultWiki != "" {
		return s.cfg.DefaultWiki
	}
	return "commonswiki"
}

// wikiID returns the id of a wiki the metadata knows; an unknown one is an
// error that lists the close matches.
func (s *session) wikiID(ctx context.Context, name string) (int64, error) {
	names, err := s.store.Wikis(ctx)
	if err != nil {
		return 0, err
	}
	for _, n := range names {
		if n == name {
			return s.store.WikiID(ctx, name)
		}
	}
	msg := fmt.Sprintf("unknown wiki %q", name)
	if cm := closeMatches(name, names); len(cm) > 0 {
		msg += "; did you mean: " + strings.Join(cm, ", ")
	} else if len(names) > 0 && len(names) <= 20 {
		msg += "; known wikis: " + strings.Join(names, ", ")
	}
	return 0, withCode(ExitUsage, errors.New(msg))
}

// closeMatches returns the names within edit distance max(2, len/4) of name (or that
// contain it, or that it contains), closest first.
func closeMatches(name string, names []string) []string {
	type c struct {
		n string
		d int
	}
	var cs []c
	low := strings.ToLower(name)
	for _, n := range names {
		d := editDistance(low, strings.ToLower(n))
		if d <= max(2, len(low)/4) || (len(low) >= 3 && (strings.Contains(strings.ToLower(n), low) || strings.Contains(low, strings.ToLower(n)))) {
			cs = append(cs, c{n, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for _, x := range cs {
		out = append(out, x.n)
	}
	return out
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// batchCounts summarises a batch run.
type batchCounts struct {
	Entries  int `json:"entries"`
	Found    int `json:"found"`
	Missing  int `json:"missing"`
	Multiple int `json:"multiple"`
}

// find returns the versions to act on, by batch file, flags or questions.
func (s *session) find(ctx context.Context) ([]metadata.File, *batchCounts, error) {
	o := s.o
	if o.BatchFile != "" {
		return s.findBatch(ctx)
	}
	m, value, container, err := o.method()
	if err != nil {
		return nil, nil, err
	}
	var q metadata.Query
	if m == "" {
		if !s.o.canPrompt() {
			return nil, nil, withCode(ExitUsage, errors.New("give a search flag (see --help) or a batch FILE; questions are asked only on a terminal"))
		}
		if q, err = s.ask(ctx); err != nil {
			return nil, nil, err
		}
	} else {
		if q, err = restore.QueryFor(m, value, container); err != nil {
			return nil, nil, withCode(ExitUsage, fmt.Errorf("--%s: %w", m, err))
		}
		if q.WikiID, err = s.wikiID(ctx, s.defaultWiki()); err != nil {
			return nil, nil, err
		}
	}
	s.log.Info("search", "wiki_id", q.WikiID, "query", describeQuery(q))
	files, err := s.store.Search(ctx, q)
	return files, nil, err
}

func describeQuery(q metadata.Query) string {
	var p []string
	add := func(k, v string) {
		if v != "" {
			p = append(p, k+"="+v)
		}
	}
	add("title", q.Title)
	add("sha1", q.SHA1)
	add("sha256", q.SHA256)
	add("container", q.Container)
	add("path", q.Path)
	add("upload_date", fmtDate(q.UploadDate))
	add("archive_date", fmtDate(q.ArchiveDate))
	add("delete_date", fmtDate(q.DeleteDate))
	return strings.Join(p, " ")
}

func (s *session) findBatch(ctx context.Context) ([]metadata.File, *batchCounts, error) {
	if _, _, _, err := s.o.method(); err != nil {
		return nil, nil, err
	}
	fh, err := os.Open(s.o.BatchFile)
	if err != nil {
		return nil, nil, withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
	}
	defer fh.Close()
	entries, err := restore.ParseEraseLog(fh)
	if err != nil {
		return nil, nil, withCode(ExitUsage, fmt.Errorf("batch file %s: %w", s.o.BatchFile, err))
	}
	c := &batchCounts{Entries: len(entries)}
	s.log.Info("batch file", "path", s.o.BatchFile, "entries", len(entries))
	ids := map[string]int64{}
	var out []metadata.File
	seen := map[int64]bool{}
	for _, e := range entries {
		wiki := e.Wiki
		if wiki == "" {
			wiki = s.o.Wiki
		}
		if wiki == "" {
			return nil, nil, withCode(ExitUsage, fmt.Errorf("batch file line %d: no mwscript --wiki line before it; give --wiki", e.Line))
		}
		id, ok := ids[wiki]
		if !ok {
			if id, err = s.wikiID(ctx, wiki); err != nil {
				return nil, nil, fmt.Errorf("batch file line %d: %w", e.Line, err)
			}
			ids[wiki] = id
		}
		files, err := s.store.Search(ctx, metadata.Query{WikiID: id, Title: e.Title, UploadDate: e.UploadDate, SHA1: e.SHA1})
		if err != nil {
			return nil, nil, err
		}
		switch len(files) {
		case 0:
			c.Missing++
			s.log.Warn("batch: no backed-up version matches", "line", e.Line, "wiki", wiki, "file", e.Title, "upload_date", fmtDate(e.UploadDate), "sha1", e.SHA1)
			continue
		case 1:
			c.Found++
		default:
			c.Multiple++
			s.log.Warn("batch: several versions match; all are listed and acted on", "line", e.Line, "wiki", wiki, "file", e.Title, "matches", len(files))
		}
		for _, f := range files {
			if !seen[f.ID] {
				seen[f.ID] = true
				out = append(out, f)
			}
		}
	}
	s.log.Info("batch summary", "entries", c.Entries, "found", c.Found, "missing", c.Missing, "multiple", c.Multiple)
	return out, c, nil
}

// ask runs the interactive questions: wiki, method, value. Bad answers are
// explained and asked again.
func (s *session) ask(ctx context.Context) (metadata.Query, error) {
	p := s.prompter()
	say := func(msg string) {
		fmt.Fprintf(s.f.IO.Out, "✗ %s\n", msg)
		s.log.Debug("answer refused", "reason", msg)
	}
	var wikiID int64
	for {
		name, err := p.Input("Wiki", s.defaultWiki())
		if err != nil {
			return metadata.Query{}, s.promptFailed(err)
		}
		name = strings.TrimSpace(name)
		if wikiID, err = s.wikiID(ctx, name); err == nil {
			s.log.Info("answer", "wiki", name)
			break
		}
		say(err.Error())
	}
	items := make([]string, len(restore.Methods))
	for i, m := range restore.Methods {
		items[i] = m.Describe()
	}
	i, err := p.Select("Search by", items)
	if err != nil {
		return metadata.Query{}, s.promptFailed(err)
	}
	m := restore.Methods[i]
	s.log.Info("answer", "method", string(m))
	container := ""
	if m == restore.ByPath {
		for {
			v, err := p.Input("Production container", "")
			if err != nil {
				return metadata.Query{}, s.promptFailed(err)
			}
			if container, err = restore.ParseContainer(v); err == nil {
				break
			}
			say(err.Error())
		}
	}
	label := map[restore.Method]string{
		restore.ByTitle: "Title", restore.BySHA1: "sha1 (hex)", restore.BySHA1Base36: "sha1 (base 36)",
		restore.ByPath: "Full path in the container", restore.BySHA256: "sha256 (hex)",
		restore.ByUploadDate: "Upload date (YYYY-MM-DD hh:mm:ss)", restore.ByArchiveDate: "Archive date (YYYY-MM-DD hh:mm:ss)",
		restore.ByDeleteDate: "Delete date (YYYY-MM-DD hh:mm:ss)",
	}[m]
	for {
		v, err := p.Input(label, "")
		if err != nil {
			return metadata.Query{}, s.promptFailed(err)
		}
		q, err := restore.QueryFor(m, v, container)
		if err == nil {
			q.WikiID = wikiID
			return q, nil
		}
		say(err.Error())
	}
}

// canPrompt reports whether questions can be asked: on a terminal, or
// through an injected Prompter (tests).
func (o *RecoveryOptions) canPrompt() bool { return o.Prompter != nil || o.F.CanPrompt() }

func (s *session) prompter() Prompter {
	if s.o.Prompter != nil {
		return s.o.Prompter
	}
	return newPromptuiPrompter(s.f.IO)
}

func (s *session) promptFailed(err error) error {
	if errors.Is(err, errPromptAborted) {
		return withCode(ExitAborted, errors.New("aborted by the operator; nothing was done"))
	}
	return fmt.Errorf("prompt: %w", err)
}

// confirmPolicy says whether to ask before acting. yes is --yes; execute
// marks a destructive run (delete --execute), for which --yes is refused
// while stdin is a terminal so that nobody skips the question by habit.
// Without a terminal to ask on, --yes is required.
func confirmPolicy(canPrompt, stdinTTY, yes, execute bool) (ask bool, err error) {
	switch {
	case yes && execute && stdinTTY:
		return false, withCode(ExitUsage, errors.New("--yes is refused for delete --execute on a terminal: answer the question instead"))
	case yes:
		return false, nil
	case canPrompt:
		return true, nil
	}
	return false, withCode(ExitUsage, errors.New("--yes is required when not running interactively (stdin and stdout are not both terminals)"))
}

// confirm asks a y/n question until it gets y or n; n is ExitAborted.
func (s *session) confirm(question string) error {
	p := s.prompter()
	for {
		a, err := p.Input(question+" (y/n)", "")
		if err != nil {
			return s.promptFailed(err)
		}
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "y", "yes":
			s.log.Info("confirmed", "question", question)
			return nil
		case "n", "no":
			s.log.Info("refused", "question", question)
			return withCode(ExitAborted, errors.New("aborted by the operator; nothing was done"))
		}
		fmt.Fprintln(s.f.IO.Out, "✗ answer y or n")
	}
}

// matchJSON is a match as --json prints it; field names are stable.
type matchJSON struct {
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

func toJSON(f metadata.File) matchJSON {
	m := matchJSON{
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

func matchesJSON(files []metadata.File) []matchJSON {
	out := []matchJSON{}
	for _, f := range files {
		out = append(out, toJSON(f))
	}
	return out
}

// printMatches writes every match, one block each, and logs them.
func (s *session) printMatches(w io.Writer, files []metadata.File) {
	none := func(p *string) string {
		if p == nil {
			return "none"
		}
		return *p
	}
	for i, f := range files {
		m := toJSON(f)
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
			{"backup_status", m.BackupStatus}, {"backup_reason", none(m.BackupReason)}, {"backup_date", none(m.BackupDate)},
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

// remindOtherDCs ends restore and delete: backups are per datacenter.
func (s *session) remindOtherDCs(action string) {
	dc := s.cfg.Datacenter
	if dc == "" {
		dc = "this datacenter"
	}
	msg := fmt.Sprintf("REMINDER: this %s acted on the backups of %s only: repeat it in the other datacenter(s).", action, dc)
	fmt.Fprintln(s.f.IO.ErrOut, msg)
	s.log.Info("reminder", "message", msg)
}

// red colours msg when w is a terminal.
func red(w io.Writer, msg string) string {
	if isTerminal(w) {
		return "\x1b[1;31m" + msg + "\x1b[0m"
	}
	return msg
}

// notFound is the error of a search without match.
func notFound() error {
	return withCode(ExitNotFound, errors.New("no backed-up file version matches the search"))
}

func batchMissing(c *batchCounts) error {
	return fmt.Errorf("batch: %d of %d entries have no backed-up version (found %d, several matches %d)", c.Missing, c.Entries, c.Found, c.Multiple)
}
