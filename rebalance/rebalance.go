// Package rebalance moves stored objects that are not on their home server
// (the server whose sha256 range holds them, sharding.Shard over the
// configured servers) to it: objects a backup placed on a fallback while
// their home was readonly or down, and objects whose range moved when
// servers were added.
//
// # What moves
//
// [Run] walks, for every wiki and every server's range, the objects the
// metadata records anywhere but on that server (the backups_wiki_sha256
// index, a page at a time), and sorts each into one of:
//   - to move: its home is active and the server it is recorded on can be
//     read;
//   - waiting: its home is readonly or down; it stays where it is until
//     its home is active again (a backup that stores it today sends it to
//     the home's fallback too);
//   - unreachable: the server it is recorded on is down, or no longer in
//     the configuration.
//
// A dry run stops there and reports objects and bytes per source → target.
//
// # How an object moves
//
// Each move goes through package relocate (journal, verified copy, commit,
// removal of the source), so it is crash-safe and resumable: a run killed
// at any point leaves every version readable through its recorded
// location, and the next run finishes or undoes what it left. The copy
// streams the object from its source to its home (GET → PUT, never whole
// in memory), hashing what it reads; a plain object must have the sha256
// the metadata records (the target server checks it before committing the
// object); then the copy is read back from the target and must have the
// sha256 and size that were read from the source. Only then is the
// location changed in the metadata and the source removed.
//
// Backups and restores may run meanwhile: backups find content by its
// backups row, not by its place, and a restore that reads an object just
// moved reads the row again (restore.Restorer.Reload).
package rebalance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/relocate"
	"github.com/mediabackups/mediabackups/sharding"
	"github.com/mediabackups/mediabackups/storage"
)

// Store is what a rebalance needs of the metadata.
type Store interface {
	relocate.Journal
	Wikis(ctx context.Context) ([]string, error)
	WikiID(ctx context.Context, name string) (int64, error)
	ObjectsInRange(ctx context.Context, wikiID int64, first, last, after []byte, endpoint string, limit int) ([]metadata.StoredObject, error)
	EnsureLocation(ctx context.Context, endpoint string) (int64, error)
}

var _ Store = (*metadata.Store)(nil)

// Options configures a Run.
type Options struct {
	// Servers are the configured servers, in shard order, with their
	// states.
	Servers *storage.Sharded
	// Execute moves objects; without it Run only plans.
	Execute bool
	// MaxBytes, when positive, stops scheduling moves once that many
	// stored bytes have been scheduled (at least one object is moved).
	// What is left is reported and moved by a later run.
	MaxBytes int64
	// Parallel is how many objects move at once (default 4).
	Parallel int
	// Wikis, when not empty, limits the run to the objects of these wikis.
	Wikis []string
	// Host names this process in the journal of moves.
	Host string
	// Log receives progress and one line per failure; nil discards.
	Log *slog.Logger
	// ProgressEvery is how often progress is logged (default 10 s).
	ProgressEvery time.Duration
}

// Flow is a number of objects and bytes going from one server to another.
type Flow struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
	// Why, for objects that do not move now.
	Why string `json:"why,omitempty"`
}

// Failure is an object whose move failed; it stays where it is recorded.
type Failure struct {
	ObjectID int64  `json:"object_id"`
	Wiki     string `json:"wiki"`
	Key      string `json:"key"`
	From     string `json:"from"`
	To       string `json:"to"`
	Error    string `json:"error"`
}

// Report is what a Run found and did. Lists are sorted by From, then To.
type Report struct {
	DryRun bool `json:"dry_run"`
	// Recovered is what the run found in the journal of moves and cleaned
	// (execute only).
	Recovered relocate.Recovery `json:"recovered"`
	// Planned is every object that is to move, per source → target.
	Planned []Flow `json:"planned"`
	// Moved is what was moved (execute only).
	Moved []Flow `json:"moved"`
	// Waiting are objects whose home is readonly or down.
	Waiting []Flow `json:"waiting"`
	// Unreachable are objects on a server that is down or not configured.
	Unreachable []Flow `json:"unreachable"`
	// Deferred are planned objects left for a later run by MaxBytes or an
	// interruption (execute only).
	Deferred []Flow    `json:"deferred"`
	Failed   []Failure `json:"failed"`
	// SourcesLeft counts moves that were committed but whose old object
	// could not be removed: the next run removes them.
	SourcesLeft int `json:"sources_left"`
}

