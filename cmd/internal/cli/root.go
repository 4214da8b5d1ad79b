// Package cli holds the mediabackups commands: each is an Options struct,
// a cobra command that fills it from flags, and a run function that takes a
// context. Only this package knows about cobra and terminals.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/config"
)

// ExitCode is a documented process exit status.
type ExitCode int

// Exit codes, the same for every command.
const (
	ExitOK        ExitCode = 0
	ExitError     ExitCode = 1   // the command failed; the message says why
	ExitUsage     ExitCode = 2   // bad flags or arguments
	ExitPartial   ExitCode = 3   // finished, but some files failed (see the log / `status`)
	ExitNotFound  ExitCode = 4   // nothing matched the search
	ExitAborted   ExitCode = 5   // the operator answered no
	ExitProdCheck ExitCode = 6   // production still serves a file that was to be deleted
	ExitCancelled ExitCode = 130 // interrupted (SIGINT/SIGTERM); work done so far is recorded
)

// exitError carries an exit code through cobra.
type exitError struct {
	code ExitCode
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code ExitCode, err error) error { return &exitError{code, err} }

// resultPrinted marks the error of a command that printed its --json
// result before it failed (audit's exit 3): execute then prints no
// ErrorResult, so that the output stays one JSON document.
type resultPrinted struct{ error }

func (e resultPrinted) Unwrap() error { return e.error }

func printedResult(err error) error { return resultPrinted{err} }

// IO is where a command reads and writes.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Factory builds what commands need, on demand: --help and flag errors never
// read the config or open a connection.
type Factory struct {
	IO         IO
	ConfigPath string
	JSON       bool
	Verbose    bool

	cfg *config.Config
}

// Config loads the configuration once.
func (f *Factory) Config() (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	c, err := config.Load(config.Path(f.ConfigPath))
	if err != nil {
		return nil, err
	}
	f.cfg = c
	return c, nil
}

// Logger writes structured logs to the error stream.
func (f *Factory) Logger() *slog.Logger {
	level := slog.LevelInfo
	if f.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level}))
}

// printJSON writes v as indented JSON to the output stream.
func (f *Factory) printJSON(v any) error {
	enc := json.NewEncoder(f.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// NewRootCmd returns the mediabackups command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mediabackups",
		Short: "Back up and recover the media files of MediaWiki wikis",
		Long: `mediabackups backs up every version of every media file of MediaWiki wikis
into several MinIO servers (sharded by sha256), with the metadata in MariaDB.

A typical first run against a new database:

  mediabackups schema apply                 # create or migrate the MariaDB schema
  mediabackups inventory --wiki testwiki    # list every file version as pending
  mediabackups backup --wiki testwiki       # back up everything pending
  mediabackups status --wiki testwiki       # what is backed up, and where
  mediabackups update --wiki testwiki --follow   # then follow the wiki's log
  mediabackups verify --sample 0.05         # daily: read back a twentieth of the objects

For a bad day: query-media-file, restore-media-file and delete-media-file
(also 'mediabackups query|restore|delete').

The configuration is read from --config, else $` + config.EnvPath + `, else
` + config.DefaultPath + `.`,
	}
	addGlobalFlags(f, root)
	root.AddCommand(
		newSchemaCmd(f, nil),
		newInventoryCmd(f, nil),
		newBackupCmd(f, nil),
		newStatusCmd(f, nil),
		newMismatchesCmd(f, nil),
		newShardsCmd(f, nil),
		newRebalanceCmd(f, nil),
		newRecoverServerCmd(f, nil),
		newRekeyCmd(f, nil),
		newUpdateCmd(f, nil),
		newVerifyCmd(f, nil),
		newAuditCmd(f, nil),
		newBenchCmd(f),
	)
	root.AddCommand(newRecoveryCmds(f)...)
	root.SetHelpCommand(newHelpCmd())
	root.InitDefaultCompletionCmd() // now, so that usageErrors covers it too
	usageErrors(root)
	return root
}

