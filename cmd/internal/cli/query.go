package cli

import (
	"context"

	"github.com/spf13/cobra"
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
		Example: searchExamples("query-media-file"),
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.BatchFile = args[0]
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return queryRun(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	addProfileFlags(cmd)
	return cmd
}

func queryRun(ctx context.Context, opts *QueryOptions) (err error) {
	s, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() { err = s.close(err) }()
	p := s.newMatchPrinter(s.f.IO.Out, s.f.JSON)
	batch, err := s.find(ctx, p.print)
	if err != nil {
		return err
	}
	if err := s.record("reporting", "query done", append([]any{"matches", p.n}, p.countAttrs()...)...); err != nil {
		return err
	}
	if p.n == 0 {
		return s.notFound()
	}
	if err := p.end(batch); err != nil {
		return err
	}
	if batch != nil && batch.Missing > 0 {
		return withCode(ExitPartial, batchMissing(batch))
	}
	return nil
}