// Total adds up flows.
func Total(fs []Flow) (objects int, bytes int64) {
	for _, f := range fs {
		objects += f.Objects
		bytes += f.Bytes
	}
	return objects, bytes
}

// flows aggregates objects per (from, to, why).
type flows map[[3]string]*Flow

func (f flows) add(from, to, why string, bytes int64) {
	k := [3]string{from, to, why}
	if f[k] == nil {
		f[k] = &Flow{From: from, To: to, Why: why}
	}
	f[k].Objects++
	f[k].Bytes += bytes
}

func (f flows) list() []Flow {
	out := []Flow{}
	for _, v := range f {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		if out[i].To != out[j].To {
			return out[i].To < out[j].To
		}
		return out[i].Why < out[j].Why
	})
	return out
}

// pageSize is how many objects one metadata read returns.
const pageSize = 500

// Run plans the rebalance and, with Options.Execute, carries it out (see
// the package documentation). Per-object failures are reported, not
// returned: the error is for what stops the whole run (the metadata
// unreadable, ctx cancelled, metadata.ErrMovesLocked). With Execute the
// caller must hold the moves lock (metadata.Store.LockMoves).
func Run(ctx context.Context, store Store, o Options) (*Report, error) {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	r := &runner{store: store, o: o, rep: &Report{DryRun: !o.Execute}, planned: flows{}, moved: flows{},
		waiting: flows{}, unreachable: flows{}, deferred: flows{}, locations: map[string]int64{}}
	r.mover = &relocate.Mover{Journal: store, Locate: o.Servers.ByEndpoint, Host: o.Host, Log: o.Log}
	err := r.run(ctx)
	r.rep.Planned, r.rep.Moved, r.rep.Waiting = r.planned.list(), r.moved.list(), r.waiting.list()
	r.rep.Unreachable, r.rep.Deferred = r.unreachable.list(), r.deferred.list()
	sort.Slice(r.rep.Failed, func(i, j int) bool { return r.rep.Failed[i].ObjectID < r.rep.Failed[j].ObjectID })
	return r.rep, err
}

type runner struct {
	store Store
	o     Options
	mover *relocate.Mover

	mu                                             sync.Mutex
	rep                                            *Report
	planned, moved, waiting, unreachable, deferred flows
	scheduled                                      int64
	movedObjects                                   int
	movedBytes                                     int64
	locations                                      map[string]int64
}

// job is one object to move to its home.
type job struct {
	obj  metadata.StoredObject
	home storage.Backend
}

func (r *runner) run(ctx context.Context) error {
	if r.o.Execute {
		rec, err := r.mover.Recover(ctx)
		r.rep.Recovered = rec
		if err != nil {
			return err
		}
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	if r.o.Execute {
		for range r.o.Parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					r.move(ctx, j)
				}
			}()
		}
	}
	stopProgress := r.progress(ctx)
	err := r.walk(ctx, jobs)
	close(jobs)
	wg.Wait()
	stopProgress()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// walk reads every object not on its home and plans it; with Execute, it
