package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
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
}

func newRestoreCmd(f *Factory, runF func(context.Context, *RestoreOptions) error) *cobra.Command {
	opts := &RestoreOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "restore"}}
	cmd := &cobra.Command{
		Use:   "restore [flags] [FILE]",
		Short: "Restore backed-up file versions into a local directory",
		Long: `Find backed-up file versions, ask for confirmation, then download each from
the MinIO server its backup was recorded on, decrypt it if it is encrypted,
check its sha256 and sha1, and save it in the target directory under its
production name: the title for current and deleted versions,
YYYYMMDDhhmmss!Title for archived ones. A name already taken gets ~ appended
until it is free. Nothing is ever written outside the target directory:
slashes and control characters in titles become _.

` + searchHelp() + `

A MinIO server that does not answer fails only the files stored on it: a
request it keeps waiting longer than --timeout (to connect, to answer, or
between two pieces of a download: a large file may take as long as it needs
while bytes flow) fails its file, and after three such failures in a row
its remaining files fail at once, naming the server; every other file is
restored, and the exit code is 3. Run the same restore again once the
server is back: files already written are not replaced (new names get ~).

Uses the storage.recovery credentials. Without a terminal, --yes is required.
Every session is logged to <logdir>/recovery.log as well as the screen.
Exit codes: 0 all written, 3 some failed, 4 nothing matched, 5 aborted,
2 bad flags or values.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.BatchFile = args[0]
			}
			if opts.Parallel < 1 {
				return withCode(ExitUsage, errors.New("--parallel must be at least 1"))
			}
			if opts.Timeout <= 0 {
				return withCode(ExitUsage, errors.New("--timeout must be positive"))
			}
			if _, _, err := opts.method(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return restoreRun(cmd.Context(), opts)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().StringVar(&opts.Target, "target", ".", "directory to write the files into (created if missing)")
	cmd.Flags().IntVar(&opts.Parallel, "parallel", 4, "files restored at once")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", storage.DefaultTimeout, "how long a MinIO server may keep a request waiting (to connect, to answer, or between two pieces of a download) before the file fails")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (required without a terminal)")
	addProfileFlags(cmd)
	return cmd
}

func restoreRun(ctx context.Context, opts *RestoreOptions) (err error) {
	s, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() { s.close(err) }()
	f := s.f
	ask, err := confirmPolicy(opts.canPrompt(), f.stdinIsTerminal(), opts.Yes, false)
	if err != nil {
		return err
	}
	files, batch, err := s.find(ctx)
	if err != nil {
		return err
	}
	s.printMatches(f.IO.Out, files)
	if len(files) == 0 {
		return notFound()
	}
	target, err := filepath.Abs(opts.Target)
	if err != nil {
		return err
	}
	if ask {
		if err := s.confirm(fmt.Sprintf("Restore %d file(s) into %s?", len(files), target)); err != nil {
			return err
		}
	}
	servers, _, err := f.servers(s.cfg.Storage.Recovery, "recovery", opts.Timeout)
	if err != nil {
		return err
	}
	var ids []age.Identity
	for _, x := range files {
		if x.Backup != nil && x.Backup.Encrypted {
			if s.cfg.Encryption.IdentityFile == "" {
				return errors.New("some files are encrypted: set encryption.identity_file in the config")
			}
			id, err := encryption.LoadIdentity(s.cfg.Resolve(s.cfg.Encryption.IdentityFile))
			if err != nil {
				return err
			}
			ids = []age.Identity{id}
			break
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
	s.log.Info("restore start", "files", len(files), "target", target, "parallel", opts.Parallel)
	prog := newRestoreProgress(f.IO.ErrOut, len(files))
	r := &restore.Restorer{
		Locate: func(ep string) (restore.Getter, bool) {
			srv, ok := servers.ByEndpoint(ep)
			if !ok {
				return nil, false
			}
			return srv, true
		},
		Identities: ids,
		Dir:        root,
		Parallel:   opts.Parallel,
		Progress:   prog,
	}
	written, failed := r.Restore(ctx, files)
	prog.finish()
	for _, w := range written {
		s.log.Info("written", "wiki", w.File.Wiki, "file", w.File.Title, "id", w.File.ID, "name", filepath.Join(target, w.Name))
	}
	for _, fe := range failed {
		s.log.Error("restore failed", "wiki", fe.File.Wiki, "file", fe.File.Title, "id", fe.File.ID, "step", fe.Step, "error", fe.Err.Error())
	}
	summary := fmt.Sprintf("%d out of %d files were successfully written to the local filesystem", len(written), len(files))
	s.log.Info(summary)
	if f.JSON {
		out := RestoreResult{Target: target, Written: []RestoredFile{}, Failed: []FailedFile{}, Total: len(files), Batch: batch}
		for _, w := range written {
			out.Written = append(out.Written, RestoredFile{newMatch(w.File), w.Name})
		}
		for _, fe := range failed {
			out.Failed = append(out.Failed, FailedFile{newMatch(fe.File), fe.Step, fe.Err.Error()})
		}
		if err := f.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(f.IO.Out, summary)
	}
	s.remindOtherDCs("restore")
	switch {
	case len(failed) > 0:
		return withCode(ExitPartial, fmt.Errorf("%d of %d files failed (see the ERROR lines in %s)", len(failed), len(files), s.logPath))
	case batch != nil && batch.Missing > 0:
		return withCode(ExitPartial, batchMissing(batch))
	}
	return nil
}

// restoreProgress draws a bar on a terminal, and a line per tenth otherwise. It
// is small enough not to need a dependency.
type restoreProgress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total int
	done  int
	fail  int
	last  int
}

func newRestoreProgress(w io.Writer, total int) *restoreProgress {
	return &restoreProgress{w: w, tty: isTerminal(w), total: total, last: -1}
}

// Done implements restore.Progress.
func (p *restoreProgress) Done(_ metadata.File, _ string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if err != nil {
		p.fail++
	}
	if p.tty {
		const width = 30
		n := p.done * width / max(1, p.total)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d files, %d failed", strings.Repeat("=", n), strings.Repeat(" ", width-n), p.done, p.total, p.fail)
		return
	}
	if tenth := p.done * 10 / max(1, p.total); tenth != p.last {
		p.last = tenth
		fmt.Fprintf(p.w, "progress: %d/%d files, %d failed\n", p.done, p.total, p.fail)
	}
}

func (p *restoreProgress) finish() {
	if p.tty && p.done > 0 {
		fmt.Fprintln(p.w)
	}
}
