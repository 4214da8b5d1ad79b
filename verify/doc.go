// Package verify reads stored objects back from the server the metadata
// records for them and checks them, repairs what production can still give
// again, and finds objects that nothing refers to.
//
// # What is checked
//
// For each object of a wiki (a backups row), [Run] downloads it from its
// recorded location (never from today's shard map), decrypts it with the
// configured identities when it is encrypted, and hashes what comes out:
// its size, sha256 and sha1 must be those the metadata records. The
// outcome is one of [metadata.VerifyResults]:
//   - ok: it was there, and right;
//   - missing: the recorded server answers that it has no such object;
//   - damaged: it is there, but its stored size, its age header or
//     chunks, or its hashes are wrong.
//
// A check that could not be made (the server is unreachable or not
// configured, the connection broke, no identity is configured) is no
// verdict about the object: it is reported as unchecked and nothing is
// recorded, so the object stays first in line for the next run.
//
// Every version whose backup status says it is stored (backedup or
// duplicate) must point to an object; those that do not are reported by
// [Run] too.
//
// # Order and resumption
//
// Each object records when it was last checked and what was found
// (migration 0005). A run reads the objects never checked first, then
// those checked longest ago, and records each outcome as soon as a batch
// is done; an object checked by this run is not read again by it. So an
// interrupted run loses at most the checks of its last batch, and a daily
// [Options.Sample] of a fraction f checks everything within 1/f days.
//
// # Rate
//
// Reads from the object servers pass through one token bucket
// ([Options.Limiter], golang.org/x/time/rate) in bytes per second, shared by
// every worker, so that verification can run beside backups without
// taking the servers' bandwidth.
//
// # Repair
//
// With [Options.Repair], a missing or damaged object is given again by
// production when production still serves its content: the wiki's API is
// asked for each version the object holds (current and old versions by
// title, deleted ones through the file archive) whether it still has the
// object's sha1, and if so the bytes are downloaded as the backup does,
// their sha1 and sha256 checked, encrypted for the same recipients as the
// backup when the object is encrypted, stored under the same key on the
// same server with its checksum verified by the server, and read back and
// checked once more before the object is recorded as repaired. When
// production no longer has the content (no version with that sha1, or the
// download answers 404 or 410, or other bytes), the object is recorded as
// lost: the only copy is gone, and the versions concerned are reported.
// Any other failure (the wiki unreachable, a permission missing) leaves
// the object missing or damaged, to be repaired by a later run.
//
// # Orphans
//
// [Orphans] lists every configured server's bucket and reports objects
// that no backups row records at that server. Both sides are walked in
// key order at once, the bucket's listing against the metadata's
// backups_location_key index, a page at a time, so memory does not grow
// with the number of objects.
//
// # Guarantees
//
// Nothing is ever deleted: orphans are listed, not removed, and a repair
// only writes an object where the metadata says it is, with the content
// the metadata says it has. The metadata of a version (its status, its
// object, its location) is never changed; only the verification columns
// of an object (and its stored size, after a repair) are.
package verify
