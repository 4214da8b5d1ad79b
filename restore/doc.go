// Package restore holds the cores of the recovery tools: what an operator
// can search by and how a typed value is checked (query.go), where a
// restored file may be written and under which name (naming.go), the
// restore engine (restore.go), the delete engine (delete.go) and the parser
// of MediaWiki's eraseArchivedFile.php output (eraselog.go).
//
// # Restore
//
// Each file is read from the MinIO server its backup was recorded on (never
// today's shard list), decrypted when it is an age object, hashed while it
// streams into a temporary file inside the target directory, and only then
// given its production name. Nothing holds a whole file in memory. The
// target directory is opened as an [os.Root], so no title or path, however
// hostile ("../", absolute, control characters), can write outside it;
// names are also sanitised so that they stay readable and flat.
//
// # Delete
//
// A deletion is a dry run unless asked otherwise. Before anything is
// touched every file that production served is requested again, and the
// whole run stops unless each one answers 404. Then each stored object is
// removed from its recorded server (unless other versions that are not
// being deleted share it), and each version is marked hard-deleted so that
// no backup takes it again.
package restore
