package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newBenchCmd returns the benchmark command.
func newBenchCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "bench",
		Short:  "(not implemented yet)",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("bench is not implemented yet") },
	}
}
