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
