package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// RecheckStore is what Recheck needs of the metadata.
type RecheckStore interface {
	List(ctx context.Context, f metadata.Filter) ([]metadata.File, error)
	Requeue(ctx context.Context, wikiID int64, from metadata.BackupStatus) (int64, error)
}

var _ RecheckStore = (*metadata.Store)(nil)

// Recheck finds out, cheaply, whether the configured credentials can now
// read the versions of a wiki that are unreadable, and if so makes them all
// pending again, so that the next backup takes them: it opens the bytes of
// one of them (and closes them at once). When the wiki still refuses, or
// when the credentials cannot read such versions at all (no request is
// then made), nothing changes. When the bytes open, or the wiki answers
// that they were erased (then the refusal is gone too), the versions are
// requeued and the backup records what is true of each. Another failure
// (the wiki down, an unexpected page) says nothing about the credentials:
// the next of a few versions is tried, and if none tells, nothing changes.
// It returns how many versions became pending. inventory and backup call
// it once per run and wiki, before they start.
func Recheck(ctx context.Context, s RecheckStore, dl Downloader, wikiID int64) (int64, error) {
	some, err := s.List(ctx, metadata.Filter{WikiID: wikiID, BackupStatus: metadata.Unreadable, Limit: 3})
	if err != nil {
		return 0, err
	}
	for _, f := range some {
		body, err := Open(ctx, dl, f)
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case err == nil:
			body.Close()
		case errors.Is(err, mediawiki.ErrPermission):
			return 0, nil
		case !errors.Is(err, mediawiki.ErrGone):
			continue
		}
		n, err := s.Requeue(ctx, wikiID, metadata.Unreadable)
		if err != nil {
			return 0, fmt.Errorf("the credentials can now read the unreadable versions: %w", err)
		}
		return n, nil
	}
	return 0, nil
}
