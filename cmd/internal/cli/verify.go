package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/verify"
)

// VerifyOptions configures `verify`.
type VerifyOptions struct {
	F      *Factory
	Wiki   string
	All    bool
	Sample float64
	// MaxRate is the read limit in MB/s (10^6 bytes); 0: none.
	MaxRate      float64
	Repair       bool
	Parallel     int
	OrphanMinAge time.Duration
	// Timeout bounds every wait on a MinIO server (storage.WithTimeout).
	Timeout time.Duration
}

// DefaultVerifyRate is verify's read limit, in MB/s, unless --max-rate.
const DefaultVerifyRate = 50

func newVerifyCmd(f *Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "verify (--all | --sample FRACTION) [--wiki NAME] [--max-rate MB/s] [--repair]",
		Short: "Read stored objects back and check them; list orphans; repair from production",
		Long: `Read objects back from the MinIO server the metadata records for each, decrypt
the encrypted ones with encryption.identity_file, and check that their size,
sha256 and sha1 are those recorded. Every version whose status is backedup or
duplicate must point to an object. Each object's check is recorded (its time
and result: ok, missing, damaged, repaired, lost), and shown by
'query-media-file' and 'status'.

--all checks every object, then lists every server's bucket (streamed, in
key order against the metadata) for orphans: objects that no version refers
to. Orphans are listed, never removed; those younger than --orphan-min-age are
not judged, as a running backup records an object just after storing it.

--sample FRACTION checks that fraction of each wiki's objects: those never
checked first, then those checked longest ago. Run daily with --sample 0.05,
every object is read within 20 days; an interrupted run loses nothing, the
next one goes on where it stopped.

Reads are limited to --max-rate MB/s in total (a token bucket), so that verify
can run beside backups; 0 lifts the limit.

--repair stores again a missing or damaged object whose content production
still serves: the wiki's API is asked whether a version with the object's sha1
is still there; it is downloaded as the backup does, its sha1 and sha256
checked, encrypted for non-public wikis, stored under the same name on the
same server and read back. An object production no longer serves is reported
as ONLY COPY LOST, with the versions it held. Nothing is ever deleted.

verify reads and writes with the storage.generation credential (see the
README: the generation user needs s3:GetObject and s3:ListBucket besides
s3:PutObject); it never deletes, so it needs no delete right.

Exit codes: 0 every checked object is ok (or was repaired); 3 an object is
missing, damaged or lost, a version has no object, or an object could not be
checked; 1 the run failed; 2 bad flags.`,
		Example: `  mediabackups verify --sample 0.05                # daily: a twentieth, oldest checked first
  mediabackups verify --all --wiki testwiki        # everything of one wiki, and its orphans
  mediabackups verify --all --repair --max-rate 200
  mediabackups verify --all --json > verify.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sampled := cmd.Flags().Changed("sample")
			switch {
			case opts.All == sampled:
				return withCode(ExitUsage, errors.New("give --all, or --sample FRACTION (e.g. --sample 0.05 daily reads every object within 20 days)"))
			case sampled && opts.Sample == 0:
				return withCode(ExitUsage, fmt.Errorf("--sample 0: give a fraction above 0 and at most 1 (0.05 is 5%%)"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			tuneGCForDecryption(opts.Parallel)
			return verifyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Wiki, "wiki", "", "wiki name, as in the config (default: every configured wiki)")
	fl.BoolVar(&opts.All, "all", false, "check every object, and list orphans")
	floatFlag(fl, &opts.Sample, "sample", 0, 0, 1, "check this fraction of each wiki's objects, the longest unchecked first")
	floatFlag(fl, &opts.MaxRate, "max-rate", DefaultVerifyRate, 0, 1e6, "read at most this many MB/s from the servers in total; 0: no limit")
	fl.BoolVar(&opts.Repair, "repair", false, "store missing or damaged objects again from production, when it still has them")
	intFlag(fl, &opts.Parallel, "parallel", 4, 1, maxWorkers, "objects checked at once")
	durationFlag(fl, &opts.OrphanMinAge, "orphan-min-age", time.Hour, 0, 30*24*time.Hour, "with --all: objects younger than this are not reported as orphans")
	serverTimeoutFlag(fl, &opts.Timeout, "that object is not checked")
	return cmd
}

func verifyRun(ctx context.Context, opts *VerifyOptions) error {
	f := opts.F
	c, err := f.Config()
	if err != nil {
		return err
	}
	wikis, err := f.wikisToRun(opts.Wiki)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	log := f.Logger()
	var ids []age.Identity
	var recipients []age.Recipient
	for _, w := range wikis {
		if !w.Encrypted() {
			continue
		}
		if c.Encryption.IdentityFile == "" {
			return fmt.Errorf("wiki %s is %s, so its objects are encrypted: set encryption.identity_file to verify them", w.Name, w.Type)
		}
		id, err := encryption.LoadIdentity(c.Resolve(c.Encryption.IdentityFile))
		if err != nil {
			return err
		}
		ids = []age.Identity{id}
		if opts.Repair {
			if recipients, err = f.recipients(); err != nil {
				return err
			}
			if !encryptsTo(recipients, id) {
				log.Warn("encryption.identity_file does not open what encryption.recipients encrypts: repaired objects would fail their check", "identity", id.Recipient().String())
			}
		}
		break
	}
	// Each server is behind a storage.Health: one that stops answering
	// fails its objects at once (not checked) instead of holding the run.
	s, servers, err := f.storeAndServers(ctx, opts.Timeout)
	if err != nil {
		return err
	}
	defer s.Close()
	if opts.Repair {
		if err := os.MkdirAll(c.TmpDir, 0o700); err != nil {
			return fmt.Errorf("tmpdir: %w", err)
		}
	}
	limiter := verify.NewLimiter(opts.MaxRate * 1e6)
	out := VerifyReport{Mode: "all", Sample: 1, Repair: opts.Repair, MaxRateMBs: opts.MaxRate,
		Wikis: []VerifyWiki{}, Problems: []VerifyProblem{}, VersionsWithoutObject: []Match{}}
	if !opts.All {
		out.Mode, out.Sample = "sample", opts.Sample
	}
	start := time.Now()
	var mu sync.Mutex
	for _, w := range wikis {
		wikiID, err := s.WikiID(ctx, w.Name)
		if errors.Is(err, metadata.ErrNotFound) {
			log.Info("no objects yet", "wiki", w.Name)
			out.Wikis = append(out.Wikis, VerifyWiki{Wiki: w.Name})
			continue
		}
		if err != nil {
			return err
		}
		total, err := s.CountObjects(ctx, wikiID)
		if err != nil {
			return err
		}
		if !opts.All {
			total = int64(math.Ceil(opts.Sample * float64(total)))
		}
		vo := verify.Options{
			WikiID: wikiID, Wiki: w.Name, Identities: ids, Sample: out.Sample, Limiter: limiter,
			Parallel: opts.Parallel, Repair: opts.Repair, Recipients: recipients, TmpDir: c.TmpDir, Logger: log,
			Locate: func(ep string) (verify.Server, bool) { return servers.ByEndpoint(ep) },
			OnProblem: func(p verify.Problem) {
				mu.Lock()
				defer mu.Unlock()
				out.Problems = append(out.Problems, newVerifyProblem(w.Name, p))
			},
		}
		if opts.All {
			vo.Sample = 0
		}
		if opts.Repair {
			if vo.Production, err = f.wikiClient(w); err != nil {
				return err
			}
		}
		prog := newVerifyProgress(f.IO.ErrOut, w.Name, total)
		vo.Progress = prog
		log.Info("verify start", "wiki", w.Name, "mode", out.Mode, "objects", total, "max_rate_mb_s", opts.MaxRate, "repair", opts.Repair)
		rep, err := verify.Run(ctx, s, vo)
		prog.finish()
		out.Wikis = append(out.Wikis, VerifyWiki{Wiki: w.Name, Stats: rep.Stats})
		out.Total.Add(rep.Stats)
		out.VersionsWithoutObject = append(out.VersionsWithoutObject, newMatches(rep.VersionsWithoutObject)...)
		if err != nil {
			if ctx.Err() != nil {
				return withCode(ExitCancelled, err)
			}
			return err
		}
	}
	if opts.All {
		prefix := ""
		if opts.Wiki != "" {
			prefix = opts.Wiki + "/"
		}
		var listers []verify.Lister
		for _, srv := range servers.Servers() {
			listers = append(listers, srv)
		}
		log.Info("listing the buckets for orphans", "servers", len(listers), "prefix", prefix)
		out.Orphans = []VerifyOrphan{}
		st, err := verify.Orphans(ctx, s, listers, prefix, opts.OrphanMinAge, time.Now(), func(o verify.Orphan) error {
			log.Warn("orphan: no version refers to this object (listed, not removed)", "location", o.Endpoint, "object", o.Key, "size", o.Size, "last_modified", fmtDate(o.LastModified))
			out.Orphans = append(out.Orphans, VerifyOrphan{Location: o.Endpoint, Object: o.Key, Size: o.Size, LastModified: fmtDate(o.LastModified)})
			return nil
		})
		out.OrphanStats = &st
		if err != nil {
			if ctx.Err() != nil {
				return withCode(ExitCancelled, err)
			}
			if st.Unlisted == 0 {
				return err
			}
			// The other servers were listed; the report says which failed.
			log.Error("listing for orphans failed; the orphans of these servers are not reported", "servers", st.Unlisted, "err", err)
		}
	}
	out.Seconds = time.Since(start).Seconds()
	// Workers report in the order they finish: sort for a stable output.
	slices.SortFunc(out.Problems, func(a, b VerifyProblem) int {
		return cmp.Or(cmp.Compare(a.Wiki, b.Wiki), cmp.Compare(a.Location, b.Location), cmp.Compare(a.Object, b.Object))
	})
	if f.JSON {
		if err := f.printJSON(out); err != nil {
			return err
		}
	} else {
		printVerifyReport(f.IO.Out, out, c.Storage.Bucket)
	}
	if n := out.Total.Problems(); n > 0 {
		return withCode(ExitPartial, fmt.Errorf("%s: see the ERROR lines above%s", problemSummary(out.Total), problemHints(out.Total, opts.Repair)))
	}
	if out.OrphanStats != nil && out.OrphanStats.Unlisted > 0 {
		return withCode(ExitPartial, fmt.Errorf("%d server(s) could not be listed for orphans: see the ERROR line above; run --all again when they answer", out.OrphanStats.Unlisted))
	}
	return nil
}

// problemHints says what to do about each kind of problem found.
func problemHints(st verify.Stats, repaired bool) string {
	var h []string
	if st.Missing+st.Damaged > 0 {
		if repaired {
			h = append(h, "the missing and damaged objects could not be repaired now (the reasons are above); run again later")
		} else {
			h = append(h, "'mediabackups verify --all --repair' stores again what production still has")
		}
	}
	if st.Lost > 0 {
		h = append(h, "ONLY COPY LOST: production no longer has those versions; look for a copy in the other datacenter(s)")
	}
	if st.Unchecked > 0 {
		h = append(h, "objects not checked stay first in line: fix what stopped the check (server down, not configured, identity) and run again")
	}
	if st.VersionsWithoutObject > 0 {
		h = append(h, "a version without an object is a metadata fault: back it up again (set it to pending) or find out how it lost its object")
	}
	return "; " + strings.Join(h, "; ")
}

// encryptsTo reports whether one of recipients is id's own.
func encryptsTo(recipients []age.Recipient, id *age.X25519Identity) bool {
	for _, r := range recipients {
		if x, ok := r.(*age.X25519Recipient); ok && x.String() == id.Recipient().String() {
			return true
		}
	}
	return false
}

func newVerifyProblem(wiki string, p verify.Problem) VerifyProblem {
	return VerifyProblem{
		Wiki: wiki, Location: p.Object.Location, Bucket: p.Object.Bucket, Object: p.Object.ObjectKey,
		SHA256: p.Object.SHA256, SHA1: p.Object.SHA1, Found: string(p.Found), Result: string(p.Result),
		Detail: p.Detail, Repair: ptr(p.Repair), Versions: newMatches(p.Versions),
	}
}

// problemSummary says what is wrong, for the closing error.
func problemSummary(st verify.Stats) string {
	var parts []string
	for _, r := range verify.Outcomes {
		if n := st.Count(r); n > 0 && verify.IsProblem(r) {
			parts = append(parts, fmt.Sprintf("%d %s", n, outcomeLabel(r)))
		}
	}
	if st.VersionsWithoutObject > 0 {
		parts = append(parts, fmt.Sprintf("%d version(s) without an object", st.VersionsWithoutObject))
	}
	return strings.Join(parts, ", ")
}

// outcomeLabel is how the text output names an outcome.
func outcomeLabel(r metadata.VerifyResult) string {
	switch r {
	case metadata.VerifyLost:
		return "only copy lost"
	case verify.Unchecked:
		return "not checked"
	}
	return string(r)
}

// printVerifyReport writes the problems, the orphans and the totals.
func printVerifyReport(w io.Writer, r VerifyReport, bucket string) {
	for _, p := range r.Problems {
		label := strings.ToUpper(outcomeLabel(metadata.VerifyResult(p.Result)))
		fmt.Fprintf(w, "%s: %s %s/%s/%s\n", label, p.Wiki, p.Location, p.Bucket, p.Object)
		fmt.Fprintf(w, "  found %s: %s\n", p.Found, printable(p.Detail))
		if p.Repair != nil {
			fmt.Fprintf(w, "  repair: %s\n", printable(*p.Repair))
		}
		for _, m := range p.Versions {
			fmt.Fprintf(w, "  version: id %d, %s, uploaded %s, %s, sha1 %s\n", m.ID, printable(m.Title), deref(m.UploadDate), m.ProductionStatus, m.SHA1)
		}
	}
	for _, m := range r.VersionsWithoutObject {
		fmt.Fprintf(w, "VERSION WITHOUT OBJECT: %s id %d, %s, uploaded %s, backup status %s\n", m.Wiki, m.ID, printable(m.Title), deref(m.UploadDate), m.BackupStatus)
	}
	for _, o := range r.Orphans {
		fmt.Fprintf(w, "ORPHAN: %s/%s/%s (%s, last modified %s): no version refers to it; not removed\n", o.Location, bucket, printable(o.Object), humanBytes(o.Size), o.LastModified)
	}
	for _, x := range r.Wikis {
		fmt.Fprintf(w, "%s: %d objects checked (%s read)", x.Wiki, x.Objects, humanBytes(x.Bytes))
		var parts []string
		for _, o := range verify.Outcomes {
			if n := x.Count(o); n > 0 || o == metadata.VerifyOK {
				parts = append(parts, fmt.Sprintf("%d %s", n, outcomeLabel(o)))
			}
		}
		fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
		if x.VersionsWithoutObject > 0 {
			fmt.Fprintf(w, "; %d version(s) without an object", x.VersionsWithoutObject)
		}
		fmt.Fprintln(w)
	}
	if r.OrphanStats != nil {
		fmt.Fprintf(w, "orphans: %d of %d listed objects (%s)", r.OrphanStats.Orphans, r.OrphanStats.Listed, humanBytes(r.OrphanStats.Bytes))
		if r.OrphanStats.Recent > 0 {
			fmt.Fprintf(w, "; %d younger than --orphan-min-age not judged", r.OrphanStats.Recent)
		}
		if r.OrphanStats.Unlisted > 0 {
			fmt.Fprintf(w, "; %d server(s) NOT LISTED", r.OrphanStats.Unlisted)
		}
		fmt.Fprintln(w)
	}
	mbs := 0.0
	if r.Seconds > 0 {
		mbs = float64(r.Total.Bytes) / 1e6 / r.Seconds
	}
	fmt.Fprintf(w, "verified %d objects, %s in %.1fs (%.1f MB/s)\n", r.Total.Objects, humanBytes(r.Total.Bytes), r.Seconds, mbs)
}

func deref(p *string) string {
	if p == nil {
		return "none"
	}
	return *p
}

// verifyProgress draws a bar on a terminal, and a line per tenth otherwise.
// lastTTY is when it last wrote.
type verifyProgress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	wiki    string
	total   int64
	done    int64
	bytes   int64
	bad     int64
	last    int64
	lastTTY time.Time
}

func newVerifyProgress(w io.Writer, wiki string, total int64) *verifyProgress {
	return &verifyProgress{w: w, tty: isTerminal(w), wiki: wiki, total: total, last: 0, lastTTY: time.Now()}
}

// Checked implements verify.Progress.
func (p *verifyProgress) Checked(_ metadata.Backup, r metadata.VerifyResult, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.bytes += n
	if verify.IsProblem(r) {
		p.bad++
	}
	if p.tty {
		if time.Since(p.lastTTY) < 100*time.Millisecond && p.done != p.total {
			return
		}
		p.lastTTY = time.Now()
		const width = 30
		k := min(width, int(p.done*width/max(1, p.total)))
		fmt.Fprintf(p.w, "\rverify %s [%s%s] %d/%d objects, %s, %d not ok", p.wiki, strings.Repeat("=", k), strings.Repeat(" ", width-k), p.done, p.total, humanBytes(p.bytes), p.bad)
		return
	}
	// Without a terminal (a log, the journal): a line per tenth, at most
	// one every few seconds, and the last.
	tenth := p.done * 10 / max(1, p.total)
	if (tenth != p.last && time.Since(p.lastTTY) >= 5*time.Second) || p.done == p.total {
		p.last, p.lastTTY = tenth, time.Now()
		fmt.Fprintf(p.w, "verify %s: %d/%d objects, %s, %d not ok\n", p.wiki, p.done, p.total, humanBytes(p.bytes), p.bad)
	}
}

func (p *verifyProgress) finish() {
	if p.tty && p.done > 0 {
		fmt.Fprintln(p.w)
	}
}
