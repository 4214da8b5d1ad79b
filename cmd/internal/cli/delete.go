package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/deletion"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// DeleteOptions configures `delete`.
type DeleteOptions struct {
	RecoveryOptions
	Execute      bool
	DeleteShared bool
	Timeout      time.Duration
}

func newDeleteCmd(f *Factory, runF func(context.Context, *DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "delete"}}
	cmd := &cobra.Command{
		Use:   "delete [flags] [FILE]",
		Short: "Delete backed-up file versions for good (a dry run unless --execute)",
		Long: `Delete file versions from the backups, for good: for files erased from
production for legal reasons. Without --execute this is a dry run: every check
is made and the log says what would happen, but nothing changes.

Before anything is deleted, every matching version that production served
(it has a production URL) is requested again, and the whole run stops with
exit code 6 unless each answers 404 Not Found (a timeout, --timeout, stops
it too).
Then, for each version: its object is removed from the MinIO server recorded
for it, its backup record is removed, and it is marked hard-deleted so that no
backup ever takes it again. An object whose content other versions or titles
of the wiki use (and that are not being deleted) is kept, and this is said
prominently; --delete-shared removes it anyway (those versions are then left
without a backup). A step that fails is logged and counted; the rest go on.

` + searchHelp() + `

A MinIO server that does not answer fails only the steps on its objects:
a request it keeps waiting longer than --timeout fails its step, and after
three such failures in a row the rest of its steps fail at once, naming the
server; the exit code is then 3. The versions whose object could not be
removed are left as they were: run the same delete again once the server is
back.

Uses the storage.recovery credentials. --yes answers the confirmation, but is
refused for --execute while stdin is a terminal: answer the question.
Every session is logged to <logdir>/deletion.log as well as the screen.
Exit codes: 0 done, 3 some steps failed, 4 nothing matched, 5 aborted,
6 production still serves a file, 2 bad flags or values.`,
		Example: `  delete-media-file --title "File:Secret.png"                                        # dry run
  delete-media-file --wiki commonswiki --title "File:Secret.png" --execute
  delete-media-file --wiki commonswiki --delete-between 2025-03-01..2025-03-02 --title Secret.png   # dry run
  delete-media-file --wiki commonswiki --all                     # refused: narrow it with another search flag`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.BatchFile = args[0]
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.Execute, "execute", false, "really delete (default: a dry run)")
	cmd.Flags().BoolVar(&opts.DeleteShared, "delete-shared", false, "remove objects even when versions not being deleted share their content")
	durationFlag(cmd.Flags(), &opts.Timeout, "timeout", deletion.DefaultCheckTimeout, time.Second, 10*time.Minute,
		"time allowed to each production request, and to each wait on a MinIO server (to connect, to answer)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "answer the confirmation (refused with --execute on a terminal)")
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) (err error) {
	s, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() { err = s.close(err) }()
	f := s.f
	banner := func() {
		if !opts.Execute {
			fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing will be deleted; run again with --execute to delete."))
		} else {
			fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "EXECUTE: the matching backups will be deleted for good."))
		}
	}
	banner()
	s.log.Info("mode", "dry_run", !opts.Execute, "delete_shared", opts.DeleteShared)
	ask := false
	if opts.Execute {
		if ask, err = confirmPolicy(opts.canPrompt(), f.stdinIsTerminal(), opts.Yes, true); err != nil {
			return err
		}
	} else {
		ask = opts.canPrompt() && !opts.Yes
	}
	// The credentials are checked before anything is searched.
	servers, err := f.recoveryServers(opts.Timeout)
	if err != nil {
		return err
	}
	if opts.Execute {
		// No rebalance or rekey may move an object between the moment its
		// location is read here and the moment it is removed: the copy at
		// its new place would outlive the deletion.
		release, err := s.store.LockMoves(ctx)
		if err != nil {
			return fmt.Errorf("%w\na deletion cannot run while objects are being moved: stop the rebalance or rekey (it resumes where it stopped) or wait for its end, then run this again", err)
		}
		defer release()
	}
	files, batch, err := s.findAll(ctx)
	if err != nil {
		return err
	}
	if err := s.newMatchPrinter(f.IO.Out, false).print(files); err != nil {
		return err
	}
	if len(files) == 0 {
		return s.notFound()
	}
	d := &deletion.Deleter{
		Locate: func(ep string) (deletion.Remover, bool) {
			srv, ok := servers.ByEndpoint(ep)
			if !ok {
				return nil, false
			}
			return srv, true
		},
		Store:        s.store,
		Probe:        f.productionProbe(s.cfg, opts.Timeout),
		Timeout:      opts.Timeout,
		DryRun:       !opts.Execute,
		DeleteShared: opts.DeleteShared,
		Log:          s.log,
		Journal:      s,
	}
	if err := d.CheckProduction(ctx, files); err != nil {
		if deletion.IsProductionError(err) {
			return withCode(ExitProdCheck, err)
		}
		return err
	}
	s.log.Info("production check passed: no match is served any more")
	groups, err := d.Plan(ctx, files)
	if err != nil {
		return err
	}
	shared := 0
	for _, g := range groups {
		if len(g.Shared) > 0 {
			shared++
		}
	}
	if shared > 0 && !f.JSON {
		fmt.Fprintln(f.IO.Out, red(f.IO.Out, fmt.Sprintf("WARNING: %s hold content that versions not being deleted also use; see the SHARED CONTENT lines.", count(shared, "object"))))
	}
	if ask {
		banner()
		q := fmt.Sprintf("Delete %s from the backups?", count(len(files), "file version"))
		if !opts.Execute {
			q = fmt.Sprintf("Dry run: check what deleting %s would do?", count(len(files), "file version"))
		}
		if err := s.confirm(q); err != nil {
			return err
		}
	}
	rep := d.Delete(ctx, groups)
	if rep.Stopped != nil {
		return withCode(ExitError, fmt.Errorf("%w\nbefore it stopped: %s removed, %d marked hard-deleted", rep.Stopped, count(rep.ObjectsRemoved, "object"), rep.MarkedDeleted))
	}
	summary := fmt.Sprintf("%s: %s removed, %d kept (shared), %d marked hard-deleted, %s",
		count(rep.Files, "file version"), count(rep.ObjectsRemoved, "object"), rep.ObjectsKept, rep.MarkedDeleted, count(len(rep.Errors), "failed step"))
	if !opts.Execute {
		summary = "DRY RUN, nothing changed; it would do: " + summary
	}
	if err := s.record("reporting: the deletion is done, but the log does not say so", summary); err != nil {
		return err
	}
	if f.JSON {
		out := DeleteResult{DryRun: !opts.Execute, Groups: []DeleteGroup{}, ObjectsRemoved: rep.ObjectsRemoved, ObjectsKept: rep.ObjectsKept,
			MarkedDeleted: rep.MarkedDeleted, Errors: []string{}, Batch: batch}
		for _, g := range groups {
			j := DeleteGroup{RemoveObject: g.RemoveObject, Files: newMatches(g.Files), SharedWith: newMatches(g.Shared)}
			if g.Backup != nil {
				j.Object, j.Location = ptr(g.Backup.ObjectKey), ptr(g.Backup.Location)
			}
			out.Groups = append(out.Groups, j)
		}
		for _, e := range rep.Errors {
			out.Errors = append(out.Errors, e.Error())
		}
		if err := f.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(f.IO.Out, summary)
	}
	if !opts.Execute {
		fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing was deleted."))
	} else {
		s.remindOtherDCs("deletion")
	}
	switch {
	case len(rep.Errors) > 0:
		var steps []string
		for _, e := range rep.Errors {
			steps = append(steps, e.Step)
		}
		return withCode(ExitPartial, fmt.Errorf("%s failed (%s); see the ERROR lines in %s, fix the cause and run the same command again: "+
			"objects already removed are skipped (removing a missing object is not an error) and their records completed", count(len(rep.Errors), "step"), strings.Join(steps, ", "), s.logPath))
	case batch != nil && batch.Missing > 0:
		return withCode(ExitPartial, batchMissing(batch))
	}
	return nil
}

