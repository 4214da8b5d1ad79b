package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/production"
)

// Production is the part of a production store an audit reads
// (production.Store has it). An audit never writes to production.
type Production interface {
	Containers(ctx context.Context, prefix string, fn func(name string) error) error
	Objects(ctx context.Context, container, after string, fn func(production.Object) error) error
	Stat(ctx context.Context, container, name string) (production.Object, error)
	Open(ctx context.Context, container, name string) (io.ReadCloser, production.Object, error)
	String() string
}

// Metadata is what an audit reads from the metadata and records there
// (metadata.Store has it).
type Metadata interface {
	AuditContainers(ctx context.Context, wikiID int64) ([]string, error)
	AuditVersions(ctx context.Context, wikiID int64, container string, after metadata.AuditKey, limit int) ([]metadata.AuditVersion, error)
	StartAudit(ctx context.Context, wikiID int64, started time.Time, host string) (metadata.AuditRun, *metadata.AuditRun, error)
	RecordAudit(ctx context.Context, run metadata.AuditRun, results []metadata.AuditResult) error
	RecordUnexpected(ctx context.Context, run metadata.AuditRun, objs []metadata.UnexpectedObject) ([]bool, error)
	FinishAuditContainer(ctx context.Context, run metadata.AuditRun, container string, present bool, checked time.Time, c metadata.AuditCounts) (int64, error)
	FinishAudit(ctx context.Context, run metadata.AuditRun, finished time.Time, c metadata.AuditCounts) error
}

// Errors of the checks Run makes before it records anything.
var (
	// ErrNoVersions: the metadata knows no version of the wiki.
	ErrNoVersions = errors.New("the metadata has no versions of this wiki")
	// ErrNoContainers: production has none of the wiki's containers.
	ErrNoContainers = errors.New("production has none of the wiki's containers")
)

// Defaults of Options.
const (
	DefaultParallel   = 4
	DefaultPageSize   = 5000
	DefaultReadBudget = 10 << 30
)

// Options configures Run.
type Options struct {
	// Wiki is the wiki's name (the config's) and WikiID its id in the
	// metadata.
	Wiki   string
	WikiID int64
	// Containers names the wiki's production containers; only its Project
	// and Lang are used: the audit walks every container production lists
	// as "<project>-<lang>-local-public[.<shard>]" or "-local-deleted[…]",
	// sharded or not, and every container the metadata names.
	Containers mediawiki.Containers
	// Parallel is how many containers are walked at once, and how many
	// objects are checked (HEAD, or read and hashed) at once. Default
	// DefaultParallel.
	Parallel int
	// PageSize is how many versions one metadata read returns. Default
	// DefaultPageSize.
	PageSize int
	// ReadBudget is how many bytes a run may read from a store that lists
	// md5s (Swift) to check versions whose md5 is unknown and whose sha1
	// header does not vouch for the object. 0 means DefaultReadBudget; a
	// negative value reads nothing. Objects of a store that lists no md5
	// (the filesystem) are always read.
	ReadBudget int64
	// MetadataAsOf is when the metadata was last brought up to date with
	// production (the start of the last inventory or update); zero when
	// unknown. Unexpected objects stored after it get a note.
	MetadataAsOf time.Time
	// Host names this machine in the audits table.
	Host string
	// Progress, when set, is called every ProgressEvery (default 1 s)
	// while the audit runs, and once at its end, from one goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Logger receives retries and per-container debug lines.
	Logger *slog.Logger
	// now is the clock (tests).
	now func() time.Time
}

// Progress is where a running audit is.
type Progress struct {
	Containers     int // walked to their end
	ContainersAll  int
	Objects        int64 // listed
	Versions       int64 // compared
	Problems       int64
	Read, ReadSize int64 // objects read and hashed, and their bytes
	Elapsed        time.Duration
}

// Finding is a Problem with what the last audit knew of it.
type Finding struct {
	Problem
	// New: the last audit did not find this (it found the version fine,
	// or in another state, or did not see the object, or there was none).
	New bool
	// Since is when an audit first found it.
	Since time.Time
}

