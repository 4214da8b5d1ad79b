package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mediabackups/mediabackups/eraselog"
	"github.com/mediabackups/mediabackups/metadata"
)

// BatchCounts summarises a batch run.
type BatchCounts struct {
	Entries  int `json:"entries"`
	Found    int `json:"found"`
	Missing  int `json:"missing"`
	Multiple int `json:"multiple"`
}

const (
	// batchChunk is how many entries of an erase log one metadata query
	// matches.
	batchChunk = 1000
	// batchShown is how many entries without a match (or with several) a
	// batch run lists one by one; the others are counted.
	batchShown = 10
)

// find finds the versions to act on, by batch file, flags or questions,
// and passes them to emit a page (in batch mode a chunk) at a time, each
// version once, so that memory does not grow with their number. It returns
// the batch counts, nil unless in batch mode. The search is in the session
// log, on disk, before it runs. It may be called again (restore reads the
// matches twice: to show them, then to restore them): the questions are
// asked once.
func (s *session) find(ctx context.Context, emit func([]metadata.File) error) (*BatchCounts, error) {
	if s.o.BatchFile != "" {
		return s.findBatch(ctx, emit)
	}
	q, err := s.query(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.record("searching", "search", "wiki_id", q.WikiID, "query", q.String()); err != nil {
		return nil, err
	}
	n, pages := 0, 0
	last := time.Now()
	err = s.store.SearchEach(ctx, q, metadata.SearchPage, func(files []metadata.File) error {
		n += len(files)
		if pages++; pages > 1 && time.Since(last) >= 5*time.Second {
			last = time.Now()
			s.log.Info("search progress", "matches", n)
		}
		return emit(files)
	})
	if err != nil {
		return nil, err
	}
	if n == 0 && q.Title != "" {
		s.hint = s.titleHint(ctx, q.WikiID, q.Title)
	}
	return nil, nil
}

// query returns the search of the flags, or of the questions (asked the
// first time only), with its wiki.
func (s *session) query(ctx context.Context) (metadata.Query, error) {
	if s.q != nil {
		return *s.q, nil
	}
	sf, err := s.o.methods()
	if err != nil {
		return metadata.Query{}, err
	}
	var q metadata.Query
	if len(sf) == 0 {
		if !s.o.canPrompt() {
			return q, withCode(ExitUsage, errors.New("give a search flag (see --help) or a batch FILE; questions are asked only on a terminal"))
		}
		if q, err = s.ask(ctx); err != nil {
			return q, err
		}
	} else {
		if q, err = sf.query(); err != nil {
			return q, err
		}
		if q.WikiID, err = s.wikiID(ctx, s.defaultWiki()); err != nil {
			return q, err
		}
	}
	s.q = &q
	return q, nil
}

// findAll is find that collects every match.
func (s *session) findAll(ctx context.Context) ([]metadata.File, *BatchCounts, error) {
	var all []metadata.File
	batch, err := s.find(ctx, func(files []metadata.File) error {
		all = append(all, files...)
		return nil
	})
	return all, batch, err
}

// findBatch matches the entries of the batch file with the metadata. A
// first pass reads the whole file to check it (a malformed line, an entry
// without a wiki, an unknown wiki and a file without any deletion line are
// usage errors, before any search); the second matches it a chunk at a
// time, so that memory does not grow with the log.
func (s *session) findBatch(ctx context.Context, emit func([]metadata.File) error) (*BatchCounts, error) {
	path := s.o.BatchFile
	entries, wikis, err := scanBatch(path, s.o.Wiki)
	if err != nil {
		return nil, err
	}
	ids := map[string]int64{}
	for _, w := range wikis {
		if ids[w], err = s.wikiID(ctx, w); err != nil {
			return nil, fmt.Errorf("batch file %s: %w", path, err)
		}
	}
	if err := s.record("matching the batch file", "batch file", "path", path, "entries", entries, "wikis", strings.Join(wikis, ",")); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
	}
	defer fh.Close()
	log := s.log
	if s.again {
		// The same file, matched again: its misses were listed the first time.
		log = slog.New(slog.DiscardHandler)
	}
	m := &batchMatcher{find: s.store, ids: ids, defaultWiki: s.o.Wiki, emit: emit, log: log, total: entries, every: 5 * time.Second}
	c, err := m.run(ctx, eraselog.NewReader(fh))
	if err != nil {
		return nil, err
	}
	log.Info("batch summary", "entries", c.Entries, "found", c.Found, "missing", c.Missing, "multiple", c.Multiple)
	return &c, nil
}

