package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/config"
)

// MainAs runs one recovery command ("query", "restore" or "delete") as a
// binary of its own called name (query-media-file, ...): the same command
// as `mediabackups query|restore|delete`, with --help written for name. It
// returns the exit code, as Main does.
func MainAs(name, command string, args []string, in io.Reader, out, errOut io.Writer) ExitCode {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.PersistentFlags().StringVar(&f.ConfigPath, "config", "", "configuration file (default $"+config.EnvPath+" or "+config.DefaultPath+")")
	cmd.PersistentFlags().BoolVar(&f.JSON, "json", false, "print results as JSON (for scripts)")
	cmd.PersistentFlags().BoolVarP(&f.Verbose, "verbose", "v", false, "log more")
	cmd.SetIn(in)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(ExitUsage, fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath()))
	})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case ctx.Err() != nil:
		code = ExitCancelled
	}
	if f.JSON {
		json.NewEncoder(out).Encode(map[string]any{"error": err.Error(), "exit_code": code})
	}
	fmt.Fprintf(errOut, "%s: %v\n", name, err)
	return code
}
