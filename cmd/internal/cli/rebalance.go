package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mediabackups/mediabackups/rebalance"
)

// RebalanceOptions configures `rebalance`.
type RebalanceOptions struct {
	F        *Factory
	Timeout  time.Duration
	Execute  bool
	MaxBytes int64
	Parallel int
	Wikis    []string
}

func newRebalanceCmd(f *Factory, runF func(context.Context, *RebalanceOptions) error) *cobra.Command {
	opts := &RebalanceOptions{F: f}
	cmd := &cobra.Command{
		Use:   "rebalance [--execute] [--max-bytes N] [--parallel N] [--wiki NAME]...",
		Short: "Move stored objects to their home server (a dry run unless --execute)",
		Long: `Move every stored object that is not on its home server (the server whose
sha256 range holds it; see 'mediabackups shards') to it: objects a backup
stored on a fallback while their home was readonly or down, and objects
whose range moved to another server when servers were added.

Without --execute it is a dry run: it prints the plan, objects and bytes per
source -> target, and changes nothing. Objects whose home is readonly or down
wait (they move once it is active); objects recorded on a server that is down
or no longer configured cannot be read and are listed as unreachable.

Each move copies the object (streamed GET from its server, PUT to its home
with the recorded sha256 checked by the server), reads it back from the home
and compares, then records the new location in the metadata, then removes the
old copy. Moves are written in a journal first, so a rebalance killed at any
point leaves every version readable through its recorded location; the next
run finishes or undoes what it left, and continues. Backups and restores may
run meanwhile. One rebalance (or rekey) runs at a time.

Uses the storage.generation credentials. Exit codes: 0 done (or planned),
3 some objects could not be moved (listed; they stay where they are),
130 interrupted (run it again to continue).`,
		Example: `  mediabackups rebalance                       # the plan
  mediabackups rebalance --execute --parallel 8
  mediabackups rebalance --execute --max-bytes 500GiB   # a night's share`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return rebalanceRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Execute, "execute", false, "move the objects (default: only print the plan)")
	cmd.Flags().Var((*byteSize)(&opts.MaxBytes), "max-bytes", "stop scheduling moves after this many bytes (e.g. 500GiB; 0: no limit)")
	intFlag(cmd.Flags(), &opts.Parallel, "parallel", 4, 1, maxWorkers, "objects moved at once")
	cmd.Flags().StringArrayVar(&opts.Wikis, "wiki", nil, "only the objects of this wiki (repeatable; default: every wiki)")
	serverTimeoutFlag(cmd.Flags(), &opts.Timeout, "the object fails")
	return cmd
}

func rebalanceRun(ctx context.Context, opts *RebalanceOptions) error {
	f := opts.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	s, servers, err := f.storeAndServers(ctx, opts.Timeout)
	if err != nil {
		return err
	}
	defer s.Close()
	log := f.Logger()
	if opts.Execute {
		release, err := s.LockMoves(ctx)
		if err != nil {
			return err
		}
		defer release()
		for _, srv := range servers.Writable() {
			if err := srv.EnsureBucket(ctx); err != nil {
				return fmt.Errorf("bucket %s on %s: %w", c.Storage.Bucket, srv.Endpoint(), err)
			}
		}
	} else {
		fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing is moved; run again with --execute to move."))
	}
	for _, w := range opts.Wikis {
		if _, err := s.WikiID(ctx, w); err != nil {
			return withCode(ExitUsage, fmt.Errorf("--wiki %s: no such wiki in the metadata", w))
		}
	}
	rep, err := rebalance.Run(ctx, s, rebalance.Options{
		Servers: servers, Execute: opts.Execute, MaxBytes: opts.MaxBytes, Parallel: opts.Parallel, Wikis: opts.Wikis,
		Host: newWorkerID(), Log: log,
	})
	if rep != nil {
		if f.JSON {
			if perr := f.printJSON(rep); perr != nil && err == nil {
				err = perr
			}
		} else {
			printRebalance(f.IO.Out, rep)
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return withCode(ExitCancelled, err)
	case err != nil:
		return err
	case len(rep.Failed) > 0:
		return withCode(ExitPartial, fmt.Errorf("%d objects could not be moved (see the errors above): they stay where they are; run rebalance again once the cause is fixed", len(rep.Failed)))
	}
	return nil
}

// printRebalance writes the plan and the outcome of a rebalance as text.
func printRebalance(w io.Writer, rep *rebalance.Report) {
	table := func(title string, fs []rebalance.Flow) {
		n, b := rebalance.Total(fs)
		fmt.Fprintf(w, "%s: %d objects, %s\n", title, n, humanBytes(b))
		if len(fs) == 0 {
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  FROM\tTO\tOBJECTS\tBYTES")
		for _, fl := range fs {
			line := fmt.Sprintf("  %s\t%s\t%d\t%s", fl.From, fl.To, fl.Objects, humanBytes(fl.Bytes))
			if fl.Why != "" {
				line += "\t(" + fl.Why + ")"
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	if r := rep.Recovered; r.Finished+r.Undone+len(r.Left) > 0 {
		fmt.Fprintf(w, "moves left by an earlier run: %d finished, %d undone, %d still to clean\n", r.Finished, r.Undone, len(r.Left))
	}
	table("to move", rep.Planned)
	if !rep.DryRun {
		table("moved", rep.Moved)
		if len(rep.Deferred) > 0 {
			table("left for a later run (--max-bytes or interrupted)", rep.Deferred)
		}
		if len(rep.Failed) > 0 {
			fmt.Fprintf(w, "failed: %d objects (they stay where they are)\n", len(rep.Failed))
			for _, fl := range rep.Failed {
				fmt.Fprintf(w, "  %s object %d: %s\n", fl.Wiki, fl.ObjectID, fl.Error) // the error names the key and servers
			}
		}
		if rep.SourcesLeft > 0 {
			fmt.Fprintf(w, "%d old copies could not be removed yet: the next run removes them\n", rep.SourcesLeft)
		}
	}
	if len(rep.Waiting) > 0 {
		table("waiting for their home to be active", rep.Waiting)
	}
	if len(rep.Unreachable) > 0 {
		table("unreachable (their server is down or not configured)", rep.Unreachable)
	}
}

// byteSize is a flag value of bytes: a number with an optional binary
// (KiB, MiB, GiB, TiB) or decimal (KB, MB, GB, TB) unit.
type byteSize int64

var _ pflag.Value = (*byteSize)(nil)

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "bytes" }

func (b *byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// parseByteSize reads "123", "10GiB", "1.5TB" and the like.
func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}, {"", 1},
	}
	t := strings.TrimSpace(s)
	for _, u := range units {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || !(v >= 0) || v*u.mult > 1<<62 { // !(v >= 0) is also true for NaN
			return 0, fmt.Errorf("%q is not a size: write bytes, or a number with KiB, MiB, GiB, TiB (or KB, MB, GB, TB)", s)
		}
		return int64(v * u.mult), nil
	}
	return 0, fmt.Errorf("%q is not a size", s)
}