// checkBatchFile refuses, before anything else runs, a batch FILE that is
// not a regular file it can read (batch mode reads it twice).
func checkBatchFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
	}
	if !fi.Mode().IsRegular() {
		return withCode(ExitUsage, fmt.Errorf("batch file %s is not a regular file (%s): save the erase log to a file and give that", path, fileKind(fi.Mode())))
	}
	fh, err := os.Open(path)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
	}
	return fh.Close()
}

// scanBatch reads the erase log at path once, to check it: it returns the
// number of entries and the wikis they belong to (defaultWiki for those
// after no command line that names one). Every problem is a usage error.
func scanBatch(path, defaultWiki string) (int, []string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, nil, withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
	}
	defer fh.Close()
	r := eraselog.NewReader(fh)
	var wikis []string
	n := 0
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, withCode(ExitUsage, fmt.Errorf("batch file %s: %w", path, err))
		}
		n++
		w := e.Wiki
		if w == "" {
			w = defaultWiki
		}
		if w == "" {
			return 0, nil, withCode(ExitUsage, fmt.Errorf("batch file %s, line %d: no eraseArchivedFile.php command line with --wiki before it: give --wiki", path, e.Line))
		}
		if !slices.Contains(wikis, w) {
			wikis = append(wikis, w)
		}
	}
	if n == 0 {
		return 0, nil, withCode(ExitUsage, fmt.Errorf("no deletion lines found in %s (%d lines read): give the output of eraseArchivedFile.php, "+
			"whose lines \"Deleted version 'KEY.ext' (YYYYMMDDhhmmss) of file 'Title'\" name the versions", path, r.Lines()))
	}
	slices.Sort(wikis)
	return n, wikis, nil
}

// versionFinder finds file versions by title, upload date and sha1.
type versionFinder interface {
	FindVersions(ctx context.Context, wikiID int64, keys []metadata.VersionKey) ([]metadata.File, error)
}

// batchMatcher matches the entries of an erase log with the metadata, one
// query per chunk of entries (and wiki), and passes the versions found to
// emit, each once. It lists the first few entries without a match and
// counts the rest, and logs its progress on long logs.
type batchMatcher struct {
	find        versionFinder
	ids         map[string]int64 // wiki name → id, for every wiki of the log
	defaultWiki string
	emit        func([]metadata.File) error
	log         *slog.Logger
	total       int           // entries in the log, for progress
	every       time.Duration // between two progress lines

	counts BatchCounts
	seen   map[int64]struct{}
	last   time.Time
}

// entryKey is what makes a version match an entry.
type entryKey struct {
	wikiID int64
	title  string
	upload int64 // Unix seconds
	sha1   string
}

// lookup is one chunk of entries and the versions the metadata has for
// them.
type lookup struct {
	chunk []eraselog.Entry
	found map[entryKey][]metadata.File
	err   error
}

// run reads the log and matches it a chunk at a time. While the versions
// of one chunk are passed on (printed, or logged), the next chunk is read
// and looked up, so that the database and the output work at once.
func (m *batchMatcher) run(ctx context.Context, r *eraselog.Reader) (BatchCounts, error) {
	m.seen = map[int64]struct{}{}
	m.last = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	looked := make(chan lookup, 1)
	go func() {
		defer close(looked)
		for {
			chunk := make([]eraselog.Entry, 0, batchChunk)
			var err error
			for len(chunk) < batchChunk {
				var e eraselog.Entry
				if e, err = r.Next(); err != nil {
					break
				}
				chunk = append(chunk, e)
			}
			l := lookup{chunk: chunk}
			if len(chunk) > 0 {
				l.found, l.err = m.lookup(ctx, chunk)
			}
			if err != nil && err != io.EOF && l.err == nil {
				l.err = withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
			}
			select {
			case looked <- l:
			case <-ctx.Done():
				return
			}
			if err != nil || l.err != nil {
				return
			}
		}
	}()
	for l := range looked {
		if l.err != nil {
			return m.counts, l.err
		}
		if err := m.tally(l); err != nil {
			return m.counts, err
		}
	}
	if err := ctx.Err(); err != nil {
		return m.counts, err
	}
	more := func(n int) string {
		if n == 1 {
			return "1 more entry"
		}
		return fmt.Sprintf("%d more entries", n)
	}
	if n := m.counts.Missing - batchShown; n > 0 {
		m.log.Warn(fmt.Sprintf("batch: %s without a backed-up version (only the first %d are listed)", more(n), batchShown))
	}
	if n := m.counts.Multiple - batchShown; n > 0 {
		m.log.Warn(fmt.Sprintf("batch: %s with several matches (only the first %d are listed)", more(n), batchShown))
	}
	return m.counts, nil
}

