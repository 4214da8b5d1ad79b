package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

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

// find returns the versions to act on, by batch file, flags or questions.
func (s *session) find(ctx context.Context) ([]metadata.File, *BatchCounts, error) {
	o := s.o
	if o.BatchFile != "" {
		return s.findBatch(ctx)
	}
	sf, given, err := o.method()
	if err != nil {
		return nil, nil, err
	}
	var q metadata.Query
	if !given {
		if !s.o.canPrompt() {
			return nil, nil, withCode(ExitUsage, errors.New("give a search flag (see --help) or a batch FILE; questions are asked only on a terminal"))
		}
		if q, err = s.ask(ctx); err != nil {
			return nil, nil, err
		}
	} else {
		if q, err = sf.query(); err != nil {
			return nil, nil, err
		}
		if q.WikiID, err = s.wikiID(ctx, s.defaultWiki()); err != nil {
			return nil, nil, err
		}
	}
	s.log.Info("search", "wiki_id", q.WikiID, "query", q.String())
	files, err := s.store.Search(ctx, q)
	return files, nil, err
}

func (s *session) findBatch(ctx context.Context) ([]metadata.File, *BatchCounts, error) {
	if _, _, err := s.o.method(); err != nil {
		return nil, nil, err
	}
	fh, err := os.Open(s.o.BatchFile)
	if err != nil {
		return nil, nil, withCode(ExitUsage, fmt.Errorf("batch file: %w", err))
	}
	defer fh.Close()
	entries, err := eraselog.Parse(fh)
	if err != nil {
		return nil, nil, withCode(ExitUsage, fmt.Errorf("batch file %s: %w", s.o.BatchFile, err))
	}
	c := &BatchCounts{Entries: len(entries)}
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

// notFound is the error of a search without match.
func notFound() error {
	return withCode(ExitNotFound, errors.New("no backed-up file version matches the search"))
}

func batchMissing(c *BatchCounts) error {
	return fmt.Errorf("batch: %d of %s without a backed-up version (found %d, several matches %d)", c.Missing, count(c.Entries, "entry"), c.Found, c.Multiple)
}
