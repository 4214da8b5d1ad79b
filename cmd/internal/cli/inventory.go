package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/backup"
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
version (list=allimages), every older version (prop=imageinfo), every
revision-deleted old version whose bytes the login can read (downloaded once
through Special:RevisionDelete to learn its sha1), and every deleted version
(list=filearchive), with its delete date from the deletion log where the log
makes it certain.

New versions are recorded with backup status "pending"; running it again adds
nothing already known and records each changed field in the history.

Deleted versions are listed whatever the login. When the credentials cannot
read their bytes (no main-account web_user), they are recorded as
"unreadable", with the right they need; once the credentials allow it,
inventory and backup make them pending again. What cannot be covered is
never left out silently: the command ends with a WARNING line for each class
of versions it could not cover (and lists them under "warnings" in --json).`,
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
	Wiki        string                  `json:"wiki"`
	Seen        int                     `json:"seen"`
	Added       int                     `json:"added"`
	Changed     int                     `json:"changed"`
	Unchanged   int                     `json:"unchanged"`
	Deleted     int                     `json:"deleted"`
	Hidden      int                     `json:"hidden"`
	HiddenRead  int                     `json:"hidden_read"`
	Dated       int                     `json:"dated"`
	Requeued    int64                   `json:"requeued"`
	NotRecorded []inventory.NotRecorded `json:"not_recorded"`
	Warnings    []Warning               `json:"warnings"`
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
	// Versions unreadable before: pending again if the credentials now allow.
	requeued, err := backup.Recheck(ctx, w.Store, w.Client, w.ID)
	if err != nil {
		return fmt.Errorf("inventory of %s: %w", w.Name, err)
	}
	iopts := inventory.Options{
		WikiID:     w.ID,
		Containers: containers(w.Wiki),
		Deleted:    !opts.NoDeleted,
		Progress: func(st inventory.Stats) {
			if !f.JSON {
				fmt.Fprintf(f.IO.ErrOut, "inventory %s: %s seen, %d new, %d changed\n", w.Name, count(st.Seen, "version"), st.Added, st.Changed)
			}
		},
	}
	if err := w.Client.CanReadDeleted(); err != nil {
		iopts.DeletedUnreadable = err.Error()
	}
	st, err := inventory.Run(ctx, w.Client, w.Store, iopts)
	if err != nil && ctx.Err() == nil {
		m.Failed(metrics.CommandInventory, w.Name, err)
	}
	if errors.Is(err, mediawiki.ErrPermission) {
		who := "the login " + strconv.Quote(w.User)
		if w.User == "" {
			who = "an anonymous session (no user in the config)"
		}
		return fmt.Errorf("inventory of %s: %w\nthe wiki refused %s: give it the rights the README lists (deletedhistory for deleted files), or pass --no-deleted", w.Name, err, who)
	}
	if err != nil {
		return fmt.Errorf("inventory of %s (the versions recorded so far are kept; run it again): %w", w.Name, err)
	}
	recordSuccess(ctx, log, w.Store, w.ID, w.Name, metrics.CommandInventory, started)
	warnings := notRecordedWarnings(w.Name, st.NotRecorded)
	unreadable, err := unreadableWarnings(ctx, w.Store, w.ID, w.Name)
	if err != nil {
		return err
	}
	warnings = append(warnings, unreadable...)
	if opts.NoDeleted {
		warnings = append(warnings, Warning{Wiki: w.Name, What: "deleted versions not listed", Reason: "--no-deleted"})
	}
	if f.JSON {
		res := InventoryResult{Wiki: w.Name, Seen: st.Seen, Added: st.Added, Changed: st.Changed,
			Unchanged: st.Unchanged, Deleted: st.Deleted, Hidden: st.Hidden, HiddenRead: st.HiddenRead, Dated: st.Dated,
			Requeued: requeued, NotRecorded: st.NotRecorded, Warnings: warnings}
		if res.NotRecorded == nil {
			res.NotRecorded = []inventory.NotRecorded{}
		}
		if res.Warnings == nil {
			res.Warnings = []Warning{}
		}
		return f.printJSON(res)
	}
	if requeued > 0 {
		fmt.Fprintf(f.IO.ErrOut, "%s: the credentials now read what was unreadable: %s pending again\n", w.Name, count(requeued, "version"))
	}
	fmt.Fprintf(f.IO.Out, "%s: %s (%d deleted, %d of %d revision-deleted read), %d new, %d changed, %d unchanged; %s dated from the deletion log\n",
		w.Name, count(st.Seen, "version"), st.Deleted, st.HiddenRead, st.Hidden, st.Added, st.Changed, st.Unchanged,
		count(st.Dated, "deleted version"))
	printWarnings(f.IO.Out, warnings)
	return nil
}
