package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// ErrNotFound is wrapped by the errors Get and Stat return when the object
// does not exist.
var ErrNotFound = errors.New("object not found")

// ErrNoBucket is wrapped by the errors of calls on a server that does
// not have the bucket (a new or wiped server: none of its objects exist).
var ErrNoBucket = errors.New("the bucket does not exist")

// ErrChecksumMismatch is wrapped by the error Put returns when the uploaded
// content does not have the expected SHA-256.
var ErrChecksumMismatch = errors.New("sha256 checksum mismatch")

// Credentials are the S3 access key and secret key of a MinIO user.
// Formatting them with the fmt package does not print the secret key.
type Credentials struct {
	AccessKey, SecretKey string
}

// String returns the access key and a redacted secret key.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKey:%s SecretKey:**redacted**}", c.AccessKey)
}

// GoString is like String, for %#v.
func (c Credentials) GoString() string {
	return fmt.Sprintf("storage.Credentials{AccessKey:%q, SecretKey:\"**redacted**\"}", c.AccessKey)
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Option configures NewServer and NewServers.
type Option func(*config)

type config struct {
	transport http.RoundTripper
	region    string
	timeout   time.Duration
}

// WithTransport makes the server use rt for its HTTP requests, so that
// several servers share one connection pool. See NewTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) { c.transport = rt }
}

// WithRegion sets the S3 region requests are signed for. Without it minio-go
// asks each bucket for its region once and caches the answer.
func WithRegion(region string) Option {
	return func(c *config) { c.region = region }
}

// NewTransport returns an HTTP transport tuned for many concurrent uploads to
// a few MinIO servers: it keeps up to 64 idle connections per server, does not
// ask for gzip (which would corrupt object sizes) and honours the proxy and
// SSL_CERT_FILE environment variables like minio-go's default transport. It
// serves http and https endpoints alike; share one between servers with
// WithTransport.
func NewTransport() (*http.Transport, error) {
	tr, err := minio.DefaultTransport(true)
	if err != nil {
		return nil, fmt.Errorf("create http transport: %w", err)
	}
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = 90 * time.Second
	return tr, nil
}

// Server is one bucket on one MinIO server. Its methods are safe for
// concurrent use.
type Server struct {
	endpoint  string // normalized, e.g. "http://127.0.0.1:9101"
	bucket    string
	client    *minio.Client
	transport http.RoundTripper
	timeout   time.Duration // see WithTimeout
}

// requestAttempts is how many times minio-go sends a request that failed
// for want of an answer (refused, reset) before the operation fails: a
// blip is ridden out in well under a second, a server that is down costs
// each operation no more than that (and Health stops trying it at all).
// minio-go's own default, 10, cost seconds per object.
const requestAttempts = 3

// NewServer returns a Server for bucket on the MinIO server at endpoint, e.g.
// "http://127.0.0.1:9101". The scheme, http or https, decides whether TLS is
// used; the endpoint must not have a path, query or user information.
//
// NewServer does not contact the server. Without WithTransport every Server
// gets its own NewTransport; NewServers shares one. It returns an error if the
// endpoint or the bucket name is invalid or the access key is empty.
func NewServer(endpoint, bucket string, creds Credentials, opts ...Option) (*Server, error) {
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return nil, fmt.Errorf("minio server %s: bucket %q: %w", u, bucket, err)
	}
	if creds.AccessKey == "" {
		return nil, fmt.Errorf("minio server %s: empty access key", u)
	}
	cfg := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.transport == nil {
		tr, err := NewTransport()
		if err != nil {
			return nil, fmt.Errorf("minio server %s: %w", u, err)
		}
		cfg.transport = tr
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:           credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, ""),
		Secure:          u.Scheme == "https",
		Transport:       watchedTransport{base: cfg.transport},
		Region:          cfg.region,
		TrailingHeaders: true,
		MaxRetries:      requestAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("minio server %s: %w", u, err)
	}
	return &Server{endpoint: u.String(), bucket: bucket, client: client, transport: cfg.transport, timeout: cfg.timeout}, nil
}

