package storage

import (
	"context"
	"io"
)

// Backend is one bucket on one object server: where backed-up objects are
// stored. *Server (MinIO, through minio-go) is the one kind there is, and
// behaviour that cuts across servers is a wrapper around a Backend. Every
// Backend passes the conformance suite in storage/storagetest.
//
// Its methods are safe for concurrent use. Errors name the operation, the
// key and the server; those about a missing object wrap ErrNotFound, those
// about content that does not have its expected sha256 wrap
// ErrChecksumMismatch.
type Backend interface {
	// Endpoint is the server's URL (scheme://host:port, normalized as by
	// NormalizeEndpoint): the value recorded as an object's location.
	Endpoint() string
	// EnsureBucket creates the bucket if it does not exist yet.
	EnsureBucket(ctx context.Context) error
	// Put stores the content read from r as the object key, replacing any
	// object there, and returns the stored size; size -1 means unknown.
	// When wantSHA256 is not nil, content with another sha256 is refused
	// before it is committed: nothing is stored and an existing object
	// under key is left untouched. See Server.Put.
	Put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error)
	// Get returns a reader of the object and its size; the caller closes
	// it. The content is not verified: the caller checks it against the
	// hashes the metadata records.
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Remove deletes the object; a missing object is not an error.
	Remove(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in key
	// order. It stops at and returns the first error of fn, unwrapped.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

var _ Backend = (*Server)(nil)
