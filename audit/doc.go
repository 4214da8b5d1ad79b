// Package audit finds what production has lost: it compares every file
// version that the metadata says production holds (public, archived and
// deleted) with what the production store (Swift, or MediaWiki's upload
// directory) lists, and reports each one that is missing or damaged, and
// each object production holds that no version explains.
//
// Production is only read: Run calls Containers, Objects, Stat and Open,
// never Put or CreateContainer.
//
// # The walk
//
// An audit is built around listings, not around one request per object, so
// that it scales to Commons (about 110 M objects in some 1 550 containers).
// For every container of the wiki (those production lists under the wiki's
// "<wiki ID>-local-public" and "-local-deleted" prefixes, and those the
// metadata names), it reads two streams in the same order, byte order of
// the object name:
//
//   - production's listing of the container (Swift: 10 000 names a page,
//     each with its size and md5; the filesystem store: one directory at a
//     time, with sizes);
//   - the metadata's versions in that container, in pages of
//     Options.PageSize rows along the index files_production
//     (metadata.Store.AuditVersions).
//
// and merges them like the merge step of a merge sort. A version whose
// place sorts before the next object is not listed: one HEAD says whether
// it is missing or only late in the listing (Swift updates a container's
// listing after the write, and much later when that update timed out under
// load; Checks.Unlisted counts those, compared like any other). The other
// way round, an object deleted while its listing lagged is still listed,
// and compared by the listing: a later audit finds it missing. A version
// in a container that does not exist is missing without a request. An
// object that sorts before the next version is unexpected; an object and the versions at its
// place (several deleted versions can share one storage key) are compared.
// Memory is one page of each stream per container being walked, plus the
// problems found (the report holds them all): about 300 bytes a problem.
// Options.Parallel containers are walked at once.
//
// # How a version is compared
//
// Sizes first: another size is damage. Then the content, by the strongest
// means at hand without reading the object where possible:
//
//   - md5: Swift lists each object's md5 (its ETag). Versions backed up
//     since migration 0006 have theirs in the metadata (the backup hashes
//     md5 with sha1 and sha256): equal md5s are a match, others damage. No
//     request beyond the listing.
//   - sha1 header: for a version with no md5 yet (backed up before), one
//     HEAD reads X-Object-Meta-Sha1base36, which MediaWiki writes with the
//     bytes (and Swift copies with them). The version's sha1 there is a
//     match, and the listing's md5 is then recorded as the version's md5,
//     so the next audit needs no HEAD. A header that names another sha1,
//     or none, sends the object to be read.
//   - read: the object is read and hashed, and its sha1 compared with the
//     version's (and its md5 recorded when it matches). On Swift this is
//     bounded by Options.ReadBudget bytes per run; a version past the budget
//     whose header names another sha1 is reported damaged (the object says
//     it holds other bytes), one with no header is counted as compared by
//     size only (Report.SizeOnly) and is read by a later run. The filesystem
//     store lists no md5, so there every object is read (disk wikis are
//     small), Options.Parallel at a time.
//
// # What is recorded
//
// Per version, only changes: audit_status, audit_date (since when) and
// audit_detail when the finding differs from the last audit's, and an md5
// learned. Per container: when it was walked to its end and its counts
// (audit_containers: a version's time of last check). Unexpected objects
// are kept in audit_unexpected while audits keep finding them. Each run is
// a row of audits; the comparison with the last finished run (new
// problems, fixed ones) comes from the previous state read along the walk.
// An interrupted run leaves what it recorded, all of it true when written;
// the next run starts over.
//
// # What is unexpected
//
// An object in the wiki's public or deleted containers that no version of
// the metadata is at: an upload newer than the metadata (run `mediabackups
// update` first; such objects carry a note), a copy a failed delete or move
// left behind, the bytes of a hard-deleted version that were not erased.
// Thumbnails, temporary files (upload stash, chunks) and transcodes are in
// their own zones' containers, which an audit does not walk; the filesystem
// store lists only the hash directories of each zone, without
// FSFileBackend's .htaccess, index.html and temporary files.
package audit