// NewServers returns one Server per endpoint, in the same order, all for the
// same bucket and credentials and sharing one NewTransport (unless opts
// contains WithTransport).
func NewServers(endpoints []string, bucket string, creds Credentials, opts ...Option) ([]*Server, error) {
	tr, err := NewTransport()
	if err != nil {
		return nil, err
	}
	opts = append([]Option{WithTransport(tr)}, opts...)
	servers := make([]*Server, 0, len(endpoints))
	for _, e := range endpoints {
		s, err := NewServer(e, bucket, creds, opts...)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// NormalizeEndpoint returns endpoint in the form Server.Endpoint uses:
// lower-case scheme and host, no trailing slash. It returns an error if the
// endpoint is not an http or https URL with a host and nothing after it.
func NormalizeEndpoint(endpoint string) (string, error) {
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func parseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil {
		return nil, fmt.Errorf("minio endpoint %q: %w", endpoint, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return nil, fmt.Errorf("minio endpoint %q: want http://host:port or https://host:port", endpoint)
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("minio endpoint %q: no host", endpoint)
	case u.User != nil:
		return nil, fmt.Errorf("minio endpoint %q: credentials do not belong in the URL", endpoint)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("minio endpoint %q: a path, query or fragment is not supported, give only scheme://host:port", endpoint)
	}
	return &url.URL{Scheme: scheme, Host: strings.ToLower(u.Host)}, nil
}

// Endpoint returns the server's URL, normalized as by NormalizeEndpoint. It is
// the value to record as an object's location.
func (s *Server) Endpoint() string { return s.endpoint }

// Bucket returns the name of the server's bucket.
func (s *Server) Bucket() string { return s.bucket }

// String returns the endpoint and bucket, for messages.
func (s *Server) String() string { return s.endpoint + "/" + s.bucket }

// EnsureBucket creates the bucket if it does not exist yet. A bucket that
// already exists and belongs to the same user is not an error.
func (s *Server) EnsureBucket(ctx context.Context) error {
	ctx, done := s.op(ctx)
	defer done()
	err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{})
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return fmt.Errorf("create bucket %s on %s: %w", s.bucket, s.endpoint, plainErr(stalled(ctx, err)))
}

// Put uploads the content read from r as the object key and returns its
// stored size. It reads r until io.EOF, or exactly size bytes when size >= 0;
// size -1 means unknown and streams r as a multipart upload, in parts of
// 16 MiB held in memory one at a time (so at most 160 GiB). Objects of known size up to
// 16 MiB are sent in a single request. An existing object is replaced.
//
// Every request carries an S3 SHA-256 checksum, which MinIO verifies before
// committing the object.
//
// If wantSHA256 is non-nil it must be the 32-byte SHA-256 of the content, and
// a wrong content fails the upload before it completes: no object is
// created, an existing object under key is left untouched, and the error
// wraps ErrChecksumMismatch:
//   - up to 16 MiB of known size, wantSHA256 itself is sent as the request's
//     (signed) checksum header: MinIO checks the bytes it received against
//     it, and Put checks that MinIO confirms it;
//   - larger, from an io.ReaderAt (a file): the content is checked against
//     wantSHA256 before anything is sent, then the parts go up in parallel;
//   - larger or of unknown size otherwise: Put hashes what it reads from r
//     and withholds the last bytes if the hash differs.
//
// Every part of a multipart upload carries a CRC32C the server verifies.
// (For multipart uploads S3 returns a checksum of the part checksums, which
// cannot be compared to the content's SHA-256.)
//
// An error reading r fails the upload and is returned wrapped. A cancelled
// ctx aborts the upload. Put does not close r.
func (s *Server) Put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error) {
	ctx, done := s.op(ctx)
	defer done()
	return s.put(ctx, key, r, size, wantSHA256)
}

func (s *Server) put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error) {
	if size < -1 {
		return 0, fmt.Errorf("upload %s to %s: invalid size %d", key, s.endpoint, size)
	}
	var vr *verifyingReader
	if wantSHA256 != nil {
		if len(wantSHA256) != sha256.Size {
			return 0, fmt.Errorf("upload %s to %s: expected sha256 has %d bytes, want %d", key, s.endpoint, len(wantSHA256), sha256.Size)
		}
		if size == 0 {
			// minio-go may not read an empty body at all: check now.
			if empty := sha256.Sum256(nil); !bytes.Equal(empty[:], wantSHA256) {
				return 0, fmt.Errorf("upload %s to %s: %w: empty content, want %x", key, s.endpoint, ErrChecksumMismatch, wantSHA256)
			}
		}
		if size > 0 && size <= singlePutMax {
			return s.putVerifiedByServer(ctx, key, r, size, wantSHA256)
		}
		if ra, ok := r.(io.ReaderAt); ok && size > 0 {
			return s.putVerifiedFirst(ctx, key, ra, size, wantSHA256)
		}
		// The wrapper also hides io.ReaderAt and io.Seeker, so minio-go
		// reads r once, in order (no parallel parts, no retries).
		vr = &verifyingReader{r: r, size: size, want: wantSHA256, h: sha256.New()}
		r = vr
	}
	// Every part carries a CRC32C that the server verifies: it proves the
	// transfer of each part at the cost of a hardware instruction, where a
	// per-part SHA-256 would hash everything once more. The content itself
	// is checked against wantSHA256 by vr, as it is read.
	opts := minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, ContentType: "application/octet-stream", DisableContentSha256: true}
	if size < 0 {
		// Without it minio-go sizes parts for a 5 TiB object: 512 MiB
		// buffers. 16 MiB parts bound memory and allow objects up to
		// 10 000 parts, 160 GiB.
		opts.PartSize = streamPartSize
	}
	info, err := s.client.PutObject(ctx, s.bucket, key, r, size, opts)
	if vr != nil && vr.mismatch != nil {
		if err == nil {
			// Not expected: the reader withholds the last bytes on a
			// mismatch, so the upload cannot complete. Do not keep it.
			err = s.client.RemoveObject(context.WithoutCancel(ctx), s.bucket, key, minio.RemoveObjectOptions{})
			return 0, errors.Join(fmt.Errorf("upload %s to %s: %w", key, s.endpoint, vr.mismatch),
				wrapIf(err, "remove the mismatched object"))
		}
		return 0, fmt.Errorf("upload %s to %s: %w", key, s.endpoint, vr.mismatch)
	}
	if err != nil {
		return 0, fmt.Errorf("upload %s to %s: %w", key, s.endpoint, plainErr(stalled(ctx, err)))
	}
	if wantSHA256 != nil && singlePart(info.ChecksumSHA256) {
		got, err := base64.StdEncoding.DecodeString(info.ChecksumSHA256)
		if err != nil || !bytes.Equal(got, wantSHA256) {
			// Cannot happen unless the server or minio-go misbehave: the
			// reader already matched. Do not keep an object we cannot trust.
			rmErr := s.client.RemoveObject(context.WithoutCancel(ctx), s.bucket, key, minio.RemoveObjectOptions{})
			return 0, errors.Join(
				fmt.Errorf("upload %s to %s: %w: server stored %q, want %x", key, s.endpoint, ErrChecksumMismatch, info.ChecksumSHA256, wantSHA256),
				wrapIf(rmErr, "remove the mismatched object"))
		}
	}
	return info.Size, nil
}

