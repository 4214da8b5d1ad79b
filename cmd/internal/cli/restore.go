package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/restore"
	"github.com/mediabackups/mediabackups/storage"
)

// RestoreOptions configures `restore`.
type RestoreOptions struct {
	RecoveryOptions
	Target   string
	Parallel int
	Timeout  time.Duration

	// ToProduction restores into the wiki's production store instead of
	// Target (toproduction.go); the other fields go only with it.
	ToProduction     bool
	Execute          bool
	ReplaceDamaged   bool
	CreateContainers bool
	// FromAudit is the file `audit --json` wrote: its missing and damaged
	// versions are the ones restored.
	FromAudit string
}

func newRestoreCmd(f *Factory, runF func(context.Context, *RestoreOptions) error) *cobra.Command {
	opts := &RestoreOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "restore"}}
	cmd := &cobra.Command{
		Use:   "restore [flags] [FILE]",
		Short: "Restore backed-up file versions into a local directory, or into production",
		Long: `Find backed-up file versions, ask for confirmation, then download each from
the MinIO server its backup was recorded on, decrypt it if it is encrypted,
check its sha256 and sha1, and save it in the target directory under its
production name: the title for current and deleted versions,
YYYYMMDDhhmmss!Title for archived ones. A name already taken gets ~ appended
until it is free. Nothing is ever written outside the target directory:
slashes and control characters in titles become _.

` + searchHelp() + `

` + toProductionHelp + `

A MinIO server that does not answer fails only the files stored on it: a
request it keeps waiting longer than --timeout (to connect, to answer, or
between two pieces of a download: a large file may take as long as it needs
while bytes flow) fails its file, and after three such failures in a row
its remaining files fail at once, naming the server; every other file is
restored, and the exit code is 3. Run the same restore again once the
server is back: files already written are not replaced (new names get ~).

Uses the storage.recovery credentials, and with --to-production the wiki's
production credentials. Without a terminal, --yes is required (except for a
dry run into production). Every session is logged to <logdir>/recovery.log
as well as the screen.
Exit codes: 0 all written, 3 some failed (or damaged objects left), 4 nothing
matched, 5 aborted, 2 bad flags or values (or an audit file refused), 1 any
other failure (wrong credentials, a missing container).`,
		Example: `  restore-media-file --title "File:Simple.png" --target restored/
  restore-media-file --wiki commonswiki --upload-between 2025-01-01..2025-02-01 --target january/   # uploaded in January 2025
  restore-media-file --wiki testwiki --all --target testwiki/ --yes                                  # every version of testwiki
  restore-media-file --wiki testwiki --all --delete-between 2025-03-01.. --target deleted/           # deleted since March
  restore-media-file --wiki commonswiki --to-production --from-audit audit.json                   # dry run
  restore-media-file --wiki commonswiki --to-production --from-audit audit.json --execute --replace-damaged`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.BatchFile = args[0]
			}
			if err := opts.checkToProduction(cmd.Flags().Changed("target")); err != nil {
				return err
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.ToProduction {
				return restoreToProductionRun(cmd.Context(), opts)
			}
			tuneGCForDecryption(opts.Parallel)
			return restoreRun(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().StringVar(&opts.Target, "target", ".", "directory to write the files into (created if missing)")
	intFlag(cmd.Flags(), &opts.Parallel, "parallel", 4, 1, maxWorkers, "files restored at once")
	serverTimeoutFlag(cmd.Flags(), &opts.Timeout, "the file fails")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (required without a terminal; refused with --execute on a terminal)")
	cmd.Flags().BoolVar(&opts.ToProduction, "to-production", false, "write the versions back into the wiki's production store, where MediaWiki reads them (a dry run unless --execute)")
	cmd.Flags().BoolVar(&opts.Execute, "execute", false, "with --to-production: really write (default: a dry run)")
	cmd.Flags().BoolVar(&opts.ReplaceDamaged, "replace-damaged", false, "with --to-production: replace objects that hold other bytes than the version's")
	cmd.Flags().BoolVar(&opts.CreateContainers, "create-containers", false, "with --to-production: create missing production containers with MediaWiki's ACLs (production.acl)")
	cmd.Flags().StringVar(&opts.FromAudit, "from-audit", "", "with --to-production: restore the missing and damaged versions listed in `FILE`, the output of 'mediabackups audit --json'")
	addProfileFlags(cmd)
	return cmd
}

func restoreRun(ctx context.Context, opts *RestoreOptions) (err error) {
	target, err := checkTarget(opts.Target)
	if err != nil {
		return err
	}
	s, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() { err = s.close(err) }()
	f := s.f
	ask, err := confirmPolicy(opts.canPrompt(), f.stdinIsTerminal(), opts.Yes, false)
	if err != nil {
		return err
	}
	// The credentials are checked before anything is searched, the
	// identity before the matches are shown.
	servers, err := f.recoveryServers(opts.Timeout)
	if err != nil {
		return err
	}
	// The matches are read twice, a page at a time, so that memory does
	// not grow with their number: to show them (and check that what is
	// encrypted can be decrypted), then, once confirmed, to restore them.
	shown := s.newMatchPrinter(f.IO.Out, false)
	var ids []age.Identity
	if _, err := s.find(ctx, func(files []metadata.File) error {
		if ids == nil {
			var err error
			if ids, err = s.identities(files); err != nil {
				return err
			}
		}
		return shown.print(files)
	}); err != nil {
		return err
	}
	total := shown.n
	if total == 0 {
		return s.notFound()
	}
	if ask {
		if err := s.confirm(fmt.Sprintf("Restore %s into %s?", count(total, "file"), target)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return fmt.Errorf("target directory: %w", err)
	}
	root, err := os.OpenRoot(target)
	if err != nil {
		return fmt.Errorf("target directory: %w", err)
	}
	defer root.Close()
	dir, err := restore.NewDir(root)
	if err != nil {
		return fmt.Errorf("target directory: %w", err)
	}
	defer dir.Close()
	if err := s.record("any file was written", "restore start", "files", total, "target", target, "parallel", opts.Parallel); err != nil {
		return err
	}
	prog := newRestoreProgress(s.screen, total)
	r := s.restorer(servers, ids, dir, opts.Parallel, prog)
	// Only --json keeps every file, for its result; the text output and
	// the log need the counts alone.
	out := RestoreResult{Target: target, Written: []RestoredFile{}, Failed: []FailedFile{}}
	nWritten, nFailed := 0, 0
	s.again = true
	batch, err := s.find(ctx, func(files []metadata.File) error {
		written, failed := r.Restore(ctx, files)
		nWritten, nFailed = nWritten+len(written), nFailed+len(failed)
		for _, w := range written {
			s.log.Info("written", "wiki", w.File.Wiki, "file", w.File.Title, "id", w.File.ID, "name", filepath.Join(target, w.Name))
			if f.JSON {
				out.Written = append(out.Written, RestoredFile{newMatch(w.File), w.Name})
			}
		}
		for _, fe := range failed {
			s.log.Error("restore failed", "wiki", fe.File.Wiki, "file", fe.File.Title, "id", fe.File.ID, "step", fe.Step, "error", fe.Err.Error())
			if f.JSON {
				out.Failed = append(out.Failed, FailedFile{newMatch(fe.File), fe.Step, fe.Err.Error()})
			}
		}
		return ctx.Err()
	})
	prog.finish()
	if err != nil {
		return fmt.Errorf("restore stopped after %d written, %d failed: %w", nWritten, nFailed, err)
	}
	confirmed := total
	total = nWritten + nFailed
	if total != confirmed {
		// The metadata changed between the two reads (a backup, update or
		// delete ran meanwhile): say so, and which count is the real one.
		s.log.Warn("the search matched another number of versions when they were restored than when they were shown: the versions restored are those counted below",
			"shown", confirmed, "restored_or_failed", total)
	}
	were := "were"
	if total == 1 {
		were = "was"
	}
	summary := fmt.Sprintf("%d out of %s %s successfully written to the local filesystem", nWritten, count(total, "file"), were)
	if err := s.record(fmt.Sprintf("reporting: %d restored files are in %s, but the log does not say so", nWritten, target), summary); err != nil {
		return err
	}
	if f.JSON {
		out.Total, out.Batch = total, batch
		if err := f.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(f.IO.Out, summary)
	}
	s.remindOtherDCs("restore")
	switch {
	case nFailed > 0:
		return withCode(ExitPartial, fmt.Errorf("%d of %s failed (see the ERROR lines in %s)", nFailed, count(total, "file"), s.logPath))
	case batch != nil && batch.Missing > 0:
		return withCode(ExitPartial, batchMissing(batch))
	}
	return nil
}

// identities returns the age identities that decrypt the encrypted files
// among files: none when none is encrypted. A missing or unreadable
// identity is a usage error, before the matches are shown.
func (s *session) identities(files []metadata.File) ([]age.Identity, error) {
	for _, x := range files {
		if x.Backup == nil || !x.Backup.Encrypted {
			continue
		}
		if s.cfg.Encryption.IdentityFile == "" {
			return nil, withCode(ExitUsage, errors.New("some matches are encrypted: set encryption.identity_file in the config"))
		}
		id, err := encryption.LoadIdentity(s.cfg.Resolve(s.cfg.Encryption.IdentityFile))
		if err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("some matches are encrypted, and the identity to decrypt them cannot be read: encryption.identity_file: %w", err))
		}
		return []age.Identity{id}, nil
	}
	return nil, nil
}

