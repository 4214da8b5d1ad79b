package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/sharding"
)

// ShardsOptions configures `shards`.
type ShardsOptions struct {
	F *Factory
}

// ShardRange is one server's range as `shards` prints it, in text and in
// --json.
type ShardRange struct {
	Index    int    `json:"index"`
	Endpoint string `json:"endpoint"`
	// First and Last are the inclusive range of the first 8 hex digits of
	// the sha256 of the objects that belong on this server (its home).
	First string `json:"first"`
	Last  string `json:"last"`
	State string `json:"state"`
	// ReceivesNew is where new objects of the range go: Endpoint itself
	// when it is active, else its fallback (the next active server in
	// shard order); null when no server is active.
	ReceivesNew *string `json:"receives_new"`
}

func newShardsCmd(f *Factory, runF func(context.Context, *ShardsOptions) error) *cobra.Command {
	opts := &ShardsOptions{F: f}
	return &cobra.Command{
		Use:   "shards",
		Short: "Show each MinIO server's sha256 range, its state, and where its new objects go",
		Long: `Show, for each endpoint of storage.endpoints (in shard order), the range of
the first 8 hex digits of the sha256 of the objects that belong on it (its
home), its state, and where new objects of that range go.

States (storage.endpoints entries may be {url: URL, state: STATE}):
  active     read and written (a plain URL is active)
  readonly   read, never written: new objects of its range go to its fallback
  down       never contacted: new objects of its range go to its fallback,
             and restores of the objects recorded on it fail at once

The fallback of a server that is not active is the next active server in
shard order after it, wrapping around from the last to the first. Objects
already stored stay where the metadata records them; 'mediabackups
rebalance' moves those that are not on their home (fallback placements, and
ranges that changed when servers were added) once their home is active.`,
		Example: `  mediabackups shards
  mediabackups shards --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return shardsRun(cmd.Context(), opts)
		},
	}
}

func shardsRun(_ context.Context, opts *ShardsOptions) error {
	f := opts.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	rows, err := shardRanges(c.Storage.Endpoints)
	if err != nil {
		return err
	}
	if f.JSON {
		return f.printJSON(rows)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tRANGE\tSTATE\tNEW OBJECTS GO TO")
	for _, r := range rows {
		to := "(none: no server is active)"
		switch {
		case r.ReceivesNew != nil && *r.ReceivesNew == r.Endpoint:
			to = "itself"
		case r.ReceivesNew != nil:
			to = *r.ReceivesNew + " (fallback)"
		}
		fmt.Fprintf(tw, "%s\t%s..%s\t%s\t%s\n", r.Endpoint, r.First, r.Last, r.State, to)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rows[0].ReceivesNew == nil {
		fmt.Fprintln(f.IO.ErrOut, "warning: no endpoint is active: backups cannot store anything; make at least one active")
	}
	return nil
}

// shardRanges describes the ranges of a validated endpoint list.
func shardRanges(eps []config.Endpoint) ([]ShardRange, error) {
	ranges, err := sharding.Ranges(len(eps))
	if err != nil {
		return nil, err
	}
	states := make([]sharding.State, len(eps))
	for i, e := range eps {
		states[i] = e.Mode()
	}
	targets, err := sharding.Targets(states)
	if err != nil && !errors.Is(err, sharding.ErrNoWritableServer) {
		return nil, err
	}
	rows := make([]ShardRange, len(eps))
	for i, r := range ranges {
		rows[i] = ShardRange{Index: i, Endpoint: eps[i].URL, First: r.First, Last: r.Last, State: string(states[i])}
		if targets != nil {
			to := eps[targets[i]].URL
			rows[i].ReceivesNew = &to
		}
	}
	return rows, nil
}
