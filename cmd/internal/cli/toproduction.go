package cli

import (
	"context"
	"errors"
	"filippo.io/age"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/fromconfig"
	"github.com/mediabackups/mediabackups/restore"
)

// toProductionHelp is the part of restore's --help about --to-production.
const toProductionHelp = `Into production (--to-production): each version goes back to its own
production container and path (Swift, or the upload directory: the wiki's
production block in the config), with the metadata MediaWiki writes
(Content-Type, and on Swift X-Object-Meta-Sha1base36 and an ETag that Swift
checks), so that MediaWiki serves it again. It is a DRY RUN unless --execute:
the dry run makes every check (the Swift login, the containers, each backup
read, decrypted and verified, what production holds) and says what it would
write. For each version:
  - production status public, archived or deleted only; a hard-deleted
    version is refused;
  - an object that is there with the right bytes is skipped; one with other
    bytes (damaged) is replaced only with --replace-damaged;
  - the write is logged (and synced) first, is atomic (an interruption,
    even kill -9, leaves no partial object: run the same command again to
    finish), and is read back and checked after.
A missing container is an error before anything is written, unless
--create-containers (it creates it with MediaWiki's ACLs, production.acl).
--from-audit FILE restores the missing and damaged versions that
'mediabackups audit --json' listed in FILE. --yes answers the question, but
is refused with --execute while stdin is a terminal.
It ends with the count of versions written, skipped and failed; exit 3 when
any failed or a damaged object was left as it is.`

// checkToProduction refuses flags that do not go together with (or
// without) --to-production. targetGiven says that --target was given.
func (o *RestoreOptions) checkToProduction(targetGiven bool) error {
	if !o.ToProduction {
		var only []string
		for _, f := range []struct {
			name string
			set  bool
		}{{"--execute", o.Execute}, {"--replace-damaged", o.ReplaceDamaged}, {"--create-containers", o.CreateContainers}, {"--from-audit", o.FromAudit != ""}} {
			if f.set {
				only = append(only, f.name)
			}
		}
		if len(only) > 0 {
			return withCode(ExitUsage, fmt.Errorf("%s only go(es) with --to-production", strings.Join(only, ", ")))
		}
		return nil
	}
	if targetGiven {
		return withCode(ExitUsage, errors.New("--to-production writes into the wiki's production store and --target into a local directory: give one of them"))
	}
	if o.FromAudit != "" {
		sf, err := o.methods()
		if err != nil {
			return err
		}
		if len(sf) > 0 || o.BatchFile != "" {
			return withCode(ExitUsage, errors.New("--from-audit selects the versions itself: give no search flag and no batch FILE with it"))
		}
	}
	return nil
}

// syncedLog is the session log as the Journal of a restore into
// production: a line recorded is on disk before the write it announces.
// Writers that record at the same time share one fsync (a group commit):
// each waits for a sync that began after its line was written.
type syncedLog struct {
	s *session

	mu      sync.Mutex
	cond    *sync.Cond
	syncing bool
	written uint64 // lines recorded
	synced  uint64 // lines known to be on disk
	err     error  // the first failed sync; every later Record fails
}

func newSyncedLog(s *session) *syncedLog {
	j := &syncedLog{s: s}
	j.cond = sync.NewCond(&j.mu)
	return j
}

// Record implements restore.Journal.
func (j *syncedLog) Record(msg string, args ...any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.s.log.Info(msg, args...)
	j.written++
	mine := j.written
	for j.synced < mine && j.err == nil {
		if j.syncing {
			j.cond.Wait()
			continue
		}
		j.syncing = true
		upTo := j.written
		j.mu.Unlock()
		err := j.s.audit.sync()
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.err = fmt.Errorf("%w; nothing more is written into production", err)
		} else {
			j.synced = max(j.synced, upTo)
		}
		j.cond.Broadcast()
	}
	return j.err
}

// AuditSource describes the audit file a restore read its versions from.
type AuditSource struct {
	File       string    `json:"file"`
	Wiki       string    `json:"wiki"`
	CheckedAt  time.Time `json:"checked_at"`
	Missing    int       `json:"missing"`
	Damaged    int       `json:"damaged"`
	Unexpected int       `json:"unexpected"` // listed in the audit, not restore's business
}

