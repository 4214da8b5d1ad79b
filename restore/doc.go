// Package restore puts backed-up file versions back: into a local
// directory, or into the wiki's production store where MediaWiki reads
// them.
//
// One engine, the Restorer (restore.go), reads each version from the MinIO
// server its backup was recorded on (never today's shard list), decrypts it
// when it is an age object, and hashes it while it streams into a Stage of
// its Target; only when its sha256 and sha1 are those the backup records is
// the Stage committed. A Target decides where checked bytes go and how they
// become visible:
//
//   - Dir (dir.go, target.go, naming.go): a local directory. Each file
//     streams into a file inside the directory that has no name yet
//     (O_TMPFILE, or a temporary name where that is not possible) and is
//     then linked under its production name. The directory is held open by a
//     descriptor, and names are single path components opened with
//     O_NOFOLLOW, so no title or path, however hostile ("../", absolute,
//     control characters), can write outside it; names are also sanitised
//     so that they stay readable and flat.
//   - Production (production.go): the wiki's production store (Swift or
//     the upload directory, package production), at the version's own
//     container and path, with MediaWiki's metadata; it skips what is
//     already correct, replaces damaged objects only when told, writes
//     nothing in a dry run, and reads back what it wrote.
//
// The two share everything that makes a restore trustworthy (which server,
// decryption, the hash checks, parallelism, progress, per-file errors);
// only the last step differs, which is why they are one engine with two
// targets and not two engines. Nothing holds a whole large file in memory.
package restore
