// Package restore writes backed-up file versions into a local directory:
// where a restored file may be written and under which name (naming.go,
// target.go), and the restore engine (restore.go).
//
// Each file is read from the MinIO server its backup was recorded on (never
// today's shard list), decrypted when it is an age object, hashed while it
// streams into a temporary file inside the target directory, checked, and
// only then given its production name. Nothing holds a whole file in
// memory. The target directory is held open by a descriptor, and names are
// single path components opened with O_NOFOLLOW, so no title or path,
// however hostile ("../", absolute, control characters), can write outside
// it; names are also sanitised so that they stay readable and flat.
package restore
