// Package bench measures how fast the backup and the restore run on real
// services, against a ceiling measured in the same run, and how the metadata
// store scales.
//
// # What it measures
//
// [Run] generates a corpus of random files in size classes ([Class]), serves
// it as "production" from an HTTP server running in a separate process
// ([Serve], started as `mediabackups bench serve`), and registers every file
// as a pending version of a public and of a private wiki in a database of its
// own (mbbench_*). For each size class it then runs, each as a subprocess of
// the same binary and at the same concurrency:
//
//   - the raw PUT ceiling: the same bytes PUT with minio-go straight into the
//     same MinIO servers ([RawTransfer], `mediabackups bench raw --op put`);
//   - `mediabackups backup` of the class on the public and on the private
//     wiki: download, sha1+sha256, dedup check, age encryption (private),
//     upload with checksum, MariaDB bookkeeping;
//   - the raw GET ceiling ([RawTransfer] with op get) and the restore of
//     every object the backup wrote;
//   - `mediabackups verify` of every object the backup wrote, without a
//     rate limit: read back, decrypted (private), sha256 and sha1 checked,
//     each check recorded in MariaDB. Compared with the raw GET ceiling.
//   - the raw move ceiling ([RawTransfer] with op move: GET from one
//     server, PUT to the next, streamed) and `mediabackups rebalance
//     --execute` of each wiki under a config that lists the same servers
//     one place further, so that every object moves to the next server:
//     the copy, the read-back from the target, the metadata and the
//     removal of the source.
//
// It reports files/s, MB/s, the child's peak RSS (rusage Maxrss) and the
// ratio of each to its ceiling ([Report]).
//
// # Against a peer: rclone, in pairs
//
// Users compare us with rclone, and one run per figure is noise on a
// shared machine. With [Options].Pairs > 0, each class also compares
// `backup` with `rclone copy` of the class's corpus directory into the same
// MinIO servers ("rclone upload"), and `restore` with `rclone copy` out of
// them into an empty directory ("rclone download"), for each wiki type:
//
//   - rclone is configured only through the environment
//     (RCLONE_CONFIG_<REMOTE>_TYPE=s3, _PROVIDER=Minio, _ENDPOINT,
//     _ACCESS_KEY_ID, _SECRET_ACCESS_KEY; one remote per server), no
//     rclone.conf is written;
//   - the spread is the backup's: one rclone process per server, all at
//     once, each given (--files-from-raw) the files whose sha256 (of the
//     path, as the raw ceilings do; the backup hashes the content, with
//     the same ranges of sharding.Shard) falls on that server;
//   - the concurrency is ours: --transfers ceil(workers/servers) per
//     process, so never less in total than our --workers; the default
//     workers (DefaultWorkers) are a multiple of the servers, so that both
//     sides run exactly as many transfers (5 and 5 on 2 CPUs and 5
//     servers; an explicit --workers 4 gives rclone 5 against our 4),
//     --checkers 2×transfers (at least 4),
//     --s3-upload-concurrency = --transfers (multipart only, above rclone's
//     200 MiB cutoff), --s3-no-check-bucket, --retries 1, --stats 0;
//     everything else is rclone's default (an MD5 of each upload, checked
//     on download);
//   - Pairs pairs of (rclone, ours) run back to back, rclone first in even
//     pairs and ours first in odd ones, each from the same state: every
//     backup round but the last backs up a wiki of its own with the same
//     pending versions (deduplication is per wiki) whose objects are then
//     removed, the last one the class's wiki that the later steps read;
//     every rclone upload writes a prefix of its own that is removed after
//     it (the last one is kept for the downloads); every restore and
//     rclone download writes into a new, empty directory, removed after
//     it, or, in a class of 1000 files or more, when the class is done
//     (ext4 makes the run after a mass removal pay for it in inode
//     allocation).
//
// Each pair gives a ratio, our MB/s over rclone's. [PairRow] reports their
// median, min and max, the medians of both sides' MB/s and CPU seconds
// (rusage: our child, the sum of the rclone processes), and a verdict that
// refuses to conclude when max/min exceeds [SpreadLimit] or the ratios lie
// on both sides of 1. The backup and restore rows then show the run of
// median wall time among the paired ones; the raw ceilings stay single
// runs.
//
// [MetadataScale] loads synthetic file versions through
// metadata.Store.SyncVersions, the inventory's code path, and reports the
// ingest rate, the latency of claiming a batch and the EXPLAIN plan of the
// queries it times.
//
// # Scale runs
//
// Commons (about 110 M file versions, 100 M log events) cannot run here, so
// [WikiScale] serves a synthetic MediaWiki API of any size (package
// synthwiki, in a child started as `mediabackups bench synthwiki`) and runs
// `mediabackups inventory` against it, then `mediabackups update` over a
// tail of log events, reporting rows/s, peak RSS and the CPU of every
// process, the size of the files table, and a projection to Commons.
// [Horizontal] backs up the same pending corpus with 1, 2, 4, ... backup
// processes at once and says what bounds each count. The CPU of the
// services is read from /proc (see procstat.go), so they must run on
// this machine for it to be known.
//
// A benchmark is a measurement, not a test: nothing here fails on timing.
// Every run creates its own database and bucket and removes them at the
// end unless told to keep them.
package bench
