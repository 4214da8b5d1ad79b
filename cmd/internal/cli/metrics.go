package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/metrics"
)

// MetricsOptions are the monitoring flags of a command (see the README's
// Monitoring section).
type MetricsOptions struct {
	Listen string // --metrics-listen: serve /metrics there while running
	File   string // --metrics-file: node_exporter textfile, rewritten while running
}

// metricsFileInterval is how often --metrics-file is rewritten while a
// command runs (and once more at its end).
const metricsFileInterval = 30 * time.Second

// addMetricsFlags adds --metrics-file and, for commands that can run for
// long, --metrics-listen.
func addMetricsFlags(cmd *cobra.Command, o *MetricsOptions, listen bool) {
	if listen {
		cmd.Flags().StringVar(&o.Listen, "metrics-listen", "",
			"serve Prometheus metrics at http://ADDR/metrics while running (ADDR as host:port, e.g. 127.0.0.1:9791)")
	}
	cmd.Flags().StringVar(&o.File, "metrics-file", "",
		"write Prometheus metrics to this file in node_exporter's textfile format (atomically: the name must end in .prom), "+
			fmt.Sprintf("every %s while running and at the end", metricsFileInterval))
}

// check validates the flags without touching anything.
func (o *MetricsOptions) check() error {
	if o.File != "" {
		if err := metrics.CheckTextfile(o.File); err != nil {
			return withCode(ExitUsage, fmt.Errorf("--metrics-file: %w", err))
		}
	}
	return nil
}

// start serves and writes m as the flags ask, and returns the function that
// ends both: it writes the file a last time, with the final values. It
// fails, before any work is done, when the address cannot be bound or the
// file cannot be written.
func (o *MetricsOptions) start(log *slog.Logger, m *metrics.Metrics) (stop func(), err error) {
	var (
		srv  *metrics.Server
		file *metrics.Textfile
	)
	stop = func() {
		if file != nil {
			if err := file.Stop(); err != nil {
				log.Warn("metrics: the last write of the metrics file failed", "err", err)
			}
		}
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			srv.Close(ctx)
			cancel()
		}
	}
	if o.Listen != "" {
		if srv, err = m.Serve(o.Listen); err != nil {
			return nil, fmt.Errorf("%w: give --metrics-listen a free host:port", err)
		}
		log.Info("serving metrics", "url", "http://"+srv.Addr()+"/metrics")
	}
	if o.File != "" {
		if file, err = m.KeepWriting(o.File, metricsFileInterval); err != nil {
			stop()
			return nil, fmt.Errorf("%w: --metrics-file must be in a directory this user can write (node_exporter's textfile directory)", err)
		}
	}
	return stop, nil
}

// enabled reports whether any metrics output was asked for.
func (o *MetricsOptions) enabled() bool { return o.Listen != "" || o.File != "" }

// recordSuccess records in the metadata that command succeeded for the
// wiki, for mediabackups_last_success_timestamp_seconds. A failure is
// logged, not returned: the work itself succeeded, and the age of the last
// recorded success is what the monitoring watches.
func recordSuccess(ctx context.Context, log *slog.Logger, s *metadata.Store, wikiID int64, wiki, command string, started time.Time) {
	if err := s.RecordSuccess(context.WithoutCancel(ctx), wikiID, command, started, time.Now(), hostname()); err != nil {
		log.Warn("could not record the successful run for monitoring", "wiki", wiki, "command", command, "err", err)
	}
}