// findFromAudit returns the missing and damaged versions of an audit file,
// after checking that the file is an audit report (audit.ReadReport), of
// the wiki asked for, and that each version it names is the metadata's.
// Any doubt refuses the whole file: nothing is written from a foreign,
// corrupted or stale report.
func (s *session) findFromAudit(ctx context.Context, path string) ([]metadata.File, *AuditSource, error) {
	refuse := func(err error) error {
		return withCode(ExitUsage, fmt.Errorf("--from-audit %s: %w; nothing was written", path, err))
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, refuse(err)
	}
	defer fh.Close()
	rep, err := audit.ReadReport(fh)
	if err != nil {
		return nil, nil, refuse(err)
	}
	if s.o.Wiki != "" && s.o.Wiki != rep.Wiki {
		return nil, nil, refuse(fmt.Errorf("it is the audit of wiki %s, not of %s", rep.Wiki, s.o.Wiki))
	}
	wikiID, err := s.wikiID(ctx, rep.Wiki)
	if err != nil {
		return nil, nil, refuse(fmt.Errorf("it is the audit of wiki %s: %w", rep.Wiki, err))
	}
	src := &AuditSource{File: path, Wiki: rep.Wiki, CheckedAt: rep.CheckedAt}
	var ids []int64
	var wanted []audit.Problem
	for _, p := range rep.Problems {
		switch p.Problem {
		case audit.Missing, audit.Damaged:
			ids = append(ids, p.ID)
			wanted = append(wanted, p)
			if p.Problem == audit.Missing {
				src.Missing++
			} else {
				src.Damaged++
			}
		default:
			src.Unexpected++
		}
	}
	s.log.Info("audit file", "path", path, "wiki", rep.Wiki, "checked_at", rep.CheckedAt.UTC().Format(time.RFC3339),
		"age", time.Since(rep.CheckedAt).Round(time.Second).String(), "missing", src.Missing, "damaged", src.Damaged, "unexpected", src.Unexpected)
	if src.Unexpected > 0 {
		s.log.Info("the audit's unexpected objects are no version's: restore leaves them alone", "unexpected", src.Unexpected)
	}
	files, err := s.store.FilesByID(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]metadata.File, len(files))
	for _, f := range files {
		byID[f.ID] = f
	}
	var bad []string
	out := make([]metadata.File, 0, len(wanted))
	seen := map[int64]bool{}
	for i, p := range wanted {
		f, ok := byID[p.ID]
		var why string
		switch {
		case !ok:
			why = fmt.Sprintf("no version has id %d", p.ID)
		case f.WikiID != wikiID:
			why = fmt.Sprintf("version %d is of wiki %s", p.ID, f.Wiki)
		case f.Title != p.Title || f.SHA1 != p.SHA1:
			why = fmt.Sprintf("version %d is %s with sha1 %s", p.ID, f.Title, f.SHA1)
		case f.Container != p.ProductionContainer || f.Path != p.ProductionPath:
			why = fmt.Sprintf("version %d is at %s/%s now", p.ID, f.Container, f.Path)
		}
		if why != "" {
			bad = append(bad, fmt.Sprintf("problem %d (%s, %s/%s): %s", i+1, printable(p.Title), p.ProductionContainer, p.ProductionPath, why))
			continue
		}
		if !seen[f.ID] {
			seen[f.ID] = true
			out = append(out, f)
		}
	}
	if n := len(bad); n > 0 {
		more := ""
		if n > 5 {
			more = fmt.Sprintf("\n  … and %d more", n-5)
			bad = bad[:5]
		}
		return nil, nil, refuse(fmt.Errorf("%d of its %d missing or damaged versions do not match the metadata:\n  %s%s\n"+
			"is it from another installation, or did the wiki change since the audit (%s)? Run `mediabackups audit --wiki %s --json` again",
			n, len(wanted), strings.Join(bad, "\n  "), more, rep.CheckedAt.UTC().Format(time.RFC3339), rep.Wiki))
	}
	return out, src, nil
}