// putVerifiedFirst uploads a large object that can be read at any offset
// (a spooled file): it checks the whole content against wantSHA256 first,
// then lets minio-go send its parts in parallel straight from r, each with
// a CRC32C the server verifies. Nothing is buffered per part, so memory
// does not grow with the object. r must not change during the call.
//
// Parts are not signed chunk by chunk (DisableContentSha256): over plain
// HTTP minio-go would otherwise hash every part with SHA-256 once more and
// the server would check an HMAC per 64 KiB; over HTTPS minio-go never
// does. The CRC32C covers the transfer, and what is stored is checked
// against the recorded sha256 by every restore and verify.
func (s *Server) putVerifiedFirst(ctx context.Context, key string, r io.ReaderAt, size int64, wantSHA256 []byte) (int64, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return 0, fmt.Errorf("upload %s to %s: read the content to verify it: %w", key, s.endpoint, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, wantSHA256) {
		return 0, fmt.Errorf("upload %s to %s: %w: the content has sha256 %x, want %x", key, s.endpoint, ErrChecksumMismatch, got, wantSHA256)
	}
	opts := minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, ContentType: "application/octet-stream", PartSize: streamPartSize,
		DisableContentSha256: true}
	info, err := s.client.PutObject(ctx, s.bucket, key, io.NewSectionReader(r, 0, size), size, opts)
	if err != nil {
		return 0, fmt.Errorf("upload %s to %s: %w", key, s.endpoint, plainErr(stalled(ctx, err)))
	}
	return info.Size, nil
}

