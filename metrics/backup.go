package metrics

import (
	"context"
	"io"

	"github.com/mediabackups/mediabackups/backup"
	"github.com/mediabackups/mediabackups/metadata"
)

// BackupProgress returns the backup.Progress that counts the files the
// process finishes for wiki (mediabackups_backup_files_total and
// _bytes_total by status, mediabackups_errors_total by reason). It creates
// every series of the wiki at zero first.
func (m *Metrics) BackupProgress(wiki string) backup.Progress {
	for _, st := range backupStatuses() {
		m.files.WithLabelValues(wiki, string(st))
		m.bytes.WithLabelValues(wiki, string(st))
	}
	m.InitErrors(CommandBackup, wiki)
	return &fileCounter{m: m, wiki: wiki}
}

type fileCounter struct {
	m    *Metrics
	wiki string
}

func (c *fileCounter) FileDone(f metadata.File, status metadata.BackupStatus, bytes int64, err error) {
	if status == "" {
		c.m.errors.WithLabelValues(CommandBackup, c.wiki, "claim_lost").Inc()
		return
	}
	c.m.files.WithLabelValues(c.wiki, string(status)).Inc()
	c.m.bytes.WithLabelValues(c.wiki, string(status)).Add(float64(bytes))
	if status == metadata.Error {
		c.m.Failed(CommandBackup, c.wiki, err)
	}
	if b := f.Backup; status == metadata.BackedUp && b != nil {
		c.m.objects.WithLabelValues(c.wiki, b.Location).Inc()
		c.m.storedBytes.WithLabelValues(c.wiki, b.Location).Add(float64(b.StoredSize))
	}
}

// Storage wraps p, a storage server, so that every upload to it that fails
// counts in mediabackups_storage_put_failures_total for wiki and the
// server's endpoint (created at zero here).
func (m *Metrics) Storage(wiki string, p backup.Putter) backup.Putter {
	return &countingPutter{Putter: p, failures: m.putFailures.WithLabelValues(wiki, p.Endpoint())}
}

type countingPutter struct {
	backup.Putter
	failures interface{ Inc() }
}

func (c *countingPutter) Put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error) {
	n, err := c.Putter.Put(ctx, key, r, size, wantSHA256)
	if err != nil && ctx.Err() == nil {
		c.failures.Inc()
	}
	return n, err
}
