package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRecoveryCmds returns the recovery commands: query, restore, delete.
func newRecoveryCmds(f *Factory) []*cobra.Command {
	var out []*cobra.Command
	for _, name := range []string{"query", "restore", "delete"} {
		out = append(out, &cobra.Command{
			Use:    name,
			Short:  "(not implemented yet)",
			Hidden: true,
			RunE:   func(*cobra.Command, []string) error { return errors.New(name + " is not implemented yet") },
		})
	}
	return out
}
