package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/rekey"
)

// RekeyOptions configures `rekey`.
type RekeyOptions struct {
	F        *Factory
	Timeout  time.Duration
	Execute  bool
	Parallel int
	// Identities are more identity files that open the current headers.
	Identities []string
}

func newRekeyCmd(f *Factory, runF func(context.Context, *RekeyOptions) error) *cobra.Command {
	opts := &RekeyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "rekey [--execute] [--identity FILE]...",
		Short: "Rewrite every encrypted object's age header for today's recipients (a dry run unless --execute)",
		Long: `Rewrite the age header of every encrypted object for the recipients that
encryption.recipients lists today (operators' keys, an offline escrow key),
without decrypting the payload and without uploading it again.

Each header is opened with encryption.identity_file or an --identity FILE (any
identity of the recipients the objects were written for) and rewritten for
the new recipients around the same file key. The new object, the new header
followed by the old payload byte for byte, is built on its server under a new
key (<sha256>.k1.age, .k2.age, ...): the new header and the first bytes of
the payload are uploaded as a 5 MiB part, the rest is copied by the server
itself, so at most 5 MiB goes up per object; objects of at most 5 MiB are
uploaded again whole (their ciphertext, never decrypted). The new object is
read back and checked (its header opens with the file key, its payload is the
old one) before the metadata points at it; then the old object is removed.
Every object's bytes uploaded, copied server-side and read are logged.

A rekey killed at any point leaves every object readable where the metadata
records it; the next run cleans up and goes on with the objects not yet
written for today's recipients. Objects on a readonly or down server wait for
a run once it is active. Backups and restores may run meanwhile; one rekey
(or rebalance) runs at a time.

To rotate a key: add the new recipient to encryption.recipients and remove the
old one, point encryption.identity_file at the new identity, and run rekey
with --identity OLD-IDENTITY-FILE. Once it is done, the old identity opens
nothing any more.

Uses the storage.generation credentials. Exit codes: 0 done, 3 some objects
could not be rewritten (listed; they stay as they are), 130 interrupted.`,
		Example: `  mediabackups rekey --identity /root/old-identity.txt                # what is to do
  mediabackups rekey --identity /root/old-identity.txt --execute`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return rekeyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Execute, "execute", false, "rewrite the objects (default: only count them)")
	intFlag(cmd.Flags(), &opts.Parallel, "parallel", 4, 1, maxWorkers, "objects rewritten at once")
	cmd.Flags().StringArrayVar(&opts.Identities, "identity", nil, "another age identity file that opens the current headers (repeatable)")
	serverTimeoutFlag(cmd.Flags(), &opts.Timeout, "the object fails")
	return cmd
}

// identities loads encryption.identity_file and the given files, in that
// order; a missing identity_file is not an error when files are given.
func (f *Factory) identities(files []string) ([]age.Identity, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	var ids []age.Identity
	if c.Encryption.IdentityFile != "" {
		id, err := encryption.LoadIdentity(c.Resolve(c.Encryption.IdentityFile))
		if err != nil {
			return nil, fmt.Errorf("encryption.identity_file: %w", err)
		}
		ids = append(ids, id)
	}
	for _, p := range files {
		id, err := encryption.LoadIdentity(p)
		if err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("--identity: %w", err))
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, withCode(ExitUsage, errors.New("no identity to open the headers: set encryption.identity_file or give --identity FILE"))
	}
	return ids, nil
}

func rekeyRun(ctx context.Context, opts *RekeyOptions) error {
	f := opts.F
	recipients, err := f.recipients()
	if err != nil {
		return err
	}
	ids, err := f.identities(opts.Identities)
	if err != nil {
		return err
	}
	s, servers, err := f.storeAndServers(ctx, opts.Timeout)
	if err != nil {
		return err
	}
	defer s.Close()
	if opts.Execute {
		release, err := s.LockMoves(ctx)
		if err != nil {
			return err
		}
		defer release()
	} else {
		fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing is rewritten; run again with --execute to rewrite."))
	}
	rep, err := rekey.Run(ctx, s, rekey.Options{
		Servers: servers, Identities: ids, Recipients: recipients, Execute: opts.Execute,
		Parallel: opts.Parallel, Host: newWorkerID(), Log: f.Logger(),
	})
	if rep != nil {
		if f.JSON {
			if perr := f.printJSON(rep); perr != nil && err == nil {
				err = perr
			}
		} else {
			printRekey(f.IO.Out, rep, len(recipients))
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return withCode(ExitCancelled, err)
	case err != nil:
		return err
	case len(rep.Failed) > 0:
		return withCode(ExitPartial, fmt.Errorf("%d objects could not be rewritten (see the errors above): they stay as they are, readable by the old identities", len(rep.Failed)))
	}
	return nil
}

func printRekey(w io.Writer, rep *rekey.Report, recipients int) {
	fmt.Fprintf(w, "recipients: %d (fingerprint %s)\n", recipients, rep.Fingerprint)
	if r := rep.Recovered; r.Finished+r.Undone+len(r.Left) > 0 {
		fmt.Fprintf(w, "rewrites left by an earlier run: %d finished, %d undone, %d still to clean\n", r.Finished, r.Undone, len(r.Left))
	}
	fmt.Fprintf(w, "to rewrite: %d objects, %s\n", rep.ToRewrite, humanBytes(rep.ToRewriteBytes))
	if !rep.DryRun {
		fmt.Fprintf(w, "rewritten: %d objects (%d whole, %d composed)\n", rep.Rewritten, rep.Whole, rep.Composed)
		fmt.Fprintf(w, "bytes: %s uploaded, %s copied by the servers, %s read (headers, and both payloads to verify)\n",
			humanBytes(rep.Bytes.Uploaded), humanBytes(rep.Bytes.Copied), humanBytes(rep.Bytes.Read))
		for _, fl := range rep.Failed {
			fmt.Fprintf(w, "failed: %s object %d: %s\n", fl.Wiki, fl.ObjectID, fl.Error) // the error names the key and server
		}
		if rep.SourcesLeft > 0 {
			fmt.Fprintf(w, "%d old objects could not be removed yet: the next run removes them\n", rep.SourcesLeft)
		}
	}
	for ep, n := range rep.Waiting {
		fmt.Fprintf(w, "waiting: %d objects on %s, which is not active\n", n, ep)
	}
}
