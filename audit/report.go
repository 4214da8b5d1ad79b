package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The kinds of problem an audit reports.
const (
	// Missing: production does not have the version's object.
	Missing = "missing"
	// Damaged: production has an object at the version's place, with
	// another size or content.
	Damaged = "damaged"
	// Unexpected: production has an object that no version of the
	// metadata is at.
	Unexpected = "unexpected"
)

// Problem is one finding of an audit, as `audit --json` prints it and
// `restore --to-production --from-audit` reads it. Field names are stable.
type Problem struct {
	// ID is the version's id in the metadata; 0 for an Unexpected object.
	ID                  int64  `json:"id"`
	Wiki                string `json:"wiki"`
	Title               string `json:"title"`
	Status              string `json:"status"` // production status: public, archived, deleted
	ProductionContainer string `json:"production_container"`
	ProductionPath      string `json:"production_path"`
	SHA1                string `json:"sha1"`
	Problem             string `json:"problem"` // Missing, Damaged or Unexpected
	Detail              string `json:"detail"`  // e.g. "size 95, want 94"
	// BackupOK says that a backed-up copy of the version exists (its
	// backup status is backedup or duplicate, with an object).
	BackupOK bool `json:"backup_ok"`
}

// Report is the whole result of one audit of one wiki.
type Report struct {
	Wiki      string    `json:"wiki"`
	CheckedAt time.Time `json:"checked_at"`
	// Versions is how many versions were compared.
	Versions int64 `json:"versions"`
	// SizeOnly is how many of them only by their size: no md5 known, no
	// sha1 header to vouch for the object, and the run's read budget spent
	// (see the package comment). A later run checks them.
	SizeOnly int64 `json:"size_only"`
	// Unlisted is how many of them the listing did not show but a HEAD
	// found (Checks.Unlisted): compared like the others, and not problems.
	Unlisted int64     `json:"unlisted"`
	Problems []Problem `json:"problems"`
	// Counts counts Problems by kind.
	Counts map[string]int64 `json:"counts"`
}

// ReadReport reads a Report as `audit --json` wrote it, and checks it: a
// known wiki name, a check time, and problems that each name their wiki
// (the report's), a kind, a place and, unless Unexpected, a version id and
// a 40-digit sha1. Anything else is an error that says what is wrong, so
// that a corrupted or foreign file is refused before anything is done.
func ReadReport(r io.Reader) (*Report, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("read audit report: %w", err)
	}
	if dec.More() {
		return nil, errors.New("read audit report: more than one JSON document")
	}
	if rep.Wiki == "" || rep.CheckedAt.IsZero() {
		return nil, errors.New("read audit report: it names no wiki or no check time (is it the output of `mediabackups audit --json`?)")
	}
	for i, p := range rep.Problems {
		if err := p.check(rep.Wiki); err != nil {
			return nil, fmt.Errorf("read audit report: problem %d (%s): %w", i+1, p.Title, err)
		}
	}
	return &rep, nil
}

func (p Problem) check(wiki string) error {
	switch {
	case p.Wiki != wiki:
		return fmt.Errorf("it is of wiki %q, the report of %q", p.Wiki, wiki)
	case p.Problem != Missing && p.Problem != Damaged && p.Problem != Unexpected:
		return fmt.Errorf("unknown problem %q", p.Problem)
	case p.ProductionContainer == "" || p.ProductionPath == "":
		return errors.New("no production container or path")
	case p.Problem == Unexpected:
		return nil
	case p.ID <= 0:
		return errors.New("no version id")
	case len(p.SHA1) != 40 || !isHex(p.SHA1):
		return fmt.Errorf("sha1 %q is not 40 hex digits", p.SHA1)
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