// productionStores opens the production store of every wiki among files
// (which checks the key file and logs in), and checks that each container
// the files go to exists, or may be created. Nothing is written.
func (s *session) productionStores(ctx context.Context, files []metadata.File, opts *RestoreOptions) (map[string]restore.ProductionStore, error) {
	stores := map[string]restore.ProductionStore{}
	byWiki := map[string][]metadata.File{}
	for _, f := range files {
		byWiki[f.Wiki] = append(byWiki[f.Wiki], f)
	}
	for _, name := range metadata.SortedKeys(byWiki) {
		w, err := s.cfg.Wiki(name)
		if err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("wiki %s is in the metadata but not in the config: add it, with its production block", name))
		}
		if w.Production == nil {
			return nil, withCode(ExitUsage, fmt.Errorf("wiki %s has no production block in the config: add one (type swift or filesystem, see the README) to restore into production", name))
		}
		if opts.CreateContainers && w.Production.Type == config.ProductionSwift && w.Production.ACL == nil {
			return nil, withCode(ExitUsage, fmt.Errorf("--create-containers: wiki %s has no production.acl in the config, so containers cannot be created as MediaWiki would (copy the ACLs from `swift stat` of an existing public and deleted container)", name))
		}
		st, err := fromconfig.Open(ctx, s.cfg, w)
		if err != nil {
			return nil, err
		}
		s.log.Info("production store", "wiki", name, "store", st.String())
		stores[name] = st
		missing, err := missingContainers(ctx, st, byWiki[name], opts.Parallel)
		if err != nil {
			return nil, err
		}
		if len(missing) == 0 {
			continue
		}
		if opts.CreateContainers {
			s.log.Info("containers do not exist and will be created with MediaWiki's ACLs before the first write into each", "wiki", name, "containers", strings.Join(missing, " "))
			continue
		}
		list := missing
		if len(list) > 10 {
			list = append(list[:10:10], fmt.Sprintf("… (%d in all)", len(missing)))
		}
		hint := "create the directory with the mode and owner of its parent"
		if w.Production.Type == config.ProductionSwift {
			hint = "`swift post -r READ_ACL -w WRITE_ACL CONTAINER`, with the ACLs that `swift stat` shows for another container of the same zone"
		}
		return nil, fmt.Errorf("%d production container(s) of wiki %s do not exist in %s: %s\n"+
			"MediaWiki creates a container on its first write there, never on a read, so the lost files stay lost until it exists again. "+
			"Run the same command with --create-containers to create them as MediaWiki would (with production.acl), or create them yourself (%s); nothing was written",
			len(missing), name, st.String(), strings.Join(list, ", "), hint)
	}
	return stores, nil
}

