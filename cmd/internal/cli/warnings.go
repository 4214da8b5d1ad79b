package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/mediabackups/mediabackups/inventory"
	"github.com/mediabackups/mediabackups/metadata"
)

// Warning is a class of versions a command could not cover, with why:
// `inventory` and `backup` end with one WARNING line per Warning, and list
// them under "warnings" in --json. Nothing is left out silently.
type Warning struct {
	Wiki string `json:"wiki"`
	// Versions is how many versions it is about (0: unknown, e.g. a whole
	// listing the wiki refused).
	Versions int64 `json:"versions"`
	// Status is their backup status when they are recorded ("unreadable"),
	// "" when they are not recorded at all.
	Status string `json:"status"`
	What   string `json:"what"`
	Reason string `json:"reason"`
}

func (w Warning) String() string {
	n := ""
	if w.Versions > 0 {
		n = fmt.Sprintf("%d ", w.Versions)
	}
	return fmt.Sprintf("WARNING: %s: %s%s: %s", w.Wiki, n, w.What, w.Reason)
}

// printWarnings writes one WARNING line per warning.
func printWarnings(w io.Writer, ws []Warning) {
	for _, x := range ws {
		fmt.Fprintln(w, printable(x.String()))
	}
}

// unreadableWarnings describes the versions of a wiki recorded as
// unreadable, one warning per reason.
func unreadableWarnings(ctx context.Context, s *metadata.Store, wikiID int64, wiki string) ([]Warning, error) {
	rs, err := s.Reasons(ctx, wikiID, metadata.Unreadable, 0)
	if err != nil {
		return nil, err
	}
	var ws []Warning
	for _, r := range rs {
		what := pluralOf("version")
		if r.Count == 1 {
			what = "version"
		}
		what += " unreadable with these credentials, not backed up until they allow it"
		ws = append(ws, Warning{Wiki: wiki, Versions: r.Count, Status: string(metadata.Unreadable), What: what, Reason: r.Reason})
	}
	return ws, nil
}

// notRecordedWarnings describes the versions an inventory saw but could
// not record.
func notRecordedWarnings(wiki string, nr []inventory.NotRecorded) []Warning {
	var ws []Warning
	for _, n := range nr {
		what := pluralOf(n.What)
		if n.Count == 1 {
			what = n.What
		}
		ws = append(ws, Warning{Wiki: wiki, Versions: int64(n.Count), What: what + " not recorded (its sha1 is unknown)", Reason: n.Reason})
	}
	return ws
}