// singlePutMax is the largest object of known size minio-go sends in one
// request (its minimum part size).
const singlePutMax = 16 << 20

// streamPartSize is the part size of uploads of unknown size.
const streamPartSize = 16 << 20

// putVerifiedByServer uploads an object of known size in one request that
// carries wantSHA256 twice, both covered by the request's signature: as
// the signed payload hash (x-amz-content-sha256) and as the object's
// x-amz-checksum-sha256. MinIO hashes the body it receives and refuses to
// commit an object whose hash differs, so a wrong upload leaves nothing
// behind and an existing object under key untouched. The content is hashed
// by the server only: minio.Client.PutObject would sign a plain-HTTP
// upload chunk by chunk (another sha256 of the body here, and an HMAC per
// 64 KiB chunk on both sides), which the known hash makes needless.
func (s *Server) putVerifiedByServer(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error) {
	want := base64.StdEncoding.EncodeToString(wantSHA256)
	info, err := minio.Core{Client: s.client}.PutObject(ctx, s.bucket, key, r, size, "", hex.EncodeToString(wantSHA256), minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		UserMetadata:         map[string]string{"X-Amz-Checksum-Sha256": want},
		DisableMultipart:     true,
		DisableContentSha256: true, // no chunked signing: the payload hash is given
	})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "BadDigest", "InvalidDigest":
			return 0, fmt.Errorf("upload %s to %s: %w: the server found that the content's sha256 is not %x: %v", key, s.endpoint, ErrChecksumMismatch, wantSHA256, err)
		}
		return 0, fmt.Errorf("upload %s to %s: %w", key, s.endpoint, plainErr(stalled(ctx, err)))
	}
	if info.ChecksumSHA256 != want {
		// MinIO did not confirm the checksum it was asked to verify: do not
		// keep an object we cannot trust.
		rmErr := s.client.RemoveObject(context.WithoutCancel(ctx), s.bucket, key, minio.RemoveObjectOptions{})
		return 0, errors.Join(
			fmt.Errorf("upload %s to %s: %w: server stored %q, want %x", key, s.endpoint, ErrChecksumMismatch, info.ChecksumSHA256, wantSHA256),
			wrapIf(rmErr, "remove the unverified object"))
	}
	return info.Size, nil
}

// singlePart reports whether an x-amz-checksum-sha256 value is the checksum
// of the whole content, not a "<checksum of checksums>-<parts>" value.
func singlePart(checksum string) bool {
	return checksum != "" && !strings.Contains(checksum, "-")
}

