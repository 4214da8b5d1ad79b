package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// Composer is a Backend that can also read a range of an object and build
// an object from uploaded bytes and ranges of objects it already holds,
// copied by the server itself (an S3 multipart upload whose parts are
// uploaded or copied with UploadPartCopy). *Server is one; AsComposer
// finds it inside wrappers such as Health. The state wrappers of a
// readonly or down server hide it: nothing is composed on them.
type Composer interface {
	Backend
	// GetRange returns a reader of length bytes of the object key from
	// offset; the caller closes it. The error wraps ErrNotFound if the
	// object does not exist.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Compose stores the concatenation of parts as the object key,
	// replacing any object there once it is complete, and returns its size
	// and what was sent and copied. See Server.Compose.
	Compose(ctx context.Context, key string, parts []Part) (ComposeStats, error)
}

var _ Composer = (*Server)(nil)

// Part is one part of an object Compose builds: Data, uploaded; or
// Length bytes of the object CopyKey (in the same bucket) from Offset,
// copied by the server.
type Part struct {
	Data           []byte
	CopyKey        string
	Offset, Length int64
}

// ComposeStats says what a Compose moved.
type ComposeStats struct {
	// Size is the size of the new object.
	Size int64
	// Uploaded counts the bytes sent to the server (the Data parts).
	Uploaded int64
	// Copied counts the bytes the server copied from other objects.
	Copied int64
}

// MinPartSize is the smallest size S3 allows for every part of a
// multipart upload but the last.
const MinPartSize = 5 << 20

// copyPartSize is the size of the parts a copy range is cut into. S3
// allows up to 5 GiB, but the server answers a copy only once it is done,
// and no request may wait longer than the server's timeout (WithTimeout,
// 30 s by default): 64 MiB take about a second on a disk, and even a
// server slowed down by a heavy load copied 512 MiB in more than 30 s.
// Ranges so large that 64 MiB parts would pass S3's 10 000 parts use
// larger ones (see copyParts).
const copyPartSize = 64 << 20

// maxParts is S3's limit of parts in a multipart upload.
const maxParts = 10000

// ErrPartTooSmall is wrapped by Compose's error when a part other than the
// last is smaller than MinPartSize.
var ErrPartTooSmall = errors.New("a part other than the last is smaller than 5 MiB")

// AsComposer returns b as a Composer: b itself, or the Composer it wraps
// (through Unwrap, as Health has), so that a wrapper that does not know
// Compose does not hide it. The state wrappers of a readonly or down server
// do not unwrap: their server cannot be composed on.
func AsComposer(b Backend) (Composer, bool) {
	for b != nil {
		if c, ok := b.(Composer); ok {
			return c, true
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		b = u.Unwrap()
	}
	return nil, false
}

// GetRange returns length bytes of the object key from offset. Like Get,
// a server that keeps the read waiting longer than its timeout (see
// WithTimeout) fails it.
func (s *Server) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length <= 0 {
		return nil, fmt.Errorf("download %s from %s: invalid range %d+%d", key, s.endpoint, offset, length)
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(offset, offset+length-1); err != nil {
		return nil, fmt.Errorf("download %s from %s: %w", key, s.endpoint, err)
	}
	ctx, done := s.op(ctx)
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		done()
		return nil, s.objectError("download", key, stalled(ctx, err))
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		done()
		return nil, s.objectError("download", key, stalled(ctx, err))
	}
	return &object{obj: obj, s: s, key: key, ctx: ctx, done: done}, nil
}

// Compose stores the concatenation of parts as the object key with one
// multipart upload: each Data part is uploaded with its SHA-256, which the
// server checks; each copy part is copied by the server from its object
// (in parts of 64 MiB, or more for ranges over 625 GiB). The object appears, whole, only
// when every part is in: a failure aborts the upload and leaves any object
// under key as it was. Every part but the last must hold at least
// MinPartSize bytes (ErrPartTooSmall). A copy range beyond the end of its
// object is an error of the server.
func (s *Server) Compose(ctx context.Context, key string, parts []Part) (ComposeStats, error) {
	var st ComposeStats
	if len(parts) == 0 {
		return st, fmt.Errorf("compose %s on %s: no parts", key, s.endpoint)
	}
	for i, p := range parts {
		n := int64(len(p.Data))
		if p.CopyKey != "" {
			if p.Data != nil || p.Offset < 0 || p.Length <= 0 {
				return st, fmt.Errorf("compose %s on %s: part %d: a copy part has a key, an offset and a positive length, and no data", key, s.endpoint, i+1)
			}
			n = p.Length
		}
		if i < len(parts)-1 && n < MinPartSize {
			return st, fmt.Errorf("compose %s on %s: part %d has %d bytes: %w", key, s.endpoint, i+1, n, ErrPartTooSmall)
		}
	}
	ctx, finish := s.op(ctx)
	defer finish()
	core := minio.Core{Client: s.client}
	id, err := core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return st, s.objectError("compose", key, stalled(ctx, err))
	}
	done := false
	defer func() {
		if !done {
			core.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, key, id)
		}
	}()
	var complete []minio.CompletePart
	for _, p := range parts {
		if p.CopyKey == "" {
			sum := sha256.Sum256(p.Data)
			part, err := core.PutObjectPart(ctx, s.bucket, key, id, len(complete)+1, bytes.NewReader(p.Data), int64(len(p.Data)),
				minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:])})
			if err != nil {
				return st, s.objectError("compose", key, stalled(ctx, err))
			}
			complete = append(complete, minio.CompletePart{PartNumber: part.PartNumber, ETag: part.ETag})
			st.Uploaded += int64(len(p.Data))
			st.Size += int64(len(p.Data))
			continue
		}
		for _, r := range splitRange(p.Offset, p.Length, copyParts(p.Length)) {
			cp, err := core.CopyObjectPart(ctx, s.bucket, p.CopyKey, s.bucket, key, id, len(complete)+1, r[0], r[1], nil)
			if err != nil {
				return st, s.objectError("compose "+key+" from", p.CopyKey, stalled(ctx, err))
			}
			complete = append(complete, minio.CompletePart{PartNumber: cp.PartNumber, ETag: cp.ETag})
			st.Copied += r[1]
			st.Size += r[1]
		}
	}
	info, err := core.CompleteMultipartUpload(ctx, s.bucket, key, id, complete, minio.PutObjectOptions{})
	if err != nil {
		return st, s.objectError("compose", key, stalled(ctx, err))
	}
	done = true
	if info.Size != 0 && info.Size != st.Size {
		return st, fmt.Errorf("compose %s on %s: the server stored %d bytes, %d were composed", key, s.endpoint, info.Size, st.Size)
	}
	return st, nil
}

// copyParts returns the size of the parts a copy range of length bytes
// is cut into: copyPartSize, or larger so that the range takes at most
// maxParts-1 parts (one more is the uploaded one).
func copyParts(length int64) int64 {
	return max(copyPartSize, (length+maxParts-2)/(maxParts-1))
}

// splitRange cuts [offset, offset+length) into pieces of at most max
// bytes, as even as possible (so none of them is tiny), and returns each
// as {offset, length}.
func splitRange(offset, length, max int64) [][2]int64 {
	n := (length + max - 1) / max
	size := (length + n - 1) / n
	var out [][2]int64
	for length > 0 {
		l := min(size, length)
		out = append(out, [2]int64{offset, l})
		offset += l
		length -= l
	}
	return out
}
