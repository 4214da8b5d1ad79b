package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
)

// StatusOptions configures `status`.
type StatusOptions struct {
	F       *Factory
	Wiki    string
	Metrics MetricsOptions
}

func newStatusCmd(f *Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{F: f}
	cmd := &cobra.Command{
		Use:   "status [--wiki NAME]",
		Short: "Count file versions by backup status, and objects by MinIO server",
		Long: `Count the file versions of each wiki by backup status (every status, 0
included: pending, processing, backedup, duplicate, error, unavailable,
unreadable and gone), with the most frequent reasons of error, unavailable,
unreadable and gone (why they failed, or why they cannot be backed up), and
its objects and bytes by MinIO server, from the metadata.

It reads every row of the wikis it counts: at the size of Commons that takes
minutes. With --metrics-file it also writes the counts for Prometheus
(mediabackups_files, _files_bytes, _stored_objects, _stored_bytes): run it
from a timer, hourly say, not at every scrape.`,
		Example: `  mediabackups status --wiki testwiki
  mediabackups status --metrics-file /var/lib/prometheus/node-exporter/mediabackups-status.prom`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Metrics.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name (default: every configured wiki)")
	addMetricsFlags(cmd, &opts.Metrics, false)
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	f := opts.F
	if _, err := f.Config(); err != nil {
		return err
	}
	wikis, err := f.wikisToRun(opts.Wiki)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	var out []metadata.Summary
	for _, w := range wikis {
		id, err := s.WikiID(ctx, w.Name)
		if err != nil {
			out = append(out, metadata.NewSummary(w.Name))
			continue
		}
		sum, err := s.Summarize(ctx, id, w.Name)
		if err != nil {
			return err
		}
		out = append(out, sum)
	}
	if opts.Metrics.File != "" {
		m := metrics.New(metrics.CommandStatus, f.Logger())
		m.SetSummaries(out)
		if err := m.WriteTextfile(opts.Metrics.File); err != nil {
			return err
		}
	}
	if f.JSON {
		return f.printJSON(out)
	}
	for _, sum := range out {
		fmt.Fprintf(f.IO.Out, "%s\n", sum.Wiki)
		if sum.Versions == 0 {
			fmt.Fprintln(f.IO.Out, "  no files yet: run `mediabackups inventory --wiki "+sum.Wiki+"`")
			continue
		}
		writeSummary(f.IO.Out, sum)
		if sum.ByBackupStatus[string(metadata.Unavailable)] > 0 {
			fmt.Fprintf(f.IO.Out, "  (unavailable: production serves their bytes nowhere right now; `query-media-file` shows why; "+
				"`mediabackups update` then `backup --retry-errors` tries again)\n")
		}
		if v := sum.Verify; len(v.ByResult) > 0 {
			var parts []string
			for _, r := range metadata.VerifyResults {
				if n := v.ByResult[string(r)]; n > 0 || r == metadata.VerifyOK {
					parts = append(parts, fmt.Sprintf("%d %s", n, outcomeLabel(r)))
				}
			}
			if n := v.ByResult["never"]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d never checked", n))
			}
			oldest := "never"
			if v.OldestCheck != nil {
				oldest = fmtDate(*v.OldestCheck)
			}
			fmt.Fprintf(f.IO.Out, "  last verify of each object: %s; oldest check %s\n", strings.Join(parts, ", "), oldest)
		}
	}
	return nil
}

// writeSummary writes what `status --json` prints of a wiki as text:
// every backup status with its versions and their bytes (statuses this
// binary does not know yet too), each followed by its most frequent
// reasons, the sha1 mismatches, and the objects and bytes on each server.
func writeSummary(w io.Writer, sum metadata.Summary) {
	statuses := make([]string, 0, len(sum.ByBackupStatus))
	for _, st := range metadata.BackupStatuses {
		statuses = append(statuses, string(st))
	}
	for _, st := range metadata.SortedKeys(sum.ByBackupStatus) {
		if !slices.Contains(statuses, st) {
			statuses = append(statuses, st)
		}
	}
	for _, st := range statuses {
		fmt.Fprintf(w, "  %-16s %d (%s)\n", st+":", sum.ByBackupStatus[st], humanBytes(sum.BytesByBackupStatus[st]))
		rs := sum.Reasons[st]
		shown := int64(0)
		for _, r := range rs {
			fmt.Fprintf(w, "    %d: %s\n", r.Count, printable(oneLine(r.Reason)))
			shown += r.Count
		}
		if rest := sum.ByBackupStatus[st] - shown; len(rs) > 0 && rest > 0 {
			fmt.Fprintf(w, "    %d: other reasons\n", rest)
		}
	}
	fmt.Fprintf(w, "  %-16s %d", "sha1 mismatches:", sum.SHA1Mismatches)
	if sum.SHA1Mismatches > 0 {
		fmt.Fprintf(w, " (see `mediabackups mismatches --wiki %s`)", sum.Wiki)
	}
	fmt.Fprintln(w)
	for _, ep := range metadata.SortedKeys(sum.ObjectsByLocation) {
		fmt.Fprintf(w, "  objects on %s: %d (%s)\n", ep, sum.ObjectsByLocation[ep], humanBytes(sum.BytesByLocation[ep]))
	}
}

// oneLine shortens a reason to one line of at most 200 bytes.
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + " …"
	}
	return s
}
