package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
	"github.com/mediabackups/mediabackups/sharding"
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
		Long: `Count the file versions of each wiki by backup status (every status, 0
included: pending, processing, backedup, duplicate, error, unavailable,
unreadable and gone), with the most frequent reasons of error, unavailable,
unreadable and gone (why they failed, or why they cannot be backed up), and
its objects and bytes by MinIO server, from the metadata.

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
			out = append(out, metadata.NewSummary(w.Name))
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
		if sum.Versions == 0 {
			fmt.Fprintln(f.IO.Out, "  no files yet: run `mediabackups inventory --wiki "+sum.Wiki+"`")
			continue
		}
		for _, st := range metadata.BackupStatuses {
			fmt.Fprintf(f.IO.Out, "  %-11s %d\n", st, sum.ByBackupStatus[string(st)])
			rs := sum.Reasons[string(st)]
			shown := int64(0)
			for _, r := range rs {
				fmt.Fprintf(f.IO.Out, "    %d: %s\n", r.Count, printable(oneLine(r.Reason)))
				shown += r.Count
			}
			if rest := sum.ByBackupStatus[string(st)] - shown; len(rs) > 0 && rest > 0 {
				fmt.Fprintf(f.IO.Out, "    %d: other reasons\n", rest)
			}
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

// oneLine shortens a reason to one line of at most 200 bytes.
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + " …"
	}
	return s
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

// ShardsOptions configures `shards`.
type ShardsOptions struct {
	F *Factory
}

func newShardsCmd(f *Factory, runF func(context.Context, *ShardsOptions) error) *cobra.Command {
	opts := &ShardsOptions{F: f}
	return &cobra.Command{
		Use:   "shards",
		Short: "Show which sha256 range each configured MinIO server receives",
		Long: `Show the sha256 prefix range that each configured endpoint receives for new
objects. Objects already stored stay where the metadata records them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			c, err := f.Config()
			if err != nil {
				return err
			}
			ranges, err := sharding.Ranges(len(c.Storage.Endpoints))
			if err != nil {
				return err
			}
			type row struct {
				Endpoint string `json:"endpoint"`
				First    string `json:"first"`
				Last     string `json:"last"`
			}
			var rows []row
			for i, r := range ranges {
				rows = append(rows, row{c.Storage.Endpoints[i], r.First, r.Last})
			}
			if f.JSON {
				return f.printJSON(rows)
			}
			for _, r := range rows {
				fmt.Fprintf(f.IO.Out, "%s\t%s..%s\n", r.Endpoint, r.First, r.Last)
			}
			return nil
		},
	}
}
