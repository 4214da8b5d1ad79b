package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/backup"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// MismatchesOptions configures `mismatches`.
type MismatchesOptions struct {
	F       *Factory
	Wiki    string
	Repair  bool
	Execute bool
}

func newMismatchesCmd(f *Factory, runF func(context.Context, *MismatchesOptions) error) *cobra.Command {
	opts := &MismatchesOptions{F: f}
	cmd := &cobra.Command{
		Use:   "mismatches --wiki NAME [--repair [--execute]]",
		Short: "List, and repair, versions whose backup does not hold their sha1",
		Long: `List the file versions whose stored object does not have the version's sha1,
each with its kind:

  wrong-version  the object holds the bytes of another version of the wiki.
                 Backups made before this was fixed stored a version that was
                 overwritten between 'inventory' and 'backup' with the NEW
                 version's bytes (and the new version then became a duplicate
                 of it). Repair them with --repair.
  corrupt        the object holds bytes that no recorded version has:
                 production served them for this version, corrupt. Check the
                 file in production. (A version recorded before the fix whose
                 newer version is not in the metadata yet also shows here: run
                 'inventory' or 'update' first, then list again.)

A restore refuses such a version rather than write the wrong bytes.

--repair fetches each listed version again, as a backup does now: from its
recorded place, else from wherever the wiki says it is now (its history's
archive URL, the deleted zone). Then:
  refetch      its own bytes were found: they are stored (encrypted like the
               wiki's other objects) and the version points at them;
  unavailable  production serves them nowhere now and the object holds
               another version's bytes: the version points at no object and
               becomes 'unavailable' (retried by backup --retry-errors, or
               once 'update' records a new place for it);
  keep         production still serves the corrupt bytes: left as it is.
An old object that no version points at any more is removed from its MinIO
server and from the metadata, so nothing is left behind; so is any object
that no version pointed at before (left by an interrupted repair).

Without --execute, --repair is a dry run: it reads production (and downloads,
to check the sha1) but changes nothing, and says what it would do. It uses
storage.generation to upload and storage.recovery to remove. Safe to run
again, also after an interruption. Exit codes: 0 done (or nothing to do),
3 some versions could not be repaired (the reason is printed), 2 bad flags.`,
		Example: `  mediabackups mismatches --wiki commonswiki
  mediabackups inventory --wiki commonswiki            # first, on a database made before the fix
  mediabackups mismatches --wiki commonswiki --repair  # dry run: what would be done
  mediabackups mismatches --wiki commonswiki --repair --execute`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Wiki == "" {
				return withCode(ExitUsage, errors.New("--wiki is required"))
			}
			if opts.Execute && !opts.Repair {
				return withCode(ExitUsage, errors.New("--execute goes with --repair"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return mismatchesRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Wiki, "wiki", "", "wiki name")
	cmd.Flags().BoolVar(&opts.Repair, "repair", false, "fetch each version again and relink it (a dry run without --execute)")
	cmd.Flags().BoolVar(&opts.Execute, "execute", false, "with --repair: make the changes")
	return cmd
}

// mismatchJSON is one listed version.
type mismatchJSON struct {
	ID             int64  `json:"id"`
	Title          string `json:"title"`
	UploadDate     string `json:"upload_date"`
	Kind           string `json:"kind"`
	BackupStatus   string `json:"backup_status"`
	ProductionSHA1 string `json:"production_sha1"`
	// DownloadedSHA1 is the sha1 of the bytes its object holds.
	DownloadedSHA1 string `json:"downloaded_sha1"`
	SHA256         string `json:"sha256"`
}

func toMismatchJSON(m metadata.Mismatch) mismatchJSON {
	return mismatchJSON{ID: m.ID, Title: m.Title, UploadDate: m.UploadDate.Format(time.DateTime), Kind: string(m.Kind),
		BackupStatus: string(m.BackupStatus), ProductionSHA1: m.SHA1, DownloadedSHA1: m.ObjectSHA1, SHA256: m.SHA256}
}

// repairJSON is the outcome for one version of `mismatches --repair`.
type repairJSON struct {
	mismatchJSON
	Action string `json:"action"`
	From   string `json:"from,omitempty"`
	// NewSHA256 is the sha256 of the version's own bytes (refetch).
	NewSHA256 string `json:"new_sha256,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// RemovedObject is the old object, removed because no version
	// points at it any more.
	RemovedObject string `json:"removed_object,omitempty"`
}

// repairReportJSON is the output of `mismatches --repair --json`.
type repairReportJSON struct {
	Wiki    string       `json:"wiki"`
	Execute bool         `json:"execute"`
	Items   []repairJSON `json:"items"`
	// Unreferenced are objects no version pointed at (removed when
	// executing).
	Unreferenced []string       `json:"unreferenced_objects"`
	Totals       map[string]int `json:"totals"`
}

func mismatchesRun(ctx context.Context, opts *MismatchesOptions) error {
	f := opts.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := s.WikiID(ctx, opts.Wiki)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return withCode(ExitUsage, fmt.Errorf("%w: is it in the config, and has `mediabackups inventory --wiki %s` run?", err, opts.Wiki))
		}
		return err
	}
	ms, err := s.Mismatches(ctx, id)
	if err != nil {
		return err
	}
	if !opts.Repair {
		rows := []mismatchJSON{}
		for _, m := range ms {
			rows = append(rows, toMismatchJSON(m))
		}
		if f.JSON {
			return f.printJSON(rows)
		}
		if len(rows) == 0 {
			fmt.Fprintf(f.IO.Out, "%s: no sha1 mismatches\n", opts.Wiki)
		}
		for _, r := range rows {
			fmt.Fprintf(f.IO.Out, "%s\t%s\t%s\tproduction %s\tdownloaded %s\n", r.Title, r.UploadDate, r.Kind, r.ProductionSHA1, r.DownloadedSHA1)
		}
		return nil
	}

	wikis, err := f.wikisToRun(opts.Wiki)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	w := wikis[0]
	client, err := f.wikiClient(w)
	if err != nil {
		return err
	}
	gen, _, err := f.servers(c.Storage.Generation, "generation", storage.DefaultTimeout)
	if err != nil {
		return err
	}
	rec, _, err := f.servers(c.Storage.Recovery, "recovery", storage.DefaultTimeout)
	if err != nil {
		return err
	}
	bo := backup.Options{Wiki: w.Name, WikiID: id, Bucket: c.Storage.Bucket, TmpDir: c.TmpDir, Logger: f.Logger()}
	if w.Encrypted() {
		if bo.Recipients, err = f.recipients(); err != nil {
			return fmt.Errorf("wiki %s is %s and must be encrypted: %w", w.Name, w.Type, err)
		}
	}
	place := func(sha256 string) (backup.Putter, error) { return gen.For(sha256) }
	remove := func(ctx context.Context, endpoint, key string) error {
		srv, ok := rec.ByEndpoint(endpoint)
		if !ok {
			return fmt.Errorf("object %s is recorded on %s, which is not in storage.endpoints of the config", key, endpoint)
		}
		return srv.Remove(ctx, key)
	}
	out := repairReportJSON{Wiki: w.Name, Execute: opts.Execute, Items: []repairJSON{}, Unreferenced: []string{}, Totals: map[string]int{}}
	verb := map[backup.RepairAction]string{backup.Refetch: "re-fetched", backup.MakeUnavailable: "made unavailable",
		backup.Keep: "kept", backup.Failed: "FAILED"}
	if !opts.Execute {
		verb = map[backup.RepairAction]string{backup.Refetch: "would re-fetch", backup.MakeUnavailable: "would make unavailable",
			backup.Keep: "would keep", backup.Failed: "FAILED"}
	}
	progress := func(it backup.RepairItem) {
		r := repairJSON{mismatchJSON: toMismatchJSON(it.Mismatch), Action: string(it.Action), From: it.From, NewSHA256: it.SHA256,
			Reason: it.Reason, RemovedObject: it.Removed}
		out.Items = append(out.Items, r)
		out.Totals[r.Action]++
		if f.JSON {
			return
		}
		line := fmt.Sprintf("%s %s (uploaded %s, %s): %s", printable(r.Title), r.UploadDate, r.Kind, r.DownloadedSHA1, verb[it.Action])
		if r.From != "" {
			line += " from " + r.From + ", sha256 " + r.NewSHA256
		}
		if r.Reason != "" {
			line += ": " + r.Reason
		}
		if r.RemovedObject != "" {
			line += "; its old object " + r.RemovedObject + " was no version's any more and is removed"
		}
		fmt.Fprintln(f.IO.Out, line)
	}
	rep, err := backup.Repair(ctx, s, client, place, remove, bo, ms, opts.Execute, progress)
	for _, b := range rep.Unreferenced {
		out.Unreferenced = append(out.Unreferenced, b.Location+"/"+b.Bucket+"/"+b.ObjectKey)
	}
	if f.JSON {
		if jerr := f.printJSON(out); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		for _, u := range out.Unreferenced {
			if opts.Execute {
				fmt.Fprintf(f.IO.Out, "removed %s: no version pointed at it\n", u)
			} else {
				fmt.Fprintf(f.IO.Out, "would remove %s: no version points at it\n", u)
			}
		}
		fmt.Fprintf(f.IO.Out, "%s: %d versions: %d %s, %d %s, %d %s, %d failed; %d objects of no version\n", w.Name, len(out.Items),
			out.Totals[string(backup.Refetch)], verb[backup.Refetch], out.Totals[string(backup.MakeUnavailable)], verb[backup.MakeUnavailable],
			out.Totals[string(backup.Keep)], verb[backup.Keep], out.Totals[string(backup.Failed)], len(out.Unreferenced))
		if !opts.Execute && len(out.Items)+len(out.Unreferenced) > 0 {
			fmt.Fprintln(f.IO.Out, "dry run: nothing was changed; run again with --execute to make these changes")
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return withCode(ExitCancelled, err)
		}
		return err
	}
	if n := out.Totals[string(backup.Failed)]; n > 0 {
		return withCode(ExitPartial, fmt.Errorf("%d versions could not be repaired (reasons above); run again", n))
	}
	return nil
}
