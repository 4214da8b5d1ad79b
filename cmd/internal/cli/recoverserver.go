package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/lostserver"
	"github.com/mediabackups/mediabackups/storage"
)

// RecoverServerOptions configures `recover-server`.
type RecoverServerOptions struct {
	F        *Factory
	Timeout  time.Duration
	Endpoint string
	Execute  bool
}

func newRecoverServerCmd(f *Factory, runF func(context.Context, *RecoverServerOptions) error) *cobra.Command {
	opts := &RecoverServerOptions{F: f}
	cmd := &cobra.Command{
		Use:   "recover-server URL [--execute]",
		Short: "After a MinIO server is lost for good: back up again what production still has (a dry run unless --execute)",
		Long: `For a MinIO server whose objects are lost for good (a dead machine, a wiped
disk): find every object the metadata records on URL and, for each, ask the
wiki's API whether production still serves its content (the same sha1, for the
title of one of its versions).

  served      every version of the object goes back to pending and its
              record is deleted: the next 'mediabackups backup' stores the
              content again where the servers send new objects today
  not served  the only copy is lost: listed with the exact versions, and
              left as it is

Objects the server still has (when it is configured and answers) are left
alone, so it is safe on a server that lost only part of its disk. A server
that does not answer stops the run: if it is gone for good, give it the state
down in storage.endpoints (then it is not asked). Without --execute nothing
changes; the report says what would. Run 'mediabackups update' first, so
that the titles asked about are today's.

Uses the storage.generation credentials. Exit codes: 0 everything lost can be
backed up again (or nothing was lost), 3 some content is lost for good, or
could not be checked (listed).`,
		Example: `  mediabackups recover-server http://backup1005:9000            # the report
  mediabackups recover-server http://backup1005:9000 --execute
  mediabackups backup                                           # store it again`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ep, err := storage.NormalizeEndpoint(args[0])
			if err != nil {
				return withCode(ExitUsage, err)
			}
			opts.Endpoint = ep
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return recoverServerRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Execute, "execute", false, "change the metadata (default: only report)")
	serverTimeoutFlag(cmd.Flags(), &opts.Timeout, "the object fails")
	return cmd
}

func recoverServerRun(ctx context.Context, opts *RecoverServerOptions) error {
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
	var srv storage.Backend
	if b, ok := servers.ByEndpoint(opts.Endpoint); ok {
		for _, m := range servers.Members() {
			if m.Backend.Endpoint() == opts.Endpoint && m.State.Contacted() {
				srv = b
			}
		}
	}
	if srv == nil {
		log.Info("the server is down or not in storage.endpoints: it is not asked, everything recorded on it counts as lost", "server", opts.Endpoint)
	}
	if opts.Execute {
		// No rebalance or rekey may move objects meanwhile.
		release, err := s.LockMoves(ctx)
		if err != nil {
			return err
		}
		defer release()
	} else {
		fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing is changed; run again with --execute."))
	}
	rep, err := lostserver.Recover(ctx, s, lostserver.Options{
		Endpoint: opts.Endpoint, Server: srv, Execute: opts.Execute, Log: log,
		Wiki: func(name string) (lostserver.Production, error) {
			w, err := c.Wiki(name)
			if err != nil {
				return nil, err
			}
			return f.wikiClient(w)
		},
	})
	if rep != nil {
		if f.JSON {
			if perr := f.printJSON(rep); perr != nil && err == nil {
				err = perr
			}
		} else {
			printRecoverServer(f.IO.Out, rep)
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return withCode(ExitCancelled, err)
	case err != nil:
		return err
	case len(rep.OnlyCopyLost)+len(rep.Unchecked)+len(rep.Failed) > 0:
		return withCode(ExitPartial, fmt.Errorf("%d versions lost for good, %d not checked, %d objects failed (listed above)",
			len(rep.OnlyCopyLost), len(rep.Unchecked), len(rep.Failed)))
	}
	return nil
}

func printRecoverServer(w io.Writer, rep *lostserver.Report) {
	fmt.Fprintf(w, "%s: %d objects recorded, %d still there, %d lost\n", rep.Endpoint, rep.Objects, rep.StillThere, rep.Objects-rep.StillThere)
	list := func(vs []lostserver.Version) {
		for _, v := range vs {
			fmt.Fprintf(w, "  %s\t%s\tuploaded %s\tsha1 %s\t%s, %s\t%s\n", v.Wiki, printable(v.Title), v.UploadDate, v.SHA1, v.Status, v.Backup, v.Object)
			if v.Note != "" {
				fmt.Fprintf(w, "    %s\n", v.Note)
			}
		}
	}
	verb := "set back to pending"
	if rep.DryRun {
		verb = "to set back to pending"
	}
	fmt.Fprintf(w, "recovered: %d versions %s, production still serves their content\n", len(rep.Recovered), verb)
	list(rep.Recovered)
	fmt.Fprintf(w, "ONLY COPY LOST: %d versions whose content production no longer serves\n", len(rep.OnlyCopyLost))
	list(rep.OnlyCopyLost)
	if len(rep.Unchecked) > 0 {
		fmt.Fprintf(w, "not checked (left as they are): %d versions\n", len(rep.Unchecked))
		list(rep.Unchecked)
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(w, "failed: %s\n", f)
	}
	if !rep.DryRun && len(rep.Recovered) > 0 {
		fmt.Fprintln(w, "next: run `mediabackups backup` to store them again")
	}
}
