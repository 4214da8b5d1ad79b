// Package storage stores backed-up media files as objects on MinIO servers,
// through minio-go.
//
// A [Backend] is one bucket on one object server; [Server] is the MinIO
// one, and storage/storagetest is the conformance suite every Backend
// passes. [Sharded] spreads new objects over several backends with
// [sharding.Shard]; the order of its backends is the shard order. Because
// the shard of an object depends on the number of servers, the endpoint
// every object was written to is recorded in the metadata database, and
// restores fetch from that endpoint with [Sharded.ByEndpoint], never from
// today's shard map.
//
// # Server states
//
// Each server of a Sharded has a configured state ([Member],
// sharding.State). [WithState] makes the Backend keep to it: a readonly
// server is read, listed and emptied but never written to; a down server
// is never contacted, and every call to it fails at once with a
// [*StateError] that names it. [Sharded.For] sends the new objects of a
// server that is not active to its fallback, the next active server in
// shard order (sharding.Targets). A configured state is an operator's
// decision; whether a server answers at run time is a separate matter,
// for a wrapper inside the state one.
//
// # Integrity
//
// When the caller knows the SHA-256 the content must have (backups always
// do), a wrong content never becomes an object, and never replaces one:
//   - objects of known size up to 16 MiB are sent in one request whose
//     signed x-amz-checksum-sha256 header is that SHA-256: MinIO hashes
//     what it receives and refuses to commit anything else, so the bytes
//     are hashed once, by the server;
//   - larger objects from a file (an io.ReaderAt) are hashed and checked
//     before anything is sent, then go up as parallel parts;
//   - larger objects from a stream are hashed as they are read, and the
//     last bytes are withheld on a mismatch, so the upload cannot complete.
//
// Every part of a multipart upload carries a CRC32C that MinIO verifies,
// which proves each part's transfer at the cost of a hardware instruction.
// Get does not verify: restores check what they read against the hashes
// the metadata records, which covers storage, transfer and decryption at
// once. See [Server.Put] for the details.
//
// Object keys are built by [ObjectKey]: "<wiki>/<sha256[0:3]>/<sha256>", plus
// the encryption suffix for encrypted objects.
package storage