// sends those to move to jobs.
func (r *runner) walk(ctx context.Context, jobs chan<- job) error {
	members := r.o.Servers.Members()
	state := map[string]sharding.State{}
	for _, m := range members {
		state[m.Backend.Endpoint()] = m.State
	}
	ranges, err := sharding.Ranges(len(members))
	if err != nil {
		return err
	}
	names, err := r.store.Wikis(ctx)
	if err != nil {
		return err
	}
	if len(r.o.Wikis) > 0 {
		names = r.o.Wikis
	}
	budgetDone := false
	for _, name := range names {
		wikiID, err := r.store.WikiID(ctx, name)
		if err != nil {
			return err
		}
		for i, rg := range ranges {
			home := members[i]
			homeEP := home.Backend.Endpoint()
			first, last := rangeBound(rg.First, 0), rangeBound(rg.Last, 0xff)
			var after []byte
			for {
				page, err := r.store.ObjectsInRange(ctx, wikiID, first, last, after, homeEP, pageSize)
				if err != nil {
					return err
				}
				for _, obj := range page {
					size := obj.StoredSize
					srcState, configured := state[obj.Location]
					switch {
					case !home.State.Writable():
						r.add(r.waiting, obj.Location, homeEP, "its home is "+string(home.State), size)
						continue
					case !configured:
						r.add(r.unreachable, obj.Location, homeEP, "recorded on a server that is not in storage.endpoints", size)
						continue
					case !srcState.Contacted():
						r.add(r.unreachable, obj.Location, homeEP, "recorded on a server that is "+string(srcState), size)
						continue
					}
					r.add(r.planned, obj.Location, homeEP, "", size)
					if !r.o.Execute {
						continue
					}
					if budgetDone || ctx.Err() != nil || !r.takeBudget(size) {
						budgetDone = true
						r.add(r.deferred, obj.Location, homeEP, "", size)
						continue
					}
					select {
					case jobs <- job{obj: obj, home: home.Backend}:
					case <-ctx.Done():
						r.add(r.deferred, obj.Location, homeEP, "", size)
					}
				}
				if len(page) < pageSize {
					break
				}
				after, _ = hex.DecodeString(page[len(page)-1].SHA256)
			}
		}
	}
	return nil
}

// rangeBound is an 8-hex-digit prefix of a range padded to a full raw
// sha256 with fill.
func rangeBound(prefix string, fill byte) []byte {
	b, _ := hex.DecodeString(prefix)
	return append(b, bytes.Repeat([]byte{fill}, sha256.Size-len(b))...)
}

func (r *runner) add(f flows, from, to, why string, bytes int64) {
	r.mu.Lock()
	f.add(from, to, why, bytes)
	r.mu.Unlock()
}

// takeBudget reports whether an object of size may still be scheduled
// under MaxBytes, and counts it.
func (r *runner) takeBudget(size int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.o.MaxBytes > 0 && r.scheduled > 0 && r.scheduled+size > r.o.MaxBytes {
		return false
	}
	r.scheduled += size
	return true
}

func (r *runner) location(ctx context.Context, endpoint string) (int64, error) {
	r.mu.Lock()
	id, ok := r.locations[endpoint]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := r.store.EnsureLocation(ctx, endpoint)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.locations[endpoint] = id
	r.mu.Unlock()
	return id, nil
}

// move moves one object to its home and records the outcome.
func (r *runner) move(ctx context.Context, j job) {
	obj, homeEP := j.obj, j.home.Endpoint()
	fail := func(err error) {
		if ctx.Err() != nil {
			r.add(r.deferred, obj.Location, homeEP, "", obj.StoredSize)
			return
		}
		r.o.Log.Error("move failed; the object stays where it is recorded", "object", obj.ID, "wiki", obj.Wiki,
			"key", obj.ObjectKey, "from", obj.Location, "to", homeEP, "err", err.Error())
		r.mu.Lock()
		r.rep.Failed = append(r.rep.Failed, Failure{ObjectID: obj.ID, Wiki: obj.Wiki, Key: obj.ObjectKey, From: obj.Location, To: homeEP, Error: err.Error()})
		r.mu.Unlock()
	}
	if ctx.Err() != nil {
		r.add(r.deferred, obj.Location, homeEP, "", obj.StoredSize)
		return
	}
	loc, err := r.location(ctx, homeEP)
	if err != nil {
		fail(err)
		return
	}
	src, ok := r.o.Servers.ByEndpoint(obj.Location)
	if !ok {
		fail(fmt.Errorf("server %s is not in storage.endpoints", obj.Location))
		return
	}
	to := metadata.Place{LocationID: loc, Endpoint: homeEP, Key: obj.ObjectKey}
	res, err := r.mover.Move(ctx, obj, metadata.MoveRebalance, to, func(ctx context.Context, dst storage.Backend, key string) (metadata.MovedObject, error) {
		return Copy(ctx, src, dst, obj)
	})
	if err != nil {
		fail(err)
		return
	}
	r.mu.Lock()
	r.moved.add(obj.Location, homeEP, "", res.Object.StoredSize)
	r.movedObjects++
	r.movedBytes += res.Object.StoredSize
	if res.SourceLeft != nil {
		r.rep.SourcesLeft++
	}
	r.mu.Unlock()
	if res.SourceLeft != nil {
		r.o.Log.Warn("moved, but the old object is left for the next run", "object", obj.ID, "from", obj.Location, "err", res.SourceLeft.Error())
	}
	r.o.Log.Debug("moved", "object", obj.ID, "wiki", obj.Wiki, "key", obj.ObjectKey, "from", obj.Location, "to", homeEP, "bytes", res.Object.StoredSize)
}

