package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// MainAs runs one recovery command ("query", "restore" or "delete") as a
// binary of its own called name (query-media-file, ...): the same command
// as `mediabackups query|restore|delete`, with --help written for name. It
// returns the exit code, as Main does.
func MainAs(name, command string, args []string, in io.Reader, out, errOut io.Writer) ExitCode {
	f := &Factory{IO: IO{In: in, Out: out, ErrOut: errOut}}
	cmd, err := recoveryBinaryCmd(f, name, command)
	if err != nil {
		fmt.Fprintf(errOut, "%s: %v\n", name, err)
		return ExitUsage
	}
	return execute(f, cmd, name, args)
}

// recoveryBinaryCmd is the command tree MainAs runs for binary name: the
// recovery command ("query", "restore" or "delete") with the global flags,
// its usage line written for name. The man pages are built from it too.
func recoveryBinaryCmd(f *Factory, name, command string) (*cobra.Command, error) {
	var cmd *cobra.Command
	switch command {
	case "query":
		cmd = newQueryCmd(f, nil)
	case "restore":
		cmd = newRestoreCmd(f, nil)
	case "delete":
		cmd = newDeleteCmd(f, nil)
	default:
		return nil, fmt.Errorf("unknown recovery command %q", command)
	}
	cmd.Use = name + " [flags] [FILE]"
	addGlobalFlags(f, cmd)
	usageErrors(cmd)
	return cmd, nil
}