// missingContainers returns the containers files go to that do not exist,
// sorted. One object of each container is looked at, parallel at a time.
func missingContainers(ctx context.Context, st production.Store, files []metadata.File, parallel int) ([]string, error) {
	probe := map[string]string{} // container → a path in it
	for _, f := range files {
		if _, ok := probe[f.Container]; !ok && production.CheckPlace(f.Container, f.Path) == nil {
			probe[f.Container] = f.Path
		}
	}
	var (
		mu      sync.Mutex
		missing []string
		errs    []error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, max(1, parallel))
	for c, p := range probe {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := st.Stat(ctx, c, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil, errors.Is(err, production.ErrObjectNotFound):
			case errors.Is(err, production.ErrContainerNotFound):
				missing = append(missing, c)
			default:
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("check the production containers: %w", errs[0])
	}
	sort.Strings(missing)
	return missing, nil
}

// restoreToProductionRun is `restore --to-production`.
func restoreToProductionRun(ctx context.Context, opts *RestoreOptions) (err error) {
	s, err := opts.openSession(ctx)
	if err != nil {
		return err
	}
	defer func() { s.close(err) }()
	f := s.f
	banner := func() {
		if !opts.Execute {
			fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing will be written into production; run again with --execute to write."))
		} else {
			fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "EXECUTE: the versions will be written into production."))
		}
	}
	banner()
	s.log.Info("mode", "to_production", true, "dry_run", !opts.Execute, "replace_damaged", opts.ReplaceDamaged, "create_containers", opts.CreateContainers)
	ask := false
	if opts.Execute {
		if ask, err = confirmPolicy(opts.canPrompt(), f.stdinIsTerminal(), opts.Yes, true); err != nil {
			return err
		}
	} else {
		ask = opts.canPrompt() && !opts.Yes
	}
	// The matches are read twice, a page at a time, so that memory does
	// not grow with their number (a whole wiki, or years of uploads): to
	// show them and learn which wikis and containers they need, then, once
	// confirmed, to restore them. An audit's report is read once.
	var (
		each  = s.find
		batch *BatchCounts
		src   *AuditSource
	)
	if opts.FromAudit != "" {
		var listed []metadata.File
		if listed, src, err = s.findFromAudit(ctx, opts.FromAudit); err != nil {
			return err
		}
		each = func(_ context.Context, emit func([]metadata.File) error) (*BatchCounts, error) {
			if len(listed) == 0 {
				return nil, nil
			}
			return nil, emit(listed)
		}
	}
	shown := s.newMatchPrinter(f.IO.Out, false)
	places := newPlaceSample()
	var ids []age.Identity
	batch, err = each(ctx, func(files []metadata.File) error {
		places.add(files)
		if ids == nil {
			var err error
			if ids, err = s.identities(files); err != nil {
				return err
			}
		}
		return shown.print(files)
	})
	if err != nil {
		return err
	}
	total := shown.n
	if total == 0 {
		if src != nil {
			fmt.Fprintln(f.IO.ErrOut, "The audit lists no missing or damaged version: production is whole.")
			return nil
		}
		return s.notFound()
	}
	stores, err := s.productionStores(ctx, places.files(), opts)
	if err != nil {
		return err
	}
	servers, _, err := f.servers(s.cfg.Storage.Recovery, "recovery", opts.Timeout)
	if err != nil {
		return err
	}
	if ask {
		banner()
		q := fmt.Sprintf("Write %d file version(s) into production (each is checked first; correct objects are skipped)?", total)
		if !opts.Execute {
			q = fmt.Sprintf("Dry run: check what restoring %d file version(s) into production would do?", total)
		}
		if err := s.confirm(q); err != nil {
			return err
		}
	}
	s.log.Info("restore into production start", "files", total, "parallel", opts.Parallel)
	prog := newRestoreProgress(s.screen, total)
	target := &restore.Production{
		Stores:           stores,
		DryRun:           !opts.Execute,
		ReplaceDamaged:   opts.ReplaceDamaged,
		CreateContainers: opts.CreateContainers,
		Journal:          newSyncedLog(s),
		Log:              s.log,
	}
	r := s.restorer(servers, ids, target, opts.Parallel, prog)
	// Only --json keeps every version, for its result; the text output
	// and the log need the counts alone.
	out := ProductionRestoreResult{DryRun: !opts.Execute, Files: []ProductionFile{}, Failed: []FailedFile{}, Batch: batch, Audit: src}
	var (
		c       actionCounts
		nDone   int
		nFailed int
	)
	s.again = true
	_, err = each(ctx, func(files []metadata.File) error {
		done, failed := r.Restore(ctx, files)
		c.add(done)
		nDone, nFailed = nDone+len(done), nFailed+len(failed)
		for _, fe := range failed {
			s.log.Error("restore into production failed", "wiki", fe.File.Wiki, "file", fe.File.Title, "id", fe.File.ID,
				"container", fe.File.Container, "path", fe.File.Path, "step", fe.Step, "error", fe.Err.Error())
			if f.JSON {
				out.Failed = append(out.Failed, FailedFile{newMatch(fe.File), fe.Step, fe.Err.Error()})
			}
		}
		if f.JSON {
			for _, d := range done {
				out.Files = append(out.Files, ProductionFile{Match: newMatch(d.File), Place: d.Name, Action: d.Action})
			}
		}
		return ctx.Err()
	})
	prog.finish()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("restore into production stopped after %d done, %d failed: %w", nDone, nFailed, err)
	}
	if seen := nDone + nFailed; seen != total && ctx.Err() == nil {
		// The metadata changed between the two reads (a backup, update or
		// delete ran meanwhile): say so, and which count is the real one.
		s.log.Warn("the search matched another number of versions when they were restored than when they were shown: the versions restored are those counted below",
			"shown", total, "restored_or_failed", seen)
		total = seen
	}
	summary := c.summary(total, nFailed, !opts.Execute)
	s.log.Info(summary)
	if f.JSON {
		out.Total, out.Written, out.Replaced, out.Skipped, out.KeptDamaged = total, c.written+c.replaced, c.replaced, c.skipped+c.kept, c.kept
		if err := f.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(f.IO.Out, summary)
	}
	if !opts.Execute {
		fmt.Fprintln(f.IO.ErrOut, red(f.IO.ErrOut, "DRY RUN: nothing was written into production."))
	} else {
		s.remindOtherDCs("restore into production")
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("restore into production interrupted after %d of %d versions (no partial object is left: run the same command again to finish): %w",
			nDone, total, ctx.Err())
	case nFailed > 0 && !opts.Execute:
		return withCode(ExitPartial, fmt.Errorf("DRY RUN: %d of %d file version(s) would fail (see the ERROR lines in %s)", nFailed, total, s.logPath))
	case nFailed > 0:
		return withCode(ExitPartial, fmt.Errorf("%d of %d file version(s) failed (see the ERROR lines in %s); fix the cause and run the same command again: what is already correct in production is skipped",
			nFailed, total, s.logPath))
	case c.kept > 0 && !opts.Execute:
		return withCode(ExitPartial, fmt.Errorf("%d damaged object(s) in production would be left as they are (see the WARN lines in %s); add --replace-damaged to replace them",
			c.kept, s.logPath))
	case c.kept > 0:
		return withCode(ExitPartial, fmt.Errorf("%d damaged object(s) in production were left as they are (see the WARN lines in %s); run the same command with --replace-damaged to replace them",
			c.kept, s.logPath))
	case batch != nil && batch.Missing > 0:
		return withCode(ExitPartial, batchMissing(batch))
	}
	return nil
}