// restorer returns the restore engine of a session: objects read from
// servers (an object moved by rebalance or rekey since it was looked up is
// read from its new place), decrypted with ids, handed to target.
func (s *session) restorer(servers *storage.Sharded, ids []age.Identity, target restore.Target, parallel int, prog restore.Progress) *restore.Restorer {
	return &restore.Restorer{
		Locate: func(ep string) (restore.Getter, bool) {
			srv, ok := servers.ByEndpoint(ep)
			if !ok {
				return nil, false
			}
			return srv, true
		},
		Reload: func(ctx context.Context, backupID int64) (*metadata.Backup, error) {
			o, err := s.store.StoredObjectByID(ctx, backupID)
			if err != nil {
				return nil, err
			}
			return &o.Backup, nil
		},
		Identities: ids,
		Target:     target,
		Parallel:   parallel,
		Progress:   prog,
	}
}

// restoreProgress draws a bar on a terminal, below the log lines, and a
// line per tenth otherwise, with the rate and the time left. It is small
// enough not to need a dependency.
type restoreProgress struct {
	mu     sync.Mutex
	screen *statusLine
	total  int
	done   int
	fail   int
	last   int // the tenth last reported (not a terminal)
	start  time.Time
	drawn  time.Time
}

func newRestoreProgress(screen *statusLine, total int) *restoreProgress {
	return &restoreProgress{screen: screen, total: total, last: -1, start: time.Now()}
}

// Done implements restore.Progress.
func (p *restoreProgress) Done(_ metadata.File, _ string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if err != nil {
		p.fail++
	}
	if p.screen.tty {
		// At most ten redraws a second: a bar is for eyes.
		if now := time.Now(); now.Sub(p.drawn) >= 100*time.Millisecond || p.done == p.total {
			p.drawn = now
			const width = 30
			n := p.done * width / max(1, p.total)
			p.screen.set(fmt.Sprintf("[%s%s] %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), p.counts()))
		}
		return
	}
	if tenth := p.done * 10 / max(1, p.total); tenth != p.last {
		p.last = tenth
		fmt.Fprintf(p.screen, "progress: %s\n", p.counts())
	}
}

// counts is "done/total files, failed, rate, time left".
func (p *restoreProgress) counts() string {
	s := fmt.Sprintf("%d/%s, %d failed", p.done, count(p.total, "file"), p.fail)
	if el := time.Since(p.start).Seconds(); el > 0 && p.done > 0 {
		rate := float64(p.done) / el
		s += fmt.Sprintf(", %.1f files/s", rate)
		if left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second); left > 0 {
			s += ", " + left.String() + " left"
		}
	}
	return s
}

func (p *restoreProgress) finish() { p.screen.done() }
