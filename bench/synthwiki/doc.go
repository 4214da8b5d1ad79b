// Package synthwiki is a synthetic MediaWiki Action API: one HTTP handler
// that answers the queries mediabackups makes of a wiki (list=allimages,
// generator=allimages with prop=imageinfo, prop=imageinfo of titles,
// list=filearchive, list=logevents, and the login) for a wiki of any size,
// generated on the fly.
//
// It exists because the scale that matters, Wikimedia Commons with about
// 110 M file versions and 100 M log events, cannot run here, and a real
// MediaWiki populated with millions of files would take days to build. It
// is a stand-in for measurements (mediabackups bench --scale-versions), not
// a MediaWiki: what it does not emulate is listed below, and its answers
// are kept honest by a test that compares their JSON shape with a real
// MediaWiki 1.39's for the same kinds of query (shape_test.go).
//
// # The model
//
// A [Model] is a seed, a number of files (the base history, everything
// before a time T0) and a number of log events after T0 (the tail). Nothing
// is stored: every fact about file i (its versions, sha1s, sizes, upload
// times, archive names, deletions, moves) and about tail event j (its kind,
// its file, its time) is computed from i or j and the seed when a request
// needs it, so the memory of a server does not grow with the size of the
// wiki and two servers with the same configuration answer alike.
//
// Base history: file i is uploaded at 2004-09-07 + 32·i seconds and gets
// its other versions in the following seconds: 90% of files have one
// version, 7% two, 2% three, 1% four to twelve (1.16 versions per file).
// 4% of files are then deleted (every version goes to list=filearchive),
// 5% of those with old versions lose the oldest one alone (deleted), 1%
// have it revision-deleted (hidden: "filehidden" in imageinfo), 2% are
// renamed (the old title becomes a redirect), and 1% reuse the content of
// the previous file (duplicate sha1). Names are "Synthetic_%010d.ext"
// (renamed: "Synthetic_%010d_(moved).ext"), so name order is index order.
//
// Tail: event j happens at T0 + j seconds. 40% upload a new file (index
// Files+j), 30% overwrite an existing file (a tenth of them as reverts to
// an older version's content), 12% delete a file, 3% delete one old
// version, 15% rename a file. Event j acts on the base file (a·j + b) mod
// Files, a fixed permutation, so the events of file i are computed from i;
// an event that cannot apply to its file (already deleted, already renamed,
// nothing old to delete, hidden versions) uploads a new file instead. In
// effect about 45% of the tail are new files, 26% overwrites, 3% reverts,
// 12% deletions of files, 0.3% of old versions and 14% renames.
//
// # States
//
// The handler serves the wiki as it is after the first k tail events at
// /tail/<k>/api.php, and after the whole tail at /api.php: the bench runs
// the inventory on /tail/0/ and then `update` on /api.php, which must bring
// the metadata to what an inventory of /api.php would record.
//
// # What is emulated, and what is not
//
// Emulated as MediaWiki 1.39 does it (see testenv/testwiki/API-NOTES.md):
// format=json with formatversion=2 only; continuation objects and their
// values (gaicontinue, iistart, facontinue "name|timestamp|id", lecontinue
// "timestamp|logid", aicontinue); limit=max as the apihighlimits value
// (Config.HighLimit, 5000) with the "limits" object; iilimit counted per
// file, with the excess of a multi-title batch dropped silently and a lone
// title continued with iistart; title normalisation and redirects=1;
// missing pages; filearchive sizes as strings; the upload log's base-36
// sha1; create events after first uploads; lestart inclusive.
//
// Not emulated: downloads (the URLs point at /images/ on the server, which
// answers 404; the bench serves file bytes from its own production server),
// Special:Undelete and Special:RevisionDelete, the result-size limit
// (iicontinue), directions other than ascending, sorting by timestamp,
// undeletions, maxlag. A parameter it does not know is refused with an API
// error (code "synthetic-unsupported") instead of being ignored, so a new
// client query cannot silently get a wrong answer.
package synthwiki
