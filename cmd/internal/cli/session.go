package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
)

// session is one run of a recovery command: its log, its store.
type session struct {
	o       *RecoveryOptions
	f       *Factory
	cfg     *config.Config
	log     *slog.Logger
	logFile *os.File
	logPath string
	store   *metadata.Store
	// screen is where the log's screen lines go, with a progress bar below
	// them on a terminal.
	screen *statusLine
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
	screen := newStatusLine(f.IO.ErrOut)
	log := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(screen, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}),
	))
	s := &session{o: o, f: f, cfg: cfg, log: log, logFile: lf, logPath: path, screen: screen}
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
