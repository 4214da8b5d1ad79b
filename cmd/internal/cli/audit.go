package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
	"github.com/mediabackups/mediabackups/production/fromconfig"
)

// AuditOptions configures `audit`.
type AuditOptions struct {
	F          *Factory
	Wiki       string
	Parallel   int
	ReadBudget string // a size, e.g. 10GiB; parsed into readBudget
	readBudget int64
}

func newAuditCmd(f *Factory, runF func(context.Context, *AuditOptions) error) *cobra.Command {
	opts := &AuditOptions{F: f}
	cmd := &cobra.Command{
		Use:   "audit --wiki NAME [--json] [--parallel N]",
		Short: "Find the file versions production has lost or damaged",
		Long: `Compare every file version that the metadata says production holds (current,
archived and deleted) with the wiki's production store (its production block
in the config: Swift, or the upload directory), and report each one that is
missing or damaged, and each object in the wiki's containers that no version
is at (unexpected). Production is only read.

The audit walks each container's listing and the metadata's versions of that
container side by side, in name order, so it needs no request per object
where the listing says enough: Swift lists each object's size and md5, and
the backup records each version's md5. Versions backed up before md5s were
recorded are checked once by their X-Object-Meta-Sha1base36 header (a HEAD),
or by reading them (at most --read-budget bytes a run), and their md5 is
recorded then. On a filesystem store every file is read and hashed. A
version the listing does not show gets a HEAD before it is called missing,
as a Swift listing can lag behind its objects.

Run 'mediabackups update --wiki NAME' first: an upload newer than the
metadata is unexpected, and a version moved since looks missing.

The results are recorded in the metadata: 'query-media-file' shows each
version's audit status and when it was checked, and the next audit says what
changed since this one (new problems, fixed ones).

Output: one line per problem, then a summary; with --json, the report that
'mediabackups restore --to-production --from-audit FILE' reads.

Exit codes: 0 production holds every version (unexpected objects alone
do not change that: they are reported, and lose nothing); 3 something is
missing or damaged; 1 the audit could not run (the message says why; nothing
is recorded when production or the metadata could not be read at the start).`,
		Example: `  mediabackups update --wiki commonswiki && mediabackups audit --wiki commonswiki
  mediabackups audit --wiki commonswiki --parallel 16 --json > audit.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Wiki == "" {
				return withCode(ExitUsage, fmt.Errorf("--wiki is required"))
			}
			n, err := humanize.ParseBytes(opts.ReadBudget)
			if err != nil || n > 1<<62 {
				return withCode(ExitUsage, fmt.Errorf("--read-budget %q: want a size such as 10GiB, 500MB or 0", opts.ReadBudget))
			}
			opts.readBudget = int64(n)
			if n == 0 {
				opts.readBudget = -1 // audit.Options: negative reads nothing
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return auditRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name, as in the config")
	intFlag(cmd.Flags(), &opts.Parallel, "parallel", audit.DefaultParallel, 1, 256, "containers walked at once, and objects checked (HEAD or read) at once")
	cmd.Flags().StringVar(&opts.ReadBudget, "read-budget", humanize.IBytes(audit.DefaultReadBudget),
		"most bytes read from Swift to check versions with no md5 recorded and no sha1 header (0: none)")
	return cmd
}

func auditRun(ctx context.Context, opts *AuditOptions) error {
	f := opts.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	w, err := c.Wiki(opts.Wiki)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	wikiID, err := s.WikiID(ctx, w.Name)
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("audit of %s: %w: run `mediabackups inventory --wiki %s` first", w.Name, audit.ErrNoVersions, w.Name)
	}
	if err != nil {
		return err
	}
	prod, err := fromconfig.Open(ctx, c, w)
	if err != nil {
		return err
	}
	var asOf time.Time
	for _, cmd := range []string{metrics.CommandInventory, metrics.CommandUpdate} {
		if ls, err := s.LastSuccess(ctx, wikiID, cmd); err == nil && ls.Started.After(asOf) {
			asOf = ls.Started
		}
	}
	prog := newAuditProgress(f.IO.ErrOut, w.Name)
	res, err := audit.Run(ctx, prod, s, audit.Options{
		Wiki: w.Name, WikiID: wikiID, Containers: fromconfig.Containers(w), Parallel: opts.Parallel,
		ReadBudget: opts.readBudget, MetadataAsOf: asOf, Host: hostname(), Progress: prog.update, Logger: f.Logger(),
	})
	prog.finish()
	if err != nil {
		return err
	}
	if f.JSON {
		if err := f.printJSON(res.Report); err != nil {
			return err
		}
	} else {
		printAudit(f.IO.Out, prod.String(), res)
	}
	if n := res.Lost(); n > 0 {
		return withCode(ExitPartial, printedResult(fmt.Errorf("production lost or damaged %d versions of %s: put them back with "+
			"`mediabackups restore --to-production --from-audit FILE`, FILE being what `mediabackups audit --wiki %s --json` printed",
			n, w.Name, w.Name)))
	}
	return nil
}

// printAudit writes one line per problem and the summary.
func printAudit(w io.Writer, store string, res *audit.Result) {
	for _, p := range res.Findings {
		when := "[new]"
		if !p.New {
			when = "[since " + fmtDate(p.Since) + " UTC]"
		}
		place := printable(p.ProductionContainer + "/" + p.ProductionPath)
		if p.Problem.Problem == audit.Unexpected {
			fmt.Fprintf(w, "%-10s %s: %s %s\n", p.Problem.Problem, place, printable(p.Detail), when)
			continue
		}
		backup := "no backup copy"
		if p.BackupOK {
			backup = "backup ok"
		}
		fmt.Fprintf(w, "%-10s %s (%s, id %d, %s, %s): %s %s\n", p.Problem.Problem, place, printable(p.Title), p.ID, p.Status,
			backup, printable(p.Detail), when)
	}
	r, n, ch := res.Report, res.Counts, res.Checks
	rate := float64(n.Objects) / max(res.Elapsed.Seconds(), 1e-3)
	fmt.Fprintf(w, "audit of %s on %s: %d versions in %d containers, %d objects listed, in %s (%.0f objects/s)\n",
		r.Wiki, store, r.Versions, n.Containers, n.Objects, res.Elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "  %d missing, %d damaged, %d unexpected\n", n.Missing, n.Damaged, n.Unexpected)
	fmt.Fprintf(w, "  found whole: %d by md5, %d by the sha1 header, %d read and hashed, %d by size only; "+
		"objects read: %d (%s); md5 recorded for %d versions\n",
		ch.MD5, ch.Header, ch.Read, ch.SizeOnly, ch.ObjectsRead, humanBytes(ch.BytesRead), ch.Learned)
	if ch.Unlisted > 0 {
		fmt.Fprintf(w, "  %d versions were not in the listing but there when asked for (a listing that lags behind)\n", ch.Unlisted)
	}
	if res.Previous == nil {
		fmt.Fprintf(w, "  first audit of %s\n", r.Wiki)
	} else {
		fmt.Fprintf(w, "  since the last audit (%s): new: %d, fixed: %d, unchanged: %d\n",
			res.Previous.Started.Format("2006-01-02 15:04:05 UTC"), res.Changes.New, res.Changes.Fixed, res.Changes.Unchanged)
	}
}

// auditProgress shows where a running audit is: a line redrawn in place on
// a terminal, a line a minute otherwise (a log).
type auditProgress struct {
	w    io.Writer
	tty  bool
	wiki string
	last time.Time
	drew bool
}

func newAuditProgress(w io.Writer, wiki string) *auditProgress {
	return &auditProgress{w: w, tty: isTerminal(w), wiki: wiki, last: time.Now()}
}

func (p *auditProgress) update(pr audit.Progress) {
	line := fmt.Sprintf("audit %s: %d/%d containers, %d objects listed, %d versions compared, %d read, %d problems (%.0f objects/s)",
		p.wiki, pr.Containers, pr.ContainersAll, pr.Objects, pr.Versions, pr.Read, pr.Problems, float64(pr.Objects)/max(pr.Elapsed.Seconds(), 1e-3))
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.drew = true
	case time.Since(p.last) >= time.Minute:
		p.last = time.Now()
		fmt.Fprintln(p.w, line)
	}
}

func (p *auditProgress) finish() {
	if p.drew {
		fmt.Fprintln(p.w)
	}
}