// progress logs how far the moves are every ProgressEvery, until stopped.
func (r *runner) progress(ctx context.Context) (stop func()) {
	if !r.o.Execute {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.o.ProgressEvery)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.mu.Lock()
				n, b, planned, failed := r.movedObjects, r.movedBytes, 0, len(r.rep.Failed)
				for _, f := range r.planned {
					planned += f.Objects
				}
				r.mu.Unlock()
				r.o.Log.Info("rebalance progress", "moved", n, "of_planned_so_far", planned, "bytes", b,
					"mb_per_s", fmt.Sprintf("%.1f", float64(b)/1e6/time.Since(start).Seconds()), "failed", failed)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// ErrCopyMismatch is wrapped by Copy's errors when what was read back
// from the target is not what was read from the source, or the source is
// not what the metadata records.
var ErrCopyMismatch = errors.New("copy does not match")

// Copy copies obj from src to dst under the same key and verifies it on
// dst (see the package documentation): it streams the object, checks a
// plain object against its recorded sha256 (dst refuses other content
// before committing it), then reads the copy back from dst and compares
// its size and sha256 with what was read from src. It returns the stored
// size. A failed Copy may leave an object at dst; the caller removes it.
func Copy(ctx context.Context, src, dst storage.Backend, obj metadata.StoredObject) (metadata.MovedObject, error) {
	key := obj.ObjectKey
	rc, size, err := src.Get(ctx, key)
	if err != nil {
		return metadata.MovedObject{}, err
	}
	defer rc.Close()
	if size != obj.StoredSize {
		return metadata.MovedObject{}, fmt.Errorf("%w: %s on %s has %d bytes, the metadata records %d (check it with `mediabackups verify`)",
			ErrCopyMismatch, key, src.Endpoint(), size, obj.StoredSize)
	}
	var want []byte
	if !obj.Encrypted {
		if want, err = hex.DecodeString(obj.SHA256); err != nil || len(want) != sha256.Size {
			return metadata.MovedObject{}, fmt.Errorf("object %d: recorded sha256 %q is not valid", obj.ID, obj.SHA256)
		}
	}
	h := sha256.New()
	stored, err := dst.Put(ctx, key, io.TeeReader(rc, h), size, want)
	if err != nil {
		if errors.Is(err, storage.ErrChecksumMismatch) {
			return metadata.MovedObject{}, fmt.Errorf("%w: %s on %s is not the content the metadata records (check it with `mediabackups verify`): %w",
				ErrCopyMismatch, key, src.Endpoint(), err)
		}
		return metadata.MovedObject{}, err
	}
	read := h.Sum(nil)
	if stored != size {
		return metadata.MovedObject{}, fmt.Errorf("%w: %s: %s stored %d bytes, %d were read from %s", ErrCopyMismatch, key, dst.Endpoint(), stored, size, src.Endpoint())
	}
	// Verify on the target: read the copy back.
	back, backSize, err := dst.Get(ctx, key)
	if err != nil {
		return metadata.MovedObject{}, fmt.Errorf("read the copy back: %w", err)
	}
	defer back.Close()
	hb := sha256.New()
	n, err := io.Copy(hb, back)
	if err != nil {
		return metadata.MovedObject{}, fmt.Errorf("read the copy back from %s: %w", dst.Endpoint(), err)
	}
	if n != size || backSize != size || !bytes.Equal(hb.Sum(nil), read) {
		return metadata.MovedObject{}, fmt.Errorf("%w: %s read back from %s has %d bytes with sha256 %x; %d bytes with sha256 %x were copied",
			ErrCopyMismatch, key, dst.Endpoint(), n, hb.Sum(nil), size, read)
	}
	return metadata.MovedObject{StoredSize: size}, nil
}
