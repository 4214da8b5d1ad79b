package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

// UpdateOptions configures `update` (issue: follow every change of a wiki).
type UpdateOptions struct {
	F *Factory
}

func newUpdateCmd(f *Factory, runF func(context.Context, *UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{F: f}
	return &cobra.Command{
		Use:    "update --wiki NAME [--follow]",
		Short:  "Apply the wiki's upload, delete and move log to the metadata",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return errors.New("update is not implemented yet")
		},
	}
}
