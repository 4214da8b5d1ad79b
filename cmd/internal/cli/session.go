package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
)

// session is one run of a recovery command: its log, its store.
//
// # The session log is an audit log
//
// Every line of the session goes to the log file as well as the screen,
// and the log may not lose any: the first write or sync that fails is kept
// (auditLog), nothing is done after it, and the command ends with exit 1.
// An action that changes something (a deletion, a restore, and whatever
// later writes into production) runs only after its line has been written
// and synced to disk: see record.
type session struct {
	o       *RecoveryOptions
	f       *Factory
	cfg     *config.Config
	log     *slog.Logger
	audit   *auditLog
	logPath string
	store   *metadata.Store
	// screen is where the log's screen lines go, with a progress bar below
	// them on a terminal.
	screen *statusLine
	// hint follows the error of a search that found nothing (titleHint).
	hint string
	// q is the search, once flags or questions gave it (see query).
	q *metadata.Query
	// again is set when find runs a second time over the same search.
	again bool
}

// auditLog is the session log file. Lines are buffered (a batch run logs a
// line per match) and written out when the buffer fills and at every
// sync. A write or a sync that fails (a full disk) is kept, every later
// write is refused, and sync returns it: a session never goes on with a
// log that lost a line.
type auditLog struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
	err  error
}

func newAuditLog(f *os.File, path string) *auditLog {
	return &auditLog{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path}
}

// Write implements io.Writer for the log's handler; each call is one line.
func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return 0, a.err
	}
	n, err := a.w.Write(p)
	if err != nil {
		a.err = fmt.Errorf("write the session log %s: %w", a.path, err)
		return n, a.err
	}
	return n, nil
}

// sync writes the log out and to disk, and returns the first failure of
// any write or sync so far.
func (a *auditLog) sync() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		if err := a.w.Flush(); err != nil {
			a.err = fmt.Errorf("write the session log %s: %w", a.path, err)
		} else if err := a.f.Sync(); err != nil {
			a.err = fmt.Errorf("sync the session log %s: %w", a.path, err)
		}
	}
	return a.err
}

// logError is the error of a session whose log could not be written: exit
// 1, what was not done, and what to do.
func (s *session) logError(err error, notDone string) error {
	return withCode(ExitError, fmt.Errorf("%w\nthe session log is an audit log: stopped before %s; free space there, or give another directory with --logdir, and run the command again", err, notDone))
}

// record logs msg (at level INFO, with args) and syncs the log to disk; it
// returns an error, and the caller must not act, unless the line and every
// line before it are on disk. notDone says what is not done then ("any
// deletion").
func (s *session) record(notDone, msg string, args ...any) error {
	s.log.Info(msg, args...)
	if err := s.audit.sync(); err != nil {
		return s.logError(err, notDone)
	}
	return nil
}

// Record implements deletion.Journal: msg is on disk when it returns nil.
func (s *session) Record(msg string, args ...any) error {
	return s.record("this step and every one after it", msg, args...)
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
	audit := newAuditLog(lf, path)
	screen := newStatusLine(f.IO.ErrOut)
	log := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(audit, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(screen, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}),
	))
	s := &session{o: o, f: f, cfg: cfg, log: log, audit: audit, logPath: path, screen: screen}
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	if err := s.record("anything was searched or done", "session start", "tool", o.Tool, "user", who, "host", hostname(),
		"datacenter", cfg.Datacenter, "args", strings.Join(os.Args[1:], " ")); err != nil {
		lf.Close()
		return nil, err
	}
	if s.store, err = f.openStoreLogged(ctx, true, log); err != nil {
		s.log.Error("open the metadata database", "error", err.Error())
		if logErr := audit.sync(); logErr != nil {
			err = fmt.Errorf("%w (and the session log: %v)", err, logErr)
		}
		lf.Close()
		return nil, err
	}
	return s, nil
}

// close ends the session with its outcome in the log, and returns err,
// or the log's failure if a line of the session could not be written.
func (s *session) close(err error) error {
	if err != nil {
		s.log.Error("session end", "error", err.Error())
	} else {
		s.log.Info("session end")
	}
	if s.store != nil {
		s.store.Close()
	}
	logErr := s.audit.sync()
	s.audit.f.Close()
	var ee *exitError
	switch {
	case logErr == nil:
		return err
	case err == nil:
		return s.logError(logErr, "the end of the session")
	case errors.As(err, &ee) && ee.code == ExitError && strings.Contains(err.Error(), s.logPath):
		return err // already the log's failure
	}
	return withCode(ExitError, fmt.Errorf("%w\nand the session log is incomplete: %v", err, logErr))
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

// titleHint looks for what the operator may have meant after a search by
// title found nothing, and says it: the title with its first letter
// capitalised (MediaWiki stores titles so on most wikis: wow!Amazing.png
// is Wow!Amazing.png), and the close titles around it. It costs a few
// index reads (metadata.TitlesAround) on a wiki of any size; "" when
// there is nothing to suggest.
func (s *session) titleHint(ctx context.Context, wikiID int64, title string) string {
	up := ucfirst(title)
	var around []string
	for _, t := range slices.Compact([]string{up, title}) {
		ts, err := s.store.TitlesAround(ctx, wikiID, t, 10)
		if err != nil {
			s.log.Debug("no title suggestions", "error", err.Error())
			return ""
		}
		around = append(around, ts...)
	}
	if up != title && slices.Contains(around, up) {
		return fmt.Sprintf("did you mean --title %q? Titles are matched byte for byte, and MediaWiki capitalises their first letter on most wikis", up)
	}
	slices.Sort(around)
	cm := closeMatches(title, slices.Compact(around))
	if len(cm) == 0 {
		return ""
	}
	if len(cm) > 5 {
		cm = cm[:5]
	}
	q := make([]string, len(cm))
	for i, t := range cm {
		q[i] = fmt.Sprintf("%q", t)
	}
	return "close titles in the backups: " + strings.Join(q, ", ") + " (titles are matched byte for byte)"
}

// ucfirst returns s with its first letter in upper case, as MediaWiki
// capitalises titles.
func ucfirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
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