// Changes compares a run with the last finished audit of the wiki.
type Changes struct {
	New       int64 // problems the last audit did not report (all of them on a first audit)
	Unchanged int64 // problems it reported too
	// Fixed: versions it reported missing or damaged that are fine now,
	// and unexpected objects it reported that are gone or explained.
	Fixed int64
}

// Checks says how the versions found whole were compared, and what the
// run read.
type Checks struct {
	MD5      int64 // by the md5 in the listing (or the HEAD of an unlisted version)
	Header   int64 // by X-Object-Meta-Sha1base36 (and the md5 then recorded)
	Read     int64 // read and hashed
	SizeOnly int64 // by size only (see Report.SizeOnly)
	// ObjectsRead and BytesRead count every object read and hashed,
	// whole or damaged.
	ObjectsRead, BytesRead int64
	Learned                int64 // versions whose md5 the run recorded
	// Unlisted counts versions whose object the listing did not show but a
	// HEAD found: a listing that lags behind (Swift updates it after the
	// write, and later still when the update timed out).
	Unlisted int64
}

// Result is the outcome of a Run.
type Result struct {
	// Report is what `audit --json` prints and restore --from-audit reads.
	Report Report
	// Findings are Report.Problems with their history, in the same order.
	Findings []Finding
	// Previous is the last finished audit before this one; nil: the first.
	Previous *metadata.AuditRun
	Changes  Changes
	Checks   Checks
	Counts   metadata.AuditCounts
	Elapsed  time.Duration
}

// Lost is how many versions production lost or damaged.
func (r *Result) Lost() int64 { return r.Counts.Missing + r.Counts.Damaged }