// actionCounts counts what a restore into production did, by action.
type actionCounts struct{ written, replaced, skipped, kept int }

// add counts what done did.
func (c *actionCounts) add(done []restore.Restored) {
	for _, d := range done {
		switch d.Action {
		case restore.Written, restore.WouldWrite:
			c.written++
		case restore.Replaced, restore.WouldReplace:
			c.replaced++
		case restore.Skipped:
			c.skipped++
		case restore.KeptDamaged:
			c.kept++
		}
	}
}

// placeSample keeps, of the matches shown, one version per wiki and
// production container (one whose place is valid, when there is one):
// what productionStores needs to open each wiki's store and look for its
// containers, in memory that grows with the containers, not the versions.
type placeSample struct {
	byPlace map[[2]string]metadata.File
	order   [][2]string
}

func newPlaceSample() *placeSample { return &placeSample{byPlace: map[[2]string]metadata.File{}} }

func (p *placeSample) add(files []metadata.File) {
	for _, f := range files {
		k := [2]string{f.Wiki, f.Container}
		old, ok := p.byPlace[k]
		switch {
		case !ok:
			p.order = append(p.order, k)
		case production.CheckPlace(old.Container, old.Path) == nil || production.CheckPlace(f.Container, f.Path) != nil:
			continue
		}
		p.byPlace[k] = f
	}
}

func (p *placeSample) files() []metadata.File {
	out := make([]metadata.File, 0, len(p.order))
	for _, k := range p.order {
		out = append(out, p.byPlace[k])
	}
	return out
}

// summary is the last line of a restore into production.
func (c actionCounts) summary(total, failed int, dryRun bool) string {
	s := fmt.Sprintf("%d file version(s) into production: %d written (%d missing, %d damaged replaced), %d skipped (%d already correct, %d damaged left as they are), %d failed",
		total, c.written+c.replaced, c.written, c.replaced, c.skipped+c.kept, c.skipped, c.kept, failed)
	if dryRun {
		return "DRY RUN, nothing written; it would do: " + s
	}
	return s
}
