package backup

import (
	"context"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// patientStore is a Store whose every call rides out a database outage
// (metadata.Patience): a run waits for the database rather than stopping
// and stranding its claimed files. Each call is a single statement or a
// whole transaction, so running it again is safe; see Run for the one
// ambiguity (a commit whose answer was lost) and how it is handled.
type patientStore struct {
	s Store
	p *metadata.Patience
}

func (ps patientStore) Claim(ctx context.Context, wikiID int64, worker string, n int, lease time.Duration) (files []metadata.File, err error) {
	err = ps.p.Do(ctx, func(ctx context.Context) error {
		files, err = ps.s.Claim(ctx, wikiID, worker, n, lease)
		return err
	})
	return files, err
}

func (ps patientStore) RenewLease(ctx context.Context, worker string, ids []int64, lease time.Duration) error {
	return ps.p.Do(ctx, func(ctx context.Context) error { return ps.s.RenewLease(ctx, worker, ids, lease) })
}

func (ps patientStore) ReleaseClaims(ctx context.Context, wikiID int64, worker string) (n int64, err error) {
	err = ps.p.Do(ctx, func(ctx context.Context) error {
		n, err = ps.s.ReleaseClaims(ctx, wikiID, worker)
		return err
	})
	return n, err
}

func (ps patientStore) FindBackup(ctx context.Context, wikiID int64, sha256 string) (b *metadata.Backup, err error) {
	err = ps.p.Do(ctx, func(ctx context.Context) error {
		b, err = ps.s.FindBackup(ctx, wikiID, sha256)
		return err
	})
	return b, err
}

func (ps patientStore) Record(ctx context.Context, worker string, results []metadata.Result) (st map[int64]metadata.BackupStatus, err error) {
	err = ps.p.Do(ctx, func(ctx context.Context) error {
		st, err = ps.s.Record(ctx, worker, results)
		return err
	})
	return st, err
}

func (ps patientStore) EnsureLocation(ctx context.Context, endpoint string) (id int64, err error) {
	err = ps.p.Do(ctx, func(ctx context.Context) error {
		id, err = ps.s.EnsureLocation(ctx, endpoint)
		return err
	})
	return id, err
}