// Run audits one wiki: it checks that the metadata knows versions of the
// wiki and that production has at least one of its containers (else
// ErrNoVersions or ErrNoContainers, and nothing is recorded), records the
// start of a run, walks every container (see the package comment), records
// what it found and returns it. Any error of production or of the metadata
// ends the run with that error (listing pages and object checks are tried
// three times first); what was recorded until then stays, and the run is
// left unfinished in the audits table.
func Run(ctx context.Context, prod Production, meta Metadata, opts Options) (*Result, error) {
	opts.defaults()
	a := &auditor{prod: prod, meta: meta, opts: opts, budget: opts.ReadBudget}
	return a.run(ctx)
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.ReadBudget == 0 {
		o.ReadBudget = DefaultReadBudget
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
}

type auditor struct {
	prod Production
	meta Metadata
	opts Options
	run_ metadata.AuditRun

	budget int64 // bytes left to read (atomic)

	// live counters for Progress
	containersDone, objects, versions, problems, read, readSize atomic.Int64

	mu       sync.Mutex
	findings []Finding
	counts   metadata.AuditCounts
	checks   Checks
	changes  Changes
}

// zones are the containers' zones an audit walks: where versions live.
var zones = []string{"public", "deleted"}

func (a *auditor) run(ctx context.Context) (*Result, error) {
	start := a.opts.now()
	wikiID := a.opts.Containers.Project + "-" + a.opts.Containers.Lang
	known, err := a.meta.AuditContainers(ctx, a.opts.WikiID)
	if err != nil {
		return nil, err
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("audit of %s: %w: run `mediabackups inventory --wiki %s` first", a.opts.Wiki, ErrNoVersions, a.opts.Wiki)
	}
	present := map[string]bool{}
	for _, z := range zones {
		prefix := production.ContainerName{WikiID: wikiID, Repo: "local", Zone: z}.String()
		err := a.prod.Containers(ctx, prefix, func(name string) error {
			c, err := production.ParseContainer(name)
			if err == nil && c.WikiID == wikiID && c.Repo == "local" && c.Zone == z {
				present[name] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("audit of %s: list the containers %s* of %s: %w", a.opts.Wiki, prefix, a.prod, err)
		}
	}
	if len(present) == 0 {
		return nil, fmt.Errorf("audit of %s: %w: %s has no container %s-local-public* or %s-local-deleted*; "+
			"check the wiki's project, lang and shards, and its production block (the Swift account, or the directories), in the config",
			a.opts.Wiki, ErrNoContainers, a.prod, wikiID, wikiID)
	}
	all := map[string]bool{}
	for c := range present {
		all[c] = true
	}
	for _, c := range known {
		all[c] = true
	}
	containers := make([]string, 0, len(all))
	for c := range all {
		containers = append(containers, c)
	}
	slices.Sort(containers)

	run, prev, err := a.meta.StartAudit(ctx, a.opts.WikiID, start, a.opts.Host)
	if err != nil {
		return nil, err
	}
	a.run_ = run
	stopProgress := a.progress(len(containers), start)
	err = a.walkAll(ctx, containers, present)
	stopProgress()
	if err != nil {
		return nil, err
	}
	a.counts.Containers = int64(len(containers))
	a.counts.SizeOnly = a.checks.SizeOnly
	// The run is over: record its end even if the operator interrupts now.
	if err := a.meta.FinishAudit(context.WithoutCancel(ctx), run, a.opts.now(), a.counts); err != nil {
		return nil, err
	}
	slices.SortFunc(a.findings, func(x, y Finding) int {
		return cmp.Or(cmp.Compare(x.ProductionContainer, y.ProductionContainer), cmp.Compare(x.ProductionPath, y.ProductionPath),
			cmp.Compare(x.ID, y.ID))
	})
	res := &Result{
		Report: Report{Wiki: a.opts.Wiki, CheckedAt: run.Started, Versions: a.counts.Versions, SizeOnly: a.checks.SizeOnly, Unlisted: a.checks.Unlisted,
			Problems: make([]Problem, 0, len(a.findings)),
			Counts:   map[string]int64{Missing: a.counts.Missing, Damaged: a.counts.Damaged, Unexpected: a.counts.Unexpected}},
		Findings: a.findings, Previous: prev, Changes: a.changes, Checks: a.checks, Counts: a.counts,
		Elapsed: a.opts.now().Sub(start),
	}
	for _, f := range a.findings {
		res.Report.Problems = append(res.Report.Problems, f.Problem)
	}
	return res, nil
}

// progress calls Options.Progress every ProgressEvery until the returned
// func is called, which calls it once more.
func (a *auditor) progress(total int, start time.Time) func() {
	if a.opts.Progress == nil {
		return func() {}
	}
	snap := func() Progress {
		return Progress{Containers: int(a.containersDone.Load()), ContainersAll: total, Objects: a.objects.Load(),
			Versions: a.versions.Load(), Problems: a.problems.Load(), Read: a.read.Load(), ReadSize: a.readSize.Load(),
			Elapsed: a.opts.now().Sub(start)}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(a.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				a.opts.Progress(snap())
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		a.opts.Progress(snap())
	}
}

// walkAll walks the containers, Parallel at a time, with Parallel checkers
// for the objects that need a request of their own.
func (a *auditor) walkAll(ctx context.Context, containers []string, present map[string]bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job, 2*a.opts.Parallel)
	var checkers sync.WaitGroup
	for range a.opts.Parallel {
		checkers.Add(1)
		go func() {
			defer checkers.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					j.c.jobDone(nil)
					continue
				}
				r, err := a.check(ctx, j)
				if err != nil {
					cancel(err)
				}
				j.c.jobDone(r)
			}
		}()
	}
	names := make(chan string)
	var walkers sync.WaitGroup
	for range a.opts.Parallel {
		walkers.Add(1)
		go func() {
			defer walkers.Done()
			for name := range names {
				if err := a.walk(ctx, name, present[name], jobs); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, c := range containers {
		select {
		case names <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(names)
	walkers.Wait()
	close(jobs)
	checkers.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// auditBatch is how many results a container's walk gathers before it
// records them.
const auditBatch = 500

// attempts is how often a listing page or an object check is tried.
const attempts = 3

// retry runs fn until it succeeds, attempts times, with a pause between;
// errors of a missing container or object, of a refused login, of an
// invalid name and of the callback (stop) are not retried.
func (a *auditor) retry(ctx context.Context, what string, fn func() error) error {
	var err error
	for i := 1; ; i++ {
		err = fn()
		var s stop
		if err == nil || errors.As(err, &s) || ctx.Err() != nil || i == attempts ||
			errors.Is(err, production.ErrContainerNotFound) || errors.Is(err, production.ErrObjectNotFound) ||
			errors.Is(err, production.ErrAccessDenied) || errors.Is(err, production.ErrInvalidName) {
			return err
		}
		a.opts.Logger.Warn("audit: retrying", "what", what, "attempt", i, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i) * time.Second):
		}
	}
}

// stop carries an error of the merge out of a listing callback.
type stop struct{ err error }

func (s stop) Error() string { return s.err.Error() }

// container is the state of one container's walk: its counts and its
// results waiting to be recorded. Checkers finish its versions
// concurrently with the walk.
type container struct {
	a       *auditor
	name    string
	zone    string // public or deleted
	present bool
	pending sync.WaitGroup

	mu         sync.Mutex
	counts     metadata.AuditCounts
	results    []metadata.AuditResult
	unexpected []metadata.UnexpectedObject
	err        error
}

// job is a version whose object needs a request of its own to be compared.
type job struct {
	c    *container
	v    metadata.AuditVersion
	o    production.Object
	read bool // read and hash (else: HEAD first)
	// unlisted: the listing did not show the object; a HEAD says whether
	// it is missing or listed late (o is then unset).
	unlisted bool
}

// outcome is what was found about one version.
type outcome struct {
	v      metadata.AuditVersion
	status metadata.AuditStatus
	detail string
	how    string // "md5", "header", "read", "size"
	md5    string // learned
	size   int64  // bytes read
	// unlisted: found by a HEAD where the listing showed nothing.
	unlisted bool
}

func (a *auditor) walk(ctx context.Context, name string, present bool, jobs chan<- job) error {
	c := &container{a: a, name: name, present: present}
	if cn, err := production.ParseContainer(name); err == nil {
		c.zone = cn.Zone
	}
	vs := &versions{a: a, container: name}
	if present {
		last, listed := "", false
		err := a.retry(ctx, "list "+name, func() error {
			return a.prod.Objects(ctx, name, last, func(o production.Object) error {
				if listed && o.Name <= last {
					return stop{fmt.Errorf("audit of %s: %s listed %q after %q: not in byte order, so the audit cannot merge it with the metadata", a.opts.Wiki, name, o.Name, last)}
				}
				last, listed = o.Name, true
				c.mu.Lock()
				c.counts.Objects++
				c.mu.Unlock()
				a.objects.Add(1)
				if err := c.object(ctx, vs, o, jobs); err != nil {
					return stop{err}
				}
				if err := c.flush(ctx, auditBatch); err != nil {
					return stop{err}
				}
				return nil
			})
		})
		var s stop
		switch {
		case errors.As(err, &s):
			return s.err
		case errors.Is(err, production.ErrContainerNotFound):
			return fmt.Errorf("audit of %s: container %s went away while it was listed: %w; audit again", a.opts.Wiki, name, err)
		case err != nil:
			return fmt.Errorf("audit of %s: list %s: %w", a.opts.Wiki, name, err)
		}
	}
	// What is left of the versions sorts after every object: missing.
	for {
		v, ok, err := vs.next(ctx)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if v.Status != metadata.HardDeleted {
			c.unlisted(ctx, v, jobs)
		}
		if err := c.flush(ctx, auditBatch); err != nil {
			return err
		}
	}
	c.pending.Wait()
	if ctx.Err() != nil {
		return nil // the cause is reported by walkAll
	}
	return c.finish(ctx)
}

// object merges one listed object with the versions: those before it are
// missing, those at its place are compared with it, and without any it is
// unexpected.
func (c *container) object(ctx context.Context, vs *versions, o production.Object, jobs chan<- job) error {
	var here []metadata.AuditVersion
	for {
		v, ok, err := vs.peek(ctx)
		if err != nil {
			return err
		}
		if !ok || v.Path > o.Name {
			break
		}
		vs.skip()
		switch {
		case v.Path == o.Name:
			here = append(here, v)
		case v.Status != metadata.HardDeleted:
			c.unlisted(ctx, v, jobs)
		}
	}
	var erased []string
	live := 0
	for _, v := range here {
		if v.Status == metadata.HardDeleted {
			erased = append(erased, fmt.Sprint(v.ID))
			continue
		}
		live++
		c.a.versions.Add(1)
		c.compare(ctx, v, o, jobs)
	}
	if live == 0 {
		c.addUnexpected(o, erased)
	}
	return nil
}

// compare compares one version with the object at its place: at once when
// the listing says enough, else through a job.
func (c *container) compare(ctx context.Context, v metadata.AuditVersion, o production.Object, jobs chan<- job) {
	if r := quick(v, o); r != nil {
		c.done(r)
		return
	}
	c.queue(ctx, jobs, job{c: c, v: v, o: o, read: o.MD5 == ""})
}

// unlisted handles a version whose place the listing passed without an
// object there. Its container missing, it is missing; else a HEAD decides
// (job.unlisted), because a listing can lag behind the objects.
func (c *container) unlisted(ctx context.Context, v metadata.AuditVersion, jobs chan<- job) {
	c.a.versions.Add(1)
	if !c.present {
		c.done(c.missingOutcome(v))
		return
	}
	c.queue(ctx, jobs, job{c: c, v: v, unlisted: true})
}

// queue hands j to a checker, unless the run is ending.
func (c *container) queue(ctx context.Context, jobs chan<- job, j job) {
	c.pending.Add(1)
	select {
	case jobs <- j:
	case <-ctx.Done():
		c.pending.Done()
	}
}

// quick is the outcome of comparing v with o as a listing (or a HEAD)
// describes it, when that says enough: sizes, then md5s. Nil: a request of
// its own must decide.
func quick(v metadata.AuditVersion, o production.Object) *outcome {
	switch {
	case o.Size != v.Size:
		return &outcome{v: v, status: metadata.AuditDamaged, detail: fmt.Sprintf("size %d, want %d", o.Size, v.Size)}
	case o.MD5 != "" && v.MD5 != "" && strings.EqualFold(o.MD5, v.MD5):
		return &outcome{v: v, status: metadata.AuditOK, how: "md5"}
	case o.MD5 != "" && v.MD5 != "":
		return &outcome{v: v, status: metadata.AuditDamaged, detail: fmt.Sprintf("md5 %s, want %s", o.MD5, v.MD5)}
	}
	return nil
}

// check does a job: a HEAD for an object the listing did not show, or for
// the sha1 header, or a read, or these in turn.
func (a *auditor) check(ctx context.Context, j job) (*outcome, error) {
	r, err := a.checkObject(ctx, j)
	if r != nil && j.unlisted && r.status != metadata.AuditMissing {
		note := "not in the listing of " + j.c.name + " when the audit read it, but there when asked for"
		if r.detail != "" {
			note = r.detail + "; " + note
		}
		r.detail, r.unlisted = note, true
	}
	return r, err
}

// checkObject is check without the note on a listing that lagged.
func (a *auditor) checkObject(ctx context.Context, j job) (*outcome, error) {
	v, o, name := j.v, j.o, j.c.name
	want36, err := mediawiki.SHA1HexToBase36(v.SHA1)
	if err != nil {
		return nil, fmt.Errorf("audit of %s: version %d (%s): %w", a.opts.Wiki, v.ID, v.Title, err)
	}
	header := ""
	if !j.read {
		var st production.Object
		path := v.Path
		err := a.retry(ctx, "stat "+name+"/"+path, func() (err error) {
			st, err = a.prod.Stat(ctx, name, path)
			return err
		})
		switch {
		case (errors.Is(err, production.ErrObjectNotFound) || errors.Is(err, production.ErrContainerNotFound)) && j.unlisted:
			return j.c.missingOutcome(v), nil
		case errors.Is(err, production.ErrObjectNotFound) || errors.Is(err, production.ErrContainerNotFound):
			return &outcome{v: v, status: metadata.AuditMissing, detail: "deleted while the audit ran"}, nil
		case err != nil:
			return nil, fmt.Errorf("audit of %s: %w", a.opts.Wiki, err)
		}
		if j.unlisted {
			o = st
			if r := quick(v, o); r != nil {
				return r, nil
			}
		}
		header = st.SHA1Base36
		switch {
		case header == want36 && st.Size == v.Size:
			md5 := st.MD5
			if md5 == "" {
				md5 = o.MD5
			}
			return &outcome{v: v, status: metadata.AuditOK, how: "header", detail: "checked by its X-Object-Meta-Sha1base36", md5: md5}, nil
		case o.MD5 == "":
			// A store that lists no md5 (the filesystem) is read, outside
			// the budget; only an unlisted version gets here.
		case !a.spend(o.Size):
			if header != "" {
				return &outcome{v: v, status: metadata.AuditDamaged, how: "header",
					detail: fmt.Sprintf("X-Object-Meta-Sha1base36 %s, want %s (not read: read budget spent)", header, want36)}, nil
			}
			return &outcome{v: v, status: metadata.AuditOK, how: "size",
				detail: "only its size was compared: no md5 known, no sha1 header, read budget spent"}, nil
		}
	}
	var sums production.Sums
	err = a.retry(ctx, "read "+name+"/"+o.Name, func() (err error) {
		_, sums, err = production.Checksum(ctx, a.prod, name, o.Name)
		return err
	})
	switch {
	case errors.Is(err, production.ErrObjectNotFound) || errors.Is(err, production.ErrContainerNotFound):
		return &outcome{v: v, status: metadata.AuditMissing, detail: "deleted while the audit ran"}, nil
	case err != nil:
		return nil, fmt.Errorf("audit of %s: %w", a.opts.Wiki, err)
	}
	a.read.Add(1)
	a.readSize.Add(sums.Size)
	out := &outcome{v: v, how: "read", size: sums.Size}
	switch {
	case sums.Size != v.Size:
		out.status, out.detail = metadata.AuditDamaged, fmt.Sprintf("size %d, want %d", sums.Size, v.Size)
	case sums.SHA1 != v.SHA1:
		out.status, out.detail = metadata.AuditDamaged, fmt.Sprintf("sha1 %s, want %s", sums.SHA1, v.SHA1)
	case v.MD5 != "" && sums.MD5 != v.MD5:
		out.status, out.detail = metadata.AuditDamaged, fmt.Sprintf("md5 %s, want %s", sums.MD5, v.MD5)
	default:
		out.status, out.md5 = metadata.AuditOK, sums.MD5
		if header != "" && header != want36 {
			out.detail = fmt.Sprintf("read: the bytes are right, but X-Object-Meta-Sha1base36 is %s", header)
		}
	}
	return out, nil
}

// spend takes n bytes from the read budget; false when they are not there.
func (a *auditor) spend(n int64) bool {
	for {
		left := atomic.LoadInt64(&a.budget)
		if left < n {
			return false
		}
		if atomic.CompareAndSwapInt64(&a.budget, left, left-n) {
			return true
		}
	}
}

// missingOutcome is the finding for a version with no object at its place.
func (c *container) missingOutcome(v metadata.AuditVersion) *outcome {
	detail := "not in production"
	if !c.present {
		detail = "its container " + c.name + " does not exist"
	}
	if v.BackupStatus == metadata.Gone {
		detail += " (the backup found it gone already: status gone)"
	}
	return &outcome{v: v, status: metadata.AuditMissing, detail: detail}
}

// jobDone takes the outcome of a job (nil: abandoned, the run is ending).
func (c *container) jobDone(r *outcome) {
	defer c.pending.Done()
	if r != nil {
		c.done(r)
	}
}

// done counts the outcome of a version and queues what must be recorded:
// only what changed since the last audit, and an md5 learned.
func (c *container) done(r *outcome) {
	a, v := c.a, r.v
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts.Versions++
	switch r.status {
	case metadata.AuditMissing:
		c.counts.Missing++
	case metadata.AuditDamaged:
		c.counts.Damaged++
	}
	learn := r.status == metadata.AuditOK && r.md5 != "" && v.MD5 == ""
	changed := r.status != v.Audit
	a.mu.Lock()
	switch {
	case r.how == "md5":
		a.checks.MD5++
	case r.how == "header" && r.status == metadata.AuditOK:
		a.checks.Header++
	case r.how == "size":
		a.checks.SizeOnly++
	}
	if r.how == "read" {
		a.checks.ObjectsRead++
		a.checks.BytesRead += r.size
		if r.status == metadata.AuditOK {
			a.checks.Read++
		}
	}
	if learn {
		a.checks.Learned++
	}
	if r.unlisted {
		a.checks.Unlisted++
	}
	if r.status != metadata.AuditOK {
		a.problems.Add(1)
		f := Finding{
			Problem: Problem{ID: v.ID, Wiki: a.opts.Wiki, Title: v.Title, Status: string(v.Status), ProductionContainer: c.name,
				ProductionPath: v.Path, SHA1: v.SHA1, Problem: string(r.status), Detail: r.detail, BackupOK: v.BackupOK},
			New: changed, Since: v.AuditSince,
		}
		if changed {
			f.Since = a.run_.Started
			a.changes.New++
		} else {
			a.changes.Unchanged++
		}
		a.findings = append(a.findings, f)
	} else if v.Audit == metadata.AuditMissing || v.Audit == metadata.AuditDamaged {
		a.changes.Fixed++
	}
	a.mu.Unlock()
	if changed || r.detail != v.AuditDetail || learn {
		res := metadata.AuditResult{FileID: v.ID, Status: r.status, Detail: r.detail, Changed: changed}
		if learn {
			res.MD5 = r.md5
		}
		c.results = append(c.results, res)
	}
}

// addUnexpected queues an object no version is at. erased are the ids of
// hard-deleted versions at its place.
func (c *container) addUnexpected(o production.Object, erased []string) {
	a := c.a
	detail := "no version is at this place"
	switch {
	case len(erased) > 0:
		detail = "the bytes of hard-deleted version " + strings.Join(erased, ", ") + " are still here"
	case !a.opts.MetadataAsOf.IsZero() && o.Modified.After(a.opts.MetadataAsOf):
		detail = fmt.Sprintf("stored %s, after the metadata was last brought up to date (%s): a new upload? "+
			"run `mediabackups update --wiki %s`, then audit again", fmtTime(o.Modified), fmtTime(a.opts.MetadataAsOf), a.opts.Wiki)
	case c.zone == "deleted":
		detail = "no version is at this place: a deleted version the metadata does not know? (inventory cannot see " +
			"revision-deleted versions; `mediabackups update` learns them from the log)"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts.Unexpected++
	a.problems.Add(1)
	c.unexpected = append(c.unexpected, metadata.UnexpectedObject{Container: c.name, Path: o.Name, Size: o.Size, MD5: o.MD5,
		Modified: o.Modified, Detail: fmt.Sprintf("size %d: %s", o.Size, detail)})
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// flush records the queued results and unexpected objects when there are
// at least min of them (0: all). Only the walker of the container calls it.
func (c *container) flush(ctx context.Context, least int) error {
	a := c.a
	c.mu.Lock()
	var results []metadata.AuditResult
	var unexpected []metadata.UnexpectedObject
	if len(c.results) > 0 && len(c.results) >= least {
		results, c.results = c.results, nil
	}
	if len(c.unexpected) > 0 && len(c.unexpected) >= least {
		unexpected, c.unexpected = c.unexpected, nil
	}
	c.mu.Unlock()
	if len(results) > 0 {
		if err := a.meta.RecordAudit(ctx, a.run_, results); err != nil {
			return fmt.Errorf("audit of %s: %w", a.opts.Wiki, err)
		}
	}
	if len(unexpected) == 0 {
		return nil
	}
	seen, err := a.meta.RecordUnexpected(ctx, a.run_, unexpected)
	if err != nil {
		return fmt.Errorf("audit of %s: %w", a.opts.Wiki, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, o := range unexpected {
		a.findings = append(a.findings, Finding{
			Problem: Problem{Wiki: a.opts.Wiki, ProductionContainer: o.Container, ProductionPath: o.Path, Problem: Unexpected, Detail: o.Detail},
			New:     !seen[i], Since: o.FirstSeen,
		})
		if seen[i] {
			a.changes.Unchanged++
		} else {
			a.changes.New++
		}
	}
	return nil
}

// finish records the end of the container's walk, once every version of
// it is done.
func (c *container) finish(ctx context.Context) error {
	a := c.a
	if err := c.flush(ctx, 0); err != nil {
		return err
	}
	gone, err := a.meta.FinishAuditContainer(ctx, a.run_, c.name, c.present, a.run_.Started, c.counts)
	if err != nil {
		return fmt.Errorf("audit of %s: %w", a.opts.Wiki, err)
	}
	a.mu.Lock()
	a.changes.Fixed += gone
	a.counts.Add(c.counts)
	a.mu.Unlock()
	a.containersDone.Add(1)
	a.opts.Logger.Debug("audit: container done", "container", c.name, "present", c.present, "objects", c.counts.Objects,
		"versions", c.counts.Versions, "missing", c.counts.Missing, "damaged", c.counts.Damaged, "unexpected", c.counts.Unexpected)
	return nil
}

// versions streams the versions of one container in (path, id) order, a
// page at a time.
type versions struct {
	a         *auditor
	container string
	page      []metadata.AuditVersion
	i         int
	key       metadata.AuditKey
	started   bool
	end       bool
}

// peek returns the next version without taking it; ok is false at the end.
func (s *versions) peek(ctx context.Context) (metadata.AuditVersion, bool, error) {
	if s.i < len(s.page) {
		return s.page[s.i], true, nil
	}
	if s.end {
		return metadata.AuditVersion{}, false, nil
	}
	a := s.a
	page, err := a.meta.AuditVersions(ctx, a.opts.WikiID, s.container, s.key, a.opts.PageSize)
	if err != nil {
		return metadata.AuditVersion{}, false, fmt.Errorf("audit of %s: %w", a.opts.Wiki, err)
	}
	for _, v := range page {
		if s.started && (v.Path < s.key.Path || v.Path == s.key.Path && v.ID <= s.key.ID) {
			return metadata.AuditVersion{}, false, fmt.Errorf("audit of %s: the metadata returned the versions of %s out of order (%q id %d after %q id %d)",
				a.opts.Wiki, s.container, v.Path, v.ID, s.key.Path, s.key.ID)
		}
		s.key, s.started = metadata.AuditKey{Path: v.Path, ID: v.ID}, true
	}
	s.page, s.i, s.end = page, 0, len(page) < a.opts.PageSize
	if len(page) == 0 {
		return metadata.AuditVersion{}, false, nil
	}
	return s.page[0], true, nil
}

// skip takes the version peek returned.
func (s *versions) skip() { s.i++ }

// next takes and returns the next version.
func (s *versions) next(ctx context.Context) (metadata.AuditVersion, bool, error) {
	v, ok, err := s.peek(ctx)
	if ok {
		s.skip()
	}
	return v, ok, err
}
