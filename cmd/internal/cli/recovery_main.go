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
	var cmd *cobra.Command
	switch command {
	case "query":
		cmd = newQueryCmd(f, nil)
	case "restore":
		cmd = newRestoreCmd(f, nil)
	case "delete":
		cmd = newDeleteCmd(f, nil)
	default:
		fmt.Fprintf(errOut, "%s: unknown recovery command %q\n", name, command)
		return ExitUsage
	}
	cmd.Use = name + " [flags] [FILE]"
	addGlobalFlags(f, cmd)
	usageErrors(cmd)
	return execute(f, cmd, name, args)
}
