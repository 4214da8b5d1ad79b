package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediabackups/mediabackups/metadata"
)

// MetadataReader is what the metrics read from the metadata database at
// every gather. Each call must be an index lookup of a row or two.
type MetadataReader interface {
	LastSuccess(ctx context.Context, wikiID int64, command string) (metadata.Success, error)
	OldestPending(ctx context.Context, wikiID int64) (time.Time, error)
	Cursor(ctx context.Context, wikiID int64) (metadata.LogCursor, error)
}

var _ MetadataReader = (*metadata.Store)(nil)

// Wiki is a wiki whose metadata a process watches.
type Wiki struct {
	Name string
	ID   int64
}

// gatherTimeout bounds the metadata reads of one gather.
const gatherTimeout = 10 * time.Second

// A watched is one value read from the metadata per wiki at every gather.
// ok false means that there is nothing to export (never happened).
type watched struct {
	desc *prometheus.Desc
	// commands are those that export it: one command per metric and
	// wiki, so that textfiles of several units never share a series.
	commands []string
	// byCommand: the labels are command and wiki, else wiki alone.
	byCommand bool
	read      func(ctx context.Context, r MetadataReader, command string, w Wiki) (v float64, ok bool, err error)
}

// watchedValues are the values read from the metadata, one table: the
// README's Monitoring section describes each.
var watchedValues = []watched{
	{
		desc: prometheus.NewDesc(Namespace+"_last_success_timestamp_seconds",
			"When the last successful run of the command for the wiki finished (Unix time), as recorded in the metadata "+
				"database by whichever process ran it. backup: ran until nothing was left to claim (failed files are counted apart); "+
				"update: one round read the log to its end; inventory: the whole list was read.",
			[]string{"command", "wiki"}, nil),
		commands:  []string{CommandInventory, CommandBackup, CommandUpdate},
		byCommand: true,
		read: func(ctx context.Context, r MetadataReader, command string, w Wiki) (float64, bool, error) {
			s, err := r.LastSuccess(ctx, w.ID, command)
			if errors.Is(err, metadata.ErrNotFound) {
				return 0, false, nil
			}
			if err != nil {
				return 0, false, err
			}
			return unix(s.Finished), true, nil
		},
	},
	{
		desc: prometheus.NewDesc(Namespace+"_oldest_pending_timestamp_seconds",
			"When the oldest file version of the wiki that is still pending backup was recorded (Unix time); "+
				"absent when none is pending. Its age is time() minus this.",
			[]string{"wiki"}, nil),
		commands: []string{CommandBackup},
		read: func(ctx context.Context, r MetadataReader, _ string, w Wiki) (float64, bool, error) {
			t, err := r.OldestPending(ctx, w.ID)
			if err != nil || t.IsZero() {
				return 0, false, err
			}
			return unix(t), true, nil
		},
	},
	{
		desc: prometheus.NewDesc(Namespace+"_update_caught_up_timestamp_seconds",
			"Every event of the wiki's log before this time (Unix time) is applied to the metadata: the later of the last "+
				"applied event's time and the start of the last update round that read the log to its end. "+
				"The update lag behind the wiki's log is time() minus this.",
			[]string{"wiki"}, nil),
		commands: []string{CommandUpdate},
		read: func(ctx context.Context, r MetadataReader, _ string, w Wiki) (float64, bool, error) {
			c, err := r.Cursor(ctx, w.ID)
			if err != nil {
				return 0, false, err
			}
			t := c.Timestamp
			s, err := r.LastSuccess(ctx, w.ID, CommandUpdate)
			switch {
			case errors.Is(err, metadata.ErrNotFound):
			case err != nil:
				return 0, false, err
			case s.Started.After(t):
				t = s.Started
			}
			if t.IsZero() {
				return 0, false, nil
			}
			return unix(t), true, nil
		},
	},
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// WatchMetadata adds, for each of wikis, the values this process's command
// exports from the metadata database, read through r at every gather under
// ctx (its cancellation is ignored, so that a last write after SIGTERM still
// reads them; each gather has its own 10 s timeout). The reads, all
// index lookups whatever the size of the wiki:
//
//   - last success: last_success by its primary key (wiki_id, command);
//   - oldest pending: the first row of the claim order, one entry of the
//     files_claim index (wiki_id, backup_status, lease_until, id);
//   - caught up: wiki_cursors by its primary key (wiki_id), and last success.
//
// A read that fails is logged and its series left out of that gather (in
// a textfile, the previous file stays).
func (m *Metrics) WatchMetadata(ctx context.Context, r MetadataReader, wikis ...Wiki) {
	var mine []watched
	for _, w := range watchedValues {
		for _, c := range w.commands {
			if c == m.command {
				mine = append(mine, w)
			}
		}
	}
	m.reg.MustRegister(&metadataCollector{ctx: context.WithoutCancel(ctx), m: m, r: r, wikis: wikis, values: mine})
}

type metadataCollector struct {
	ctx    context.Context
	m      *Metrics
	r      MetadataReader
	wikis  []Wiki
	values []watched
}

func (c *metadataCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range c.values {
		ch <- v.desc
	}
}

func (c *metadataCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(c.ctx, gatherTimeout)
	defer cancel()
	for _, w := range c.wikis {
		for _, v := range c.values {
			labels := []string{w.Name}
			if v.byCommand {
				labels = []string{c.m.command, w.Name}
			}
			val, ok, err := v.read(ctx, c.r, c.m.command, w)
			if err != nil {
				err = fmt.Errorf("metrics: read %s of wiki %s from the metadata: %w", v.desc, w.Name, err)
				c.m.log.Warn("metrics: a metadata read failed; its series is left out", "wiki", w.Name, "err", err)
				ch <- prometheus.NewInvalidMetric(v.desc, err)
				continue
			}
			if ok {
				ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, val, labels...)
			}
		}
	}
}
