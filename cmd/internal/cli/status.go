package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
)

// StatusOptions configures `status`.
type StatusOptions struct {
	F       *Factory
	Wiki    string
	Metrics MetricsOptions
}

func newStatusCmd(f *Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{F: f}
	cmd := &cobra.Command{
		Use:   "status [--wiki NAME]",
		Short: "Count file versions by backup status, and objects by MinIO server",
		Long: `Count the file versions of each wiki by backup status, and its objects and
bytes by MinIO server, from the metadata.

It reads every row of the wikis it counts: at the size of Commons that takes
minutes. With --metrics-file it also writes the counts for Prometheus
(mediabackups_files, _files_bytes, _stored_objects, _stored_bytes): run it
from a timer, hourly say, not at every scrape.`,
		Example: `  mediabackups status --wiki testwiki
  mediabackups status --metrics-file /var/lib/prometheus/node-exporter/mediabackups-status.prom`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Metrics.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name (default: every configured wiki)")
	addMetricsFlags(cmd, &opts.Metrics, false)
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	f := opts.F
	if _, err := f.Config(); err != nil {
		return err
	}
	wikis, err := f.wikisToRun(opts.Wiki)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	var out []metadata.Summary
	for _, w := range wikis {
		id, err := s.WikiID(ctx, w.Name)
		if err != nil {
			out = append(out, metadata.Summary{Wiki: w.Name})
			continue
		}
		sum, err := s.Summarize(ctx, id, w.Name)
		if err != nil {
			return err
		}
		out = append(out, sum)
	}
	if opts.Metrics.File != "" {
		m := metrics.New(metrics.CommandStatus, f.Logger())
		m.SetSummaries(out)
		if err := m.WriteTextfile(opts.Metrics.File); err != nil {
			return err
		}
	}
	if f.JSON {
		return f.printJSON(out)
	}
	for _, sum := range out {
		fmt.Fprintf(f.IO.Out, "%s\n", sum.Wiki)
		if len(sum.ByBackupStatus) == 0 {
			fmt.Fprintln(f.IO.Out, "  no files yet: run `mediabackups inventory --wiki "+sum.Wiki+"`")
			continue
		}
		for _, st := range []string{"pending", "processing", "backedup", "duplicate", "error"} {
			fmt.Fprintf(f.IO.Out, "  %-10s %d\n", st, sum.ByBackupStatus[st])
		}
		if sum.SHA1Mismatches > 0 {
			fmt.Fprintf(f.IO.Out, "  sha1 mismatches: %d (see `mediabackups mismatches --wiki %s`)\n", sum.SHA1Mismatches, sum.Wiki)
		}
		for _, ep := range metadata.SortedKeys(sum.ObjectsByLocation) {
			fmt.Fprintf(f.IO.Out, "  objects on %s: %d (%s)\n", ep, sum.ObjectsByLocation[ep], humanBytes(sum.BytesByLocation[ep]))
		}
	}
	return nil
}

// MismatchesOptions configures `mismatches`.
type MismatchesOptions struct {
	F    *Factory
	Wiki string
}

func newMismatchesCmd(f *Factory, runF func(context.Context, *MismatchesOptions) error) *cobra.Command {
	opts := &MismatchesOptions{F: f}
	cmd := &cobra.Command{
		Use:   "mismatches --wiki NAME",
		Short: "List file versions whose downloaded sha1 differed from production's",
		Long: `List the file versions whose bytes, downloaded twice, did not have the sha1
production reports. They were backed up anyway (the bytes production served);
check them in production.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Wiki == "" {
				return withCode(ExitUsage, fmt.Errorf("--wiki is required"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return mismatchesRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name")
	return cmd
}

func mismatchesRun(ctx context.Context, opts *MismatchesOptions) error {
	f := opts.F
	s, err := f.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := s.WikiID(ctx, opts.Wiki)
	if err != nil {
		return err
	}
	files, err := s.List(ctx, metadata.Filter{WikiID: id, SHA1Mismatches: true})
	if err != nil {
		return err
	}
	type row struct {
		Title          string `json:"title"`
		UploadDate     string `json:"upload_date"`
		ProductionSHA1 string `json:"production_sha1"`
		DownloadedSHA1 string `json:"downloaded_sha1"`
		SHA256         string `json:"sha256"`
	}
	rows := []row{}
	for _, x := range files {
		rows = append(rows, row{x.Title, x.UploadDate.Format("2006-01-02 15:04:05"), x.SHA1, x.DownloadedSHA1, x.SHA256})
	}
	if f.JSON {
		return f.printJSON(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(f.IO.Out, "%s: no sha1 mismatches\n", opts.Wiki)
	}
	for _, r := range rows {
		fmt.Fprintf(f.IO.Out, "%s\t%s\tproduction %s\tdownloaded %s\n", r.Title, r.UploadDate, r.ProductionSHA1, r.DownloadedSHA1)
	}
	return nil
}