// usageErrors makes every mistake in the words of a command line a usage
// error (exit 2), for cmd and every command under it: an unknown command
// (cobra would print help and exit 0 for a command that only groups
// others, and exit 1 at the root), and too many or unexpected arguments.
func usageErrors(cmd *cobra.Command) {
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return unknownCommand(c, args[0])
		}
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return withCode(ExitUsage, fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath()))
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		usageErrors(sub)
	}
}

// unknownCommand is the usage error of a word that names no command of
// parent, with the commands it might have meant.
func unknownCommand(parent *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, parent.CommandPath())
	parent.SuggestionsMinimumDistance = 2
	if sug := parent.SuggestionsFor(word); len(sug) > 0 {
		msg += "; did you mean " + strings.Join(sug, " or ") + "?"
	}
	return withCode(ExitUsage, fmt.Errorf("%s\nRun '%s --help' for usage.", msg, parent.CommandPath()))
}

// newHelpCmd is `help [command]`: cobra's own prints "Unknown help topic"
// and exits 0 for a command that does not exist.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cmd := c.Root()
			for _, word := range args {
				next := findSub(cmd, word)
				if next == nil {
					return unknownCommand(cmd, word)
				}
				cmd = next
			}
			return cmd.Help()
		},
	}
}

// findSub returns the subcommand of cmd called word (or one of its
// aliases), nil if there is none.
func findSub(cmd *cobra.Command, word string) *cobra.Command {
	for _, sub := range cmd.Commands() {
		if sub.Name() == word || sub.HasAlias(word) {
			return sub
		}
	}
	return nil
}

// newRecoveryCmds returns the recovery commands: query, restore, delete.
func newRecoveryCmds(f *Factory) []*cobra.Command {
	return []*cobra.Command{newQueryCmd(f, nil), newRestoreCmd(f, nil), newDeleteCmd(f, nil)}
}

// Main runs the command line args and returns the exit code. SIGINT and
// SIGTERM cancel the context: commands finish or roll back the current step
// and return ExitCancelled.
func Main(args []string, in io.Reader, out, errOut io.Writer) ExitCode {
	f := &Factory{IO: IO{In: in, Out: out, ErrOut: errOut}}
	return execute(f, NewRootCmd(f), "mediabackups", args)
}

// addGlobalFlags adds the flags every command line has, and the usage
// error handling, to cmd (the root of the command tree).
func addGlobalFlags(f *Factory, cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.ConfigPath, "config", "", "configuration file (default $"+config.EnvPath+" or "+config.DefaultPath+")")
	cmd.PersistentFlags().BoolVar(&f.JSON, "json", false, "print results as JSON (for scripts)")
	cmd.PersistentFlags().BoolVarP(&f.Verbose, "verbose", "v", false, "log more")
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(ExitUsage, fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath()))
	})
}

// execute runs cmd with args under a context that SIGINT and SIGTERM
// cancel, reports an error as name's (and as JSON with --json), and maps it
// to its exit code.
func execute(f *Factory, cmd *cobra.Command, name string, args []string) ExitCode {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if !f.JSON {
		// Parsing may have stopped at a bad word before it reached
		// --json: the error is still for a script.
		f.JSON = wantsJSON(args)
	}
	code := ExitError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case ctx.Err() != nil:
		code = ExitCancelled
	}
	if code == ExitCancelled {
		fmt.Fprintf(f.IO.ErrOut, "%s: interrupted; the work done so far is recorded\n", name)
	}
	if rp := (resultPrinted{}); f.JSON && !errors.As(err, &rp) {
		json.NewEncoder(f.IO.Out).Encode(ErrorResult{Error: err.Error(), ExitCode: code})
	}
	fmt.Fprintf(f.IO.ErrOut, "%s: %v\n", name, err)
	return code
}

// wantsJSON reports whether args ask for --json (before a "--" that ends
// the flags).
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--json":
			return true
		case strings.HasPrefix(a, "--json="):
			v, err := strconv.ParseBool(strings.TrimPrefix(a, "--json="))
			return err == nil && v
		}
	}
	return false
}
