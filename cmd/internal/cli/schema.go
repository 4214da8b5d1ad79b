package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// SchemaOptions configures `schema apply`.
type SchemaOptions struct {
	F *Factory
}

func newSchemaCmd(f *Factory, runF func(context.Context, *SchemaOptions) error) *cobra.Command {
	opts := &SchemaOptions{F: f}
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Manage the MariaDB metadata schema",
	}
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Create or migrate the metadata schema (idempotent)",
		Long: `Apply every schema migration the database does not have yet.

Migrations are versioned .sql files built into the binary. Running apply on an
up-to-date database does nothing, and concurrent runs wait for each other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return schemaApplyRun(cmd.Context(), opts)
		},
	}
	cmd.AddCommand(apply)
	return cmd
}

// SchemaResult is what `schema apply --json` prints.
type SchemaResult struct {
	Applied []string `json:"applied"` // the migrations applied, e.g. 0003_backup_states
}

func schemaApplyRun(ctx context.Context, opts *SchemaOptions) error {
	s, err := opts.F.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	if opts.F.JSON {
		if applied == nil {
			applied = []string{}
		}
		return opts.F.printJSON(SchemaResult{Applied: applied})
	}
	if len(applied) == 0 {
		fmt.Fprintln(opts.F.IO.Out, "schema is up to date")
	}
	for _, m := range applied {
		fmt.Fprintf(opts.F.IO.Out, "applied %s\n", m)
	}
	return nil
}
