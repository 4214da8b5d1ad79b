package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metrics"
	"github.com/mediabackups/mediabackups/update"
)

// UpdateOptions configures `update`.
type UpdateOptions struct {
	F        *Factory
	Wiki     string
	Follow   bool
	Interval time.Duration
	Since    string // RFC 3339; only for a wiki without a cursor
	Metrics  MetricsOptions
}

func newUpdateCmd(f *Factory, runF func(context.Context, *UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "update --wiki NAME [--follow] [--interval 60s]",
		Short: "Apply the wiki's upload, delete and move log to the metadata",
		Long: `Read the wiki's file log (list=logevents) from where the last run stopped and
apply every event: uploads, overwrites and reverts add a version pending backup
and archive the previous one; deletions, undeletions, revision deletions and
moves change the status, location and title of the versions concerned. Each
change is written to the history with the source "log:<logid>".

Each event's title is read again from the API and the metadata made to match
it, so reading an event twice changes nothing. Events are applied in
stretches of up to 64, each in one transaction with the position in the log
that follows it (stored per wiki in MariaDB), so an interrupted run repeats
nothing that was committed. A wiki that has no position yet is read from
--since, else from the beginning of its log.

Without --follow it catches up and exits. With --follow it reads the log again
every --interval until SIGINT or SIGTERM, which end it cleanly (exit 0) after
the stretch being applied. Run 'mediabackups backup' to back up what it added.

Monitoring: --metrics-listen serves Prometheus metrics at /metrics (for
--follow), --metrics-file writes them for node_exporter's textfile collector
(every 30s and at the end), among them how far the metadata is behind the
wiki's log (mediabackups_update_caught_up_timestamp_seconds). See the README,
"Monitoring".`,
		Example: `  mediabackups update --wiki testwiki
  mediabackups update --wiki commonswiki --follow --interval 60s
  mediabackups update --wiki commonswiki --since 2025-01-01T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Wiki == "" {
				return withCode(ExitUsage, fmt.Errorf("--wiki is required"))
			}
			if opts.Since != "" {
				if _, err := time.Parse(time.RFC3339, opts.Since); err != nil {
					return withCode(ExitUsage, fmt.Errorf("--since %q: want an RFC 3339 time such as 2025-01-01T00:00:00Z", opts.Since))
				}
			}
			if err := opts.Metrics.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return updateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name, as in the config")
	cmd.Flags().BoolVar(&opts.Follow, "follow", false, "keep reading the log until interrupted")
	durationFlag(cmd.Flags(), &opts.Interval, "interval", 60*time.Second, time.Second, 24*time.Hour, "with --follow: time between two reads of the log")
	cmd.Flags().StringVar(&opts.Since, "since", "", "for a wiki never updated: read the log from this time (RFC 3339), not from its beginning")
	addMetricsFlags(cmd, &opts.Metrics, true)
	addProfileFlags(cmd)
	return cmd
}

// UpdateResult is what `update --json` prints: the wiki and update.Stats.
type UpdateResult struct {
	Wiki string `json:"wiki"`
	update.Stats
}

func updateRun(ctx context.Context, opts *UpdateOptions) error {
	f := opts.F
	w, err := f.openWiki(ctx, opts.Wiki)
	if err != nil {
		return err
	}
	defer w.Close()
	log := f.Logger()
	m := metrics.New(metrics.CommandUpdate, log)
	m.WatchMetadata(ctx, w.Store, metrics.Wiki{Name: w.Name, ID: w.ID})
	m.InitErrors(metrics.CommandUpdate, w.Name)
	stopMetrics, err := opts.Metrics.start(log, m)
	if err != nil {
		return err
	}
	defer stopMetrics()
	uo := update.Options{
		WikiID:     w.ID,
		Containers: containers(w.Wiki),
		Deleted:    true,
		Logger:     log,
		RoundDone: func(ctx context.Context, started time.Time, err error) {
			if err != nil {
				m.Failed(metrics.CommandUpdate, w.Name, err)
				return
			}
			recordSuccess(ctx, log, w.Store, w.ID, w.Name, metrics.CommandUpdate, started)
		},
	}
	if err := w.Client.CanReadDeleted(); err != nil {
		uo.DeletedUnreadable = err.Error()
	}
	if opts.Since != "" {
		uo.Since, _ = time.Parse(time.RFC3339, opts.Since)
	}
	var st update.Stats
	if opts.Follow {
		st, err = update.Follow(ctx, w.Client, w.Store, uo, opts.Interval)
	} else {
		st, err = update.Run(ctx, w.Client, w.Store, uo)
	}
	if err != nil {
		return fmt.Errorf("update of %s (the events applied so far are recorded; run it again): %w", w.Name, err)
	}
	if f.JSON {
		return f.printJSON(UpdateResult{Wiki: w.Name, Stats: st})
	}
	fmt.Fprintf(f.IO.Out, "%s: %s (%d already applied), %s added, %d changed, %d renamed; %s unreadable\n",
		w.Name, count(st.Events, "log event"), st.Skipped, count(st.Added, "version"), st.Changed, st.Renamed, count(st.Unreadable, "hidden version"))
	if st.DeletedRefused != "" {
		printWarnings(f.IO.Out, []Warning{{Wiki: w.Name, What: "deletions not followed: the wiki refuses to list deleted versions to this login",
			Reason: "needs the deletedhistory right: " + st.DeletedRefused}})
	}
	return nil
}
