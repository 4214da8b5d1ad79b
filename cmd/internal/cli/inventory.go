package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/inventory"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metrics"
)

// InventoryOptions configures `inventory`.
type InventoryOptions struct {
	F         *Factory
	Wiki      string
	NoDeleted bool
	Metrics   MetricsOptions
}

func newInventoryCmd(f *Factory, runF func(context.Context, *InventoryOptions) error) *cobra.Command {
	opts := &InventoryOptions{F: f}
	cmd := &cobra.Command{
		Use:   "inventory --wiki NAME",
		Short: "List every file version of a wiki into the metadata as pending backups",
		Long: `Pull the full list of a wiki's files through its Action API: every current
version (list=allimages), every older version (prop=imageinfo) and, when the
wiki's login may see them, every deleted version (list=filearchive).

New versions are recorded with backup status "pending"; running it again adds
nothing already known and records each changed field in the history.`,
		Example: `  mediabackups inventory --wiki testwiki
  mediabackups inventory --wiki testwiki --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Wiki == "" {
				return withCode(ExitUsage, fmt.Errorf("--wiki is required"))
			}
			if err := opts.Metrics.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return inventoryRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name, as in the config")
	cmd.Flags().BoolVar(&opts.NoDeleted, "no-deleted", false, "do not list deleted versions")
	addMetricsFlags(cmd, &opts.Metrics, false)
	addProfileFlags(cmd)
	return cmd
}

// InventoryResult is what `inventory --json` prints.
type InventoryResult struct {
	Wiki      string `json:"wiki"`
	Seen      int    `json:"seen"`
	Added     int    `json:"added"`
	Changed   int    `json:"changed"`
	Unchanged int    `json:"unchanged"`
	Deleted   int    `json:"deleted"`
	Hidden    int    `json:"hidden"`
}

func inventoryRun(ctx context.Context, opts *InventoryOptions) error {
	f := opts.F
	w, err := f.openWiki(ctx, opts.Wiki)
	if err != nil {
		return err
	}
	defer w.Close()
	log := f.Logger()
	m := metrics.New(metrics.CommandInventory, log)
	m.WatchMetadata(ctx, w.Store, metrics.Wiki{Name: w.Name, ID: w.ID})
	m.InitErrors(metrics.CommandInventory, w.Name)
	stopMetrics, err := opts.Metrics.start(log, m)
	if err != nil {
		return err
	}
	defer stopMetrics()
	started := time.Now()
	st, err := inventory.Run(ctx, w.Client, w.Store, inventory.Options{
		WikiID:     w.ID,
		Containers: containers(w.Wiki),
		Deleted:    !opts.NoDeleted && w.User != "",
		Progress: func(st inventory.Stats) {
			if !f.JSON {
				fmt.Fprintf(f.IO.ErrOut, "inventory %s: %d versions seen, %d new, %d changed\n", w.Name, st.Seen, st.Added, st.Changed)
			}
		},
	})
	if err != nil && ctx.Err() == nil {
		m.Failed(metrics.CommandInventory, w.Name, err)
	}
	if errors.Is(err, mediawiki.ErrPermission) {
		return fmt.Errorf("inventory of %s: %w\nthe wiki refused the login %q: give it the rights the README lists (deletedhistory for deleted files), or pass --no-deleted", w.Name, err, w.User)
	}
	if err != nil {
		return fmt.Errorf("inventory of %s (the versions recorded so far are kept; run it again): %w", w.Name, err)
	}
	recordSuccess(ctx, log, w.Store, w.ID, w.Name, metrics.CommandInventory, started)
	if f.JSON {
		return f.printJSON(InventoryResult{Wiki: w.Name, Seen: st.Seen, Added: st.Added, Changed: st.Changed,
			Unchanged: st.Unchanged, Deleted: st.Deleted, Hidden: st.Hidden})
	}
	fmt.Fprintf(f.IO.Out, "%s: %d versions (%d deleted), %d new, %d changed, %d unchanged; %d hidden versions skipped\n",
		w.Name, st.Seen, st.Deleted, st.Added, st.Changed, st.Unchanged, st.Hidden)
	return nil
}