// productionProbe returns how the production check asks about a file.
// Public wikis: its URL is requested anonymously, like any reader would,
// and must answer 404. Other wikis: img_auth.php answers 403 to a missing
// file even when logged in (MediaWiki does not reveal what exists), so the
// wiki's API is asked instead, with the wiki's session: a version still
// listed (same upload time and sha1) counts as served (200), one no longer
// listed as gone (404).
func (f *Factory) productionProbe(c *config.Config, timeout time.Duration) deletion.Probe {
	clients := map[string]*mediawiki.Client{}
	anonymous := deletion.HTTPProbe(&http.Client{Timeout: timeout})
	return func(ctx context.Context, file metadata.File) (int, error) {
		w, err := c.Wiki(file.Wiki)
		if err != nil || w.Type == config.TypePublic {
			return anonymous(ctx, file)
		}
		cl, ok := clients[w.Name]
		if !ok {
			if cl, err = f.wikiClient(w); err != nil {
				return 0, err
			}
			clients[w.Name] = cl
		}
		versions, err := cl.Versions(ctx, []string{file.Title})
		if err != nil {
			return 0, fmt.Errorf("ask the API of %s about %s: %w", w.Name, file.Title, err)
		}
		for _, v := range versions[file.Title] {
			if v.SHA1 == file.SHA1 && v.Timestamp.Equal(file.UploadDate) {
				return http.StatusOK, nil
			}
		}
		return http.StatusNotFound, nil
	}
}
