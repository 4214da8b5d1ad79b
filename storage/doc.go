// Package storage stores backed-up media files as objects on MinIO servers,
// through minio-go.
//
// A [Server] is one MinIO endpoint and one bucket. [Sharded] spreads new
// objects over several servers with [sharding.Shard]; the order of its
// servers is the shard order and must not change while objects are written.
// Because the shard of an object depends on the number of servers, the
// endpoint every object was written to is recorded in the metadata database,
// and restores fetch from that endpoint with [Sharded.ByEndpoint], never from
// today's shard map.
//
// # Integrity
//
// Every upload carries an S3 SHA-256 checksum that minio-go computes while
// sending and MinIO verifies before it commits the object, so an object is
// never stored with bytes other than the ones read from the caller's reader.
// When the caller also knows the SHA-256 the content must have, [Server.Put]
// checks the bytes it reads against it and aborts the upload on a mismatch,
// before the object is committed: a wrong upload leaves no object behind and
// does not overwrite an existing one. See [Server.Put] for what the server's
// returned checksum does and does not prove.
//
// Object keys are built by [ObjectKey]: "<wiki>/<sha256[0:3]>/<sha256>", plus
// the encryption suffix for encrypted objects.
package storage
