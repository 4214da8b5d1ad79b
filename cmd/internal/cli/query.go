package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metadata"
)

// QueryOptions configures `query`.
type QueryOptions struct {
	RecoveryOptions
}

func newQueryCmd(f *Factory, runF func(context.Context, *QueryOptions) error) *cobra.Command {
	opts := &QueryOptions{RecoveryOptions{F: f, Tool: "query"}}
	cmd := &cobra.Command{
		Use:   "query [flags] [FILE]",
		Short: "Find backed-up file versions and show where they are",
		Long: `Find backed-up file versions of a wiki and print, for each, its production
name, hashes, dates, and where its backup is stored. Nothing is changed.

` + searchHelp() + `

Every session is logged to <logdir>/query.log as well as the screen.
Exit codes: 0 found, 4 nothing matched, 5 aborted, 2 bad flags or values.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.BatchFile = args[0]
			}
			if _, _, err := opts.method(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return queryRun(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	return cmd
}

// countByStatus counts files by backup status: every status of
// metadata.BackupStatuses, 0 included.
func countByStatus(files []metadata.File) map[string]int {
	n := map[string]int{}
	for _, st := range metadata.BackupStatuses {
		n[string(st)] = 0
	}
	for _, f := range files {
		n[string(f.BackupStatus)]++
	}
	return n
}

// statusAttrs are the counts of countByStatus as log attributes, in the
// order of metadata.BackupStatuses: "pending", 0, "processing", 0, ...
func statusAttrs(n map[string]int) []any {
	var out []any
	for _, st := range metadata.BackupStatuses {
		out = append(out, string(st), n[string(st)])
	}
	return out
}

func queryRun(ctx context.Context, opts *QueryOptions) (err error) {
	s, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() { s.close(err) }()
	files, batch, err := s.find(ctx)
	if err != nil {
		return err
	}
	s.printMatches(s.f.IO.Out, files)
	if s.f.JSON && len(files) > 0 { // else the error, as JSON
		if err := s.f.printJSON(QueryResult{Matches: newMatches(files), ByBackupStatus: countByStatus(files), Batch: batch}); err != nil {
			return err
		}
	}
	s.log.Info("query done", append([]any{"matches", len(files)}, statusAttrs(countByStatus(files))...)...)
	if len(files) == 0 {
		return notFound()
	}
	if batch != nil && batch.Missing > 0 {
		return withCode(ExitPartial, batchMissing(batch))
	}
	return nil
}
