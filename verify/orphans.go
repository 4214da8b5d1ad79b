package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// OrphanStore is the metadata Orphans compares the listings with.
type OrphanStore interface {
	LocationID(ctx context.Context, endpoint string) (int64, error)
	ObjectKeysAt(ctx context.Context, locationID int64, prefix, after string, n int) ([]string, error)
}

// Lister lists one server's bucket in key order. storage.Backend is one.
type Lister interface {
	Endpoint() string
	List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error
}

var (
	_ OrphanStore = (*metadata.Store)(nil)
	_ Lister      = storage.Backend(nil)
)

// Orphan is a stored object that no backups row records at its server.
type Orphan struct {
	Endpoint     string
	Key          string
	Size         int64
	LastModified time.Time
}

// OrphanStats counts what Orphans listed.
type OrphanStats struct {
	Listed  int   `json:"listed"`  // objects listed on the servers
	Orphans int   `json:"orphans"` // of which no row records
	Bytes   int64 `json:"bytes"`   // the orphans' size
	// Recent counts objects that no row records yet but that are younger
	// than the minimum age: a backup records an object just after
	// storing it, so they are not judged.
	Recent int `json:"recent"`
	// Unlisted counts the servers whose listing failed part-way or
	// entirely (their orphans may be missing from the report).
	Unlisted int `json:"unlisted_servers"`
}

// keyPage is how many recorded keys one metadata query returns.
const keyPage = 1000

// Orphans lists the objects whose key starts with prefix on every server
// and calls fn for each that no backups row records at that server and
// that was last modified before now - minAge. It walks each server's
// listing and the recorded keys of that server in key order side by side,
// a page at a time, so its memory does not depend on the number of
// objects; a key the listing gives out of order is looked up on its own.
// It never removes anything.
//
// A server whose listing (or the metadata read beside it) fails is counted
// in Unlisted and the others are still listed; the returned error joins
// those failures. An error of fn, or a cancelled ctx, stops it at once and
// is returned.
func Orphans(ctx context.Context, store OrphanStore, servers []Lister, prefix string, minAge time.Duration, now time.Time, fn func(Orphan) error) (OrphanStats, error) {
	var st OrphanStats
	var errs []error
	cutoff := now.Add(-minAge)
	for _, srv := range servers {
		var fnErr error
		err := orphansOn(ctx, store, srv, prefix, cutoff, &st, func(o Orphan) error {
			fnErr = fn(o)
			return fnErr
		})
		switch {
		case fnErr != nil:
			return st, fnErr
		case ctx.Err() != nil:
			return st, ctx.Err()
		case err != nil:
			st.Unlisted++
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

func orphansOn(ctx context.Context, store OrphanStore, srv Lister, prefix string, cutoff time.Time, st *OrphanStats, fn func(Orphan) error) error {
	loc, err := store.LocationID(ctx, srv.Endpoint())
	known := err == nil
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("find orphans on %s: %w", srv.Endpoint(), err)
	}
	recorded := &keyWalk{ctx: ctx, store: store, loc: loc, prefix: prefix, done: !known}
	var prev string
	err = srv.List(ctx, prefix, func(o storage.ObjectInfo) error {
		st.Listed++
		var has bool
		var err error
		if o.Key > prev {
			has, err = recorded.has(o.Key)
		} else if known {
			// Not after the previous key: the walk may be past it.
			var keys []string
			keys, err = store.ObjectKeysAt(ctx, loc, o.Key, "", 1)
			has = len(keys) == 1 && keys[0] == o.Key
		}
		if err != nil {
			return fmt.Errorf("find orphans on %s: %w", srv.Endpoint(), err)
		}
		prev = max(prev, o.Key)
		if has {
			return nil
		}
		if !o.LastModified.Before(cutoff) {
			st.Recent++
			return nil
		}
		st.Orphans++
		st.Bytes += o.Size
		return fn(Orphan{Endpoint: srv.Endpoint(), Key: o.Key, Size: o.Size, LastModified: o.LastModified})
	})
	return err // a listing error names the server; a metadata one was wrapped above
}

// keyWalk reads one location's recorded keys in order, a page at a time.
type keyWalk struct {
	ctx    context.Context
	store  OrphanStore
	loc    int64
	prefix string
	page   []string
	last   string // the last key read from the store
	done   bool   // no more keys in the store
}

// has reports whether key is recorded; keys must be asked for in
// increasing order.
func (w *keyWalk) has(key string) (bool, error) {
	for {
		for len(w.page) > 0 && w.page[0] < key {
			w.page = w.page[1:]
		}
		if len(w.page) > 0 {
			return w.page[0] == key, nil
		}
		if w.done {
			return false, nil
		}
		keys, err := w.store.ObjectKeysAt(w.ctx, w.loc, w.prefix, w.last, keyPage)
		if err != nil {
			return false, err
		}
		if len(keys) < keyPage {
			w.done = true
		}
		if len(keys) > 0 {
			w.last = keys[len(keys)-1]
		}
		w.page = keys
	}
}