func (m *batchMatcher) wikiOf(e eraselog.Entry) int64 {
	if e.Wiki != "" {
		return m.ids[e.Wiki]
	}
	return m.ids[m.defaultWiki]
}

func keyOf(wikiID int64, title string, upload time.Time, sha1 string) entryKey {
	return entryKey{wikiID, title, upload.Unix(), strings.ToLower(sha1)}
}

// lookup asks the metadata for the versions of chunk: one query per wiki
// (an erase log is usually of one).
func (m *batchMatcher) lookup(ctx context.Context, chunk []eraselog.Entry) (map[entryKey][]metadata.File, error) {
	byWiki := map[int64][]metadata.VersionKey{}
	for _, e := range chunk {
		id := m.wikiOf(e)
		byWiki[id] = append(byWiki[id], metadata.VersionKey{Title: e.Title, UploadDate: e.UploadDate, SHA1: e.SHA1})
	}
	found := map[entryKey][]metadata.File{}
	for id, keys := range byWiki {
		files, err := m.find.FindVersions(ctx, id, keys)
		if err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		for _, f := range files {
			k := keyOf(id, f.Title, f.UploadDate, f.SHA1)
			found[k] = append(found[k], f)
		}
	}
	return found, nil
}

// tally counts the entries of a looked-up chunk, lists the first misses,
// and passes the versions found on, each once.
func (m *batchMatcher) tally(l lookup) error {
	var out []metadata.File
	for _, e := range l.chunk {
		files := l.found[keyOf(m.wikiOf(e), e.Title, e.UploadDate, e.SHA1)]
		m.counts.Entries++
		switch len(files) {
		case 0:
			m.counts.Missing++
			if m.counts.Missing <= batchShown {
				m.log.Warn("batch: no backed-up version matches", "line", e.Line, "wiki", e.Wiki, "file", e.Title,
					"upload_date", fmtDate(e.UploadDate), "sha1", e.SHA1)
			}
			continue
		case 1:
			m.counts.Found++
		default:
			m.counts.Multiple++
			if m.counts.Multiple <= batchShown {
				m.log.Warn("batch: several versions match; all are listed and acted on", "line", e.Line, "wiki", e.Wiki, "file", e.Title, "matches", len(files))
			}
		}
		for _, f := range files {
			if _, dup := m.seen[f.ID]; !dup {
				m.seen[f.ID] = struct{}{}
				out = append(out, f)
			}
		}
	}
	if time.Since(m.last) >= m.every {
		m.last = time.Now()
		m.log.Info("batch progress", "entries", m.counts.Entries, "of", m.total, "found", m.counts.Found, "missing", m.counts.Missing)
	}
	if len(out) == 0 {
		return nil
	}
	return m.emit(out)
}

// notFound is the error of a search without match, with a hint when one
// was found (see titleHint).
func (s *session) notFound() error {
	msg := "no backed-up file version matches the search"
	if s.hint != "" {
		msg += "\n" + s.hint
	}
	return withCode(ExitNotFound, errors.New(msg))
}

func batchMissing(c *BatchCounts) error {
	return fmt.Errorf("batch: %d of %s without a backed-up version (found %d, several matches %d)", c.Missing, count(c.Entries, "entry"), c.Found, c.Multiple)
}