func wrapIf(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// verifyingReader hashes what is read through it and, at the end of the
// content, fails instead of returning the last bytes if the hash is wrong, so
// that the upload reading it is aborted before it completes.
type verifyingReader struct {
	r        io.Reader
	size     int64 // -1: the content ends at io.EOF
	want     []byte
	h        hash.Hash
	n        int64
	checked  bool
	mismatch error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.mismatch != nil {
		return 0, v.mismatch
	}
	n, err := v.r.Read(p)
	hashed := int64(n)
	if v.size >= 0 {
		// Bytes past the declared size are not content; minio-go rejects them.
		hashed = max(0, min(hashed, v.size-v.n))
	}
	v.h.Write(p[:hashed])
	v.n += hashed
	end := err == io.EOF || (v.size >= 0 && v.n >= v.size)
	if end && !v.checked {
		v.checked = true
		if got := v.h.Sum(nil); !bytes.Equal(got, v.want) {
			v.mismatch = fmt.Errorf("%w: read %d bytes with sha256 %x, want %x", ErrChecksumMismatch, v.n, got, v.want)
			return 0, v.mismatch
		}
	}
	return n, err
}

// Get returns a reader of the object key and its size. The caller must close
// the reader. The error wraps ErrNotFound if the object does not exist.
//
// The content is not verified here: callers check it against the sha256
// the metadata records for it (as restore does), which covers the stored
// bytes, the transfer and decryption at once, and costs one hash less.
func (s *Server) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	ctx, done := s.op(ctx)
	// One GET, whose response headers give the size: minio.Client's
	// GetObject would send a HEAD first to answer Stat, a second round
	// trip per object that dominated restores of small files.
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		done()
		return nil, 0, s.objectError("download", key, stalled(ctx, err))
	}
	return &object{obj: body, s: s, key: key, ctx: ctx, done: done}, info.Size, nil
}

// object is the reader Get returns: a read cut short by a stall says so,
// and Close ends the operation.
type object struct {
	obj  io.ReadCloser
	s    *Server
	key  string
	ctx  context.Context
	done context.CancelFunc
}

func (o *object) Read(p []byte) (int, error) {
	n, err := o.obj.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("download %s from %s: %w", o.key, o.s.endpoint, plainErr(stalled(o.ctx, err)))
	}
	return n, err
}

func (o *object) Close() error {
	defer o.done()
	return o.obj.Close()
}

// Stat returns information about the object key. The error wraps ErrNotFound
// if the object does not exist.
func (s *Server) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	ctx, done := s.op(ctx)
	defer done()
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.objectError("stat", key, stalled(ctx, err))
	}
	return ObjectInfo{Key: st.Key, Size: st.Size, LastModified: st.LastModified}, nil
}

// Remove deletes the object key. Like S3, it does not fail if the object does
// not exist.
func (s *Server) Remove(ctx context.Context, key string) error {
	ctx, done := s.op(ctx)
	defer done()
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.objectError("remove", key, stalled(ctx, err))
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, in
// lexicographic key order, descending into "directories". It stops at and
// returns the first error of fn (unwrapped) or of the listing.
func (s *Server) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	ctx, done := s.op(ctx)
	defer done()
	for obj := range s.objects(ctx, prefix) {
		if obj.Err != nil {
			return fmt.Errorf("list %q in bucket %s on %s: %w", prefix, s.bucket, s.endpoint, plainErr(stalled(ctx, obj.Err)))
		}
		if err := fn(ObjectInfo{Key: obj.Key, Size: obj.Size, LastModified: obj.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) objects(ctx context.Context, prefix string) iter.Seq[minio.ObjectInfo] {
	return s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
}

// objectError wraps err from an operation on key, adding ErrNotFound when the
// server says the object does not exist.
func (s *Server) objectError(op, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey":
		return fmt.Errorf("%s %s on %s: %w", op, key, s, ErrNotFound)
	case "NoSuchBucket":
		return fmt.Errorf("%s %s on %s: %w: %s (create it with EnsureBucket): %w", op, key, s.endpoint, ErrNoBucket, s.bucket, err)
	}
	return fmt.Errorf("%s %s on %s: %w", op, key, s, plainErr(err))
}
