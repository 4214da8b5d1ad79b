// Package update follows a wiki's log (list=logevents) and applies every
// file event to the metadata, so that the backups track uploads,
// overwrites, reverts, deletions, undeletions, revision deletions and moves
// within one polling interval.
//
// # Cursor
//
// The log can only be read from a timestamp (inclusive, to the second),
// and several events share one second. The cursor stored per wiki
// (metadata.LogCursor) is the timestamp of the last applied event plus the
// ids already applied at that second; reading again from that timestamp
// skips those ids. Events are applied in stretches of up to Batch, each in
// one transaction that also saves the cursor after its last event: an
// interrupted run loses nothing, and the next run reads again only the
// events of the stretch that did not commit.
//
// # Applying an event: reconcile, don't replay
//
// An event is not replayed as a delta. Its title (for a move, the old and
// the new title) is re-read from the API (prop=imageinfo, many titles a
// request, and list=filearchive for that name, once per title of the
// stretch) and the metadata rows of the title are
// reconciled with that truth (see Plan): new versions are added as pending
// backups, changed fields are updated, each change written to the history
// with source "log:<logid>". The event itself supplies only what the API
// cannot tell: the delete date (the event's timestamp, recorded for
// versions that become deleted at a delete event), which rows of the old
// title a move carried to the new one (a "title" history row keeps the old
// name), and the archive names of revision-deleted versions. Applying an
// event twice, or an old event after later ones, therefore changes nothing
// that is already right: the application is idempotent by construction.
//
// Rows the API no longer reports under their title, and that no move
// explains, are left as they are.
//
// # Revision-deleted versions
//
// The API describes a revision-deleted ("hidden") old version only by its
// upload time and size. When the metadata already knows that version (it
// was backed up before it was hidden), it becomes deleted and moves to the
// deleted zone under its storage key. Otherwise its archive name is taken
// from the delete/revision event (params.ids) or from the upload time of
// the next newer version, and its bytes are downloaded through
// Special:RevisionDelete to learn its sha1 (checked against the size the
// API reports), so that every recorded version keeps a sha1; the backup
// then downloads it the same way.
package update
