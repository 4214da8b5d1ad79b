// Package swift is the production.Store of a wiki whose files are in
// OpenStack Swift, as MediaWiki's SwiftFileBackend keeps them (Wikimedia's
// set-up). It talks to Swift through github.com/ncw/swift/v2.
//
// # What it writes
//
// Put sends one PUT, exactly as SwiftFileBackend does: Content-Type (the
// file's MIME type), Content-Length, ETag (the md5, so that Swift refuses
// bytes that do not match) and X-Object-Meta-Sha1base36 (the sha1 in base
// 36, 31 characters, as in img_sha1). No other metadata: in particular no
// X-Object-Meta-Mtime, which the swift CLI adds. PutNew adds If-None-Match: *,
// so that Swift refuses (412) to replace an object. Swift stores an object only
// once its whole body has arrived and matched the ETag, so a PUT that is cut
// short (an error, a cancelled context, the process killed) leaves nothing
// behind, and the body is held back at its last byte until it is proven
// (see the package's verify reader).
//
// CreateContainer gives a new container the read and write ACLs that
// SwiftFileBackend::createContainer gives it, taken from Config.ACL: the
// public ones for the public, thumb and transcoded zones, the private ones
// for deleted and temp (a private wiki uses the private ones everywhere).
//
// # Authentication
//
// New logs in at once (tempauth and other v1 auth, or Keystone v2/v3 as
// github.com/ncw/swift/v2 detects from the URL), so wrong credentials fail
// before any work starts; an expired token is renewed on the fly.
package swift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/internal/verify"
)

// putAttempts is how often Put sends a request that failed before any of
// its body was read.
const putAttempts = 3

// MaxPageSize is the most names Swift returns in one listing
// (container_listing_limit and account_listing_limit, 10 000 by default).
const MaxPageSize = 10000

// Config says how to reach Swift and what to give new containers.
type Config struct {
	// AuthURL is the auth endpoint, e.g. http://swift.example:8080/auth/v1.0.
	AuthURL string
	// User and Key are the credentials (tempauth: "account:user" and its
	// key). They are mediabackups' own, not MediaWiki's.
	User string
	Key  config.Secret
	// ACL is what a container created by CreateContainer gets. When it is
	// the zero value, CreateContainer refuses.
	ACL ACL
	// UserAgent is sent with every request.
	UserAgent string
	// PageSize is how many names one listing request asks for: default and
	// most MaxPageSize. Tests make it small to exercise paging.
	PageSize int
	// Timeout is how long a transfer may stall before it is given up
	// (default 60 s).
	Timeout time.Duration
}

// ACL is the pair of container ACLs (X-Container-Read and
// X-Container-Write) that MediaWiki gives a new container, for each kind
// of zone. `swift stat <container>` of an existing container shows them.
// With SwiftFileBackend's settings swiftUser, readUsers, writeUsers,
// secureReadUsers and secureWriteUsers they are:
//
//	PublicRead:   readUsers + ".r:*" + swiftUser     e.g. ".r:*,mw:media"
//	PublicWrite:  writeUsers + swiftUser             e.g. "mw:media"
//	PrivateRead:  secureReadUsers + swiftUser        e.g. "mw:media"
//	PrivateWrite: secureWriteUsers + swiftUser       e.g. "mw:media"
//
// On a private wiki ($wgLocalFileRepo isPrivate) every container is
// private: give the private ACLs as the public ones too.
type ACL struct {
	PublicRead, PublicWrite   string
	PrivateRead, PrivateWrite string
}

// IsZero reports whether no ACL is configured.
func (a ACL) IsZero() bool { return a == ACL{} }

// For returns the read and write ACLs of a new container of that name.
func (a ACL) For(c production.ContainerName) (read, write string) {
	if c.Private() {
		return a.PrivateRead, a.PrivateWrite
	}
	return a.PublicRead, a.PublicWrite
}

// Store is a production.Store on Swift. It is safe for concurrent use.
type Store struct {
	c        *ncw.Connection
	cfg      Config
	pageSize int
	name     string // "swift <storage URL>"
}

var _ production.Store = (*Store)(nil)

// New logs in to Swift and returns the store. A refused login wraps
// production.ErrAccessDenied; every error says what to check.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.AuthURL == "" || cfg.User == "" || cfg.Key.Reveal() == "" {
		return nil, errors.New("swift: the auth URL, user and key are all needed")
	}
	ps := cfg.PageSize
	if ps <= 0 || ps > MaxPageSize {
		ps = MaxPageSize
	}
	c := &ncw.Connection{
		AuthUrl:   cfg.AuthURL,
		UserName:  cfg.User,
		ApiKey:    cfg.Key.Reveal(),
		UserAgent: cfg.UserAgent,
		Timeout:   cfg.Timeout,
	}
	s := &Store{c: c, cfg: cfg, pageSize: ps}
	if err := c.Authenticate(ctx); err != nil {
		return nil, s.loginError(err)
	}
	s.name = "swift " + c.StorageUrl
	return s, nil
}

func (s *Store) loginError(err error) error {
	what := fmt.Sprintf("log in to Swift at %s as %s", s.cfg.AuthURL, s.cfg.User)
	var se *ncw.Error
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s: %w: Swift refused the user or key (HTTP %d); check the user and the key in the key file", what, production.ErrAccessDenied, se.StatusCode)
	case errors.As(err, &ne), errors.As(err, &ue):
		return fmt.Errorf("%s: %w: check the auth URL and that the Swift proxy runs and is reachable from here", what, err)
	}
	return fmt.Errorf("%s: %w: check the auth URL (e.g. http://swift.example:8080/auth/v1.0)", what, err)
}

// String names the store: "swift <storage URL>".
func (s *Store) String() string { return s.name }

// fail turns a library error into the store's: what was done, and for the
// errors an operator can act on, the production sentinel and a hint.
func (s *Store) fail(op, container string, err error) error {
	var se *ncw.Error
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: %w: Swift user %s may not do this (HTTP %d); check its rights on %s",
				op, production.ErrAccessDenied, s.cfg.User, se.StatusCode, container)
		}
	}
	return fmt.Errorf("%s on %s: %w", op, s, err)
}

func (s *Store) notFound(container string) error {
	return &production.ContainerNotFoundError{Store: s.String(), Container: container}
}

// Containers implements production.Store.
func (s *Store) Containers(ctx context.Context, prefix string, fn func(string) error) error {
	marker := ""
	for {
		page, err := s.c.ContainerNames(ctx, &ncw.ContainersOpts{Prefix: prefix, Marker: marker, Limit: s.pageSize})
		if err != nil {
			return s.fail(fmt.Sprintf("list the containers %s*", prefix), prefix+"*", err)
		}
		for _, name := range page {
			if err := fn(name); err != nil {
				return err
			}
		}
		if len(page) < s.pageSize {
			return nil
		}
		marker = page[len(page)-1]
	}
}

// Objects implements production.Store.
func (s *Store) Objects(ctx context.Context, container, after string, fn func(production.Object) error) error {
	if err := production.CheckContainer(container); err != nil {
		return err
	}
	marker := after
	for {
		page, err := s.c.Objects(ctx, container, &ncw.ObjectsOpts{Marker: marker, Limit: s.pageSize})
		if errors.Is(err, ncw.ContainerNotFound) {
			return s.notFound(container)
		}
		if err != nil {
			return s.fail("list the objects of "+container, container, err)
		}
		for _, o := range page {
			err := fn(production.Object{
				Name: o.Name, Size: o.Bytes, Modified: o.LastModified.UTC(),
				MD5: strings.ToLower(o.Hash), ContentType: o.ContentType,
			})
			if err != nil {
				return err
			}
		}
		if len(page) < s.pageSize {
			return nil
		}
		marker = page[len(page)-1].Name
	}
}

// objectFrom describes an object from the headers of a HEAD or GET.
func objectFrom(name string, h ncw.Headers) (production.Object, error) {
	o := production.Object{
		Name:        name,
		MD5:         strings.ToLower(strings.Trim(h["Etag"], `"`)),
		ContentType: h["Content-Type"],
		Metadata:    map[string]string(h.ObjectMetadata()),
	}
	o.SHA1Base36 = o.Metadata["sha1base36"]
	if v := h["Content-Length"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return production.Object{}, fmt.Errorf("object %s: bad Content-Length %q", name, v)
		}
		o.Size = n
	}
	if v := h["Last-Modified"]; v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return production.Object{}, fmt.Errorf("object %s: bad Last-Modified %q", name, v)
		}
		o.Modified = t.UTC()
	}
	return o, nil
}

// missing tells ErrObjectNotFound from a missing container after a 404.
func (s *Store) missing(ctx context.Context, op, container string) error {
	_, _, err := s.c.Container(ctx, container)
	switch {
	case errors.Is(err, ncw.ContainerNotFound):
		return s.notFound(container)
	case err != nil:
		return s.fail(op, container, err)
	}
	return fmt.Errorf("%s: %w", op, production.ErrObjectNotFound)
}

func checkObject(container, name string) error {
	if err := production.CheckContainer(container); err != nil {
		return err
	}
	return production.CheckName(name)
}

// Stat implements production.Store.
func (s *Store) Stat(ctx context.Context, container, name string) (production.Object, error) {
	if err := checkObject(container, name); err != nil {
		return production.Object{}, err
	}
	op := fmt.Sprintf("stat %s/%s", container, name)
	_, h, err := s.c.Object(ctx, container, name)
	if errors.Is(err, ncw.ObjectNotFound) {
		return production.Object{}, s.missing(ctx, op, container)
	}
	if err != nil {
		return production.Object{}, s.fail(op, container, err)
	}
	return objectFrom(name, h)
}

// Open implements production.Store.
func (s *Store) Open(ctx context.Context, container, name string) (io.ReadCloser, production.Object, error) {
	if err := checkObject(container, name); err != nil {
		return nil, production.Object{}, err
	}
	op := fmt.Sprintf("read %s/%s", container, name)
	f, h, err := s.c.ObjectOpen(ctx, container, name, false, nil)
	if errors.Is(err, ncw.ObjectNotFound) {
		return nil, production.Object{}, s.missing(ctx, op, container)
	}
	if err != nil {
		return nil, production.Object{}, s.fail(op, container, err)
	}
	o, err := objectFrom(name, h)
	if err != nil {
		f.Close()
		return nil, production.Object{}, err
	}
	return f, o, nil
}

// Put implements production.Store.
func (s *Store) Put(ctx context.Context, container, name string, r io.Reader, m production.Meta) error {
	return s.put(ctx, container, name, r, m, false)
}

// PutNew implements production.Store: Put with If-None-Match: *, which
// Swift answers with 412 when the object exists.
func (s *Store) PutNew(ctx context.Context, container, name string, r io.Reader, m production.Meta) error {
	return s.put(ctx, container, name, r, m, true)
}

func (s *Store) put(ctx context.Context, container, name string, r io.Reader, m production.Meta, onlyNew bool) error {
	op := fmt.Sprintf("write %s/%s", container, name)
	if err := production.CheckPlace(container, name); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	b36, err := mediawiki.SHA1HexToBase36(strings.ToLower(m.SHA1))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	h := ncw.Headers{
		"Content-Length":           strconv.FormatInt(m.Size, 10),
		"X-Object-Meta-Sha1base36": b36,
	}
	if onlyNew {
		h["If-None-Match"] = "*"
		// No "Expect: 100-continue", although Swift answers 412 without
		// reading the body: with ncw/swift's requests Swift sends no 100
		// Continue, and each PUT would wait out the client's 5 s timeout
		// (measured: 66 ms a PUT without it, 5.03 s with it). A write cut
		// off by an early 412 is told apart below instead.
	}
	var body *verify.Reader
	for attempt := 1; ; attempt++ {
		body = verify.NewReader(ctx, r, m)
		_, err = s.c.ObjectPut(ctx, container, name, body, false, strings.ToLower(m.MD5), m.ContentType, h)
		// A connection that the proxy closed after answering a PUT without
		// reading its body (a 404 for a missing container, say) fails the
		// next request on it before any byte is sent: send it again.
		var se *ncw.Error
		if err == nil || body.Started() || errors.As(err, &se) || ctx.Err() != nil || attempt == putAttempts {
			break
		}
	}
	if err == nil && !body.Done() {
		// Cannot happen with a Content-Length, but a stored object whose
		// end was not proven must never pass as a success.
		err = errors.New("Swift accepted the object before its bytes were checked")
	}
	var se *ncw.Error
	switch {
	case err == nil:
		return nil
	case onlyNew && errors.As(err, &se) && se.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%s: %w", op, production.ErrObjectExists)
	case onlyNew && !errors.As(err, &se) && body.Err() == nil && ctx.Err() == nil && s.exists(ctx, container, name):
		// The connection broke (a proxy that answered 412 before the body
		// was sent, or a lost answer to a PUT that succeeded): an object is
		// there now, which the caller looks at as after a 412.
		return fmt.Errorf("%s: %w (the write failed: %v)", op, production.ErrObjectExists, err)
	case body.Err() != nil:
		return fmt.Errorf("%s: %w", op, body.Err())
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case errors.Is(err, ncw.ObjectNotFound): // a PUT's 404: no container
		return fmt.Errorf("%s: %w", op, s.notFound(container))
	case errors.Is(err, ncw.ObjectCorrupted): // 422: Swift's md5 differs from the ETag
		return fmt.Errorf("%s: %w", op, &production.MismatchError{Field: "md5", Want: m.MD5, Got: "another (Swift's own check, HTTP 422)"})
	}
	return s.fail(op, container, err)
}

// exists reports whether container/name is there now (false when Swift
// cannot tell).
func (s *Store) exists(ctx context.Context, container, name string) bool {
	_, _, err := s.c.Object(ctx, container, name)
	return err == nil
}

// CreateContainer implements production.Store.
func (s *Store) CreateContainer(ctx context.Context, container string) error {
	op := "create container " + container
	c, err := production.ParseContainer(container)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, _, err = s.c.Container(ctx, container)
	switch {
	case err == nil:
		return nil // there: leave its ACLs alone
	case !errors.Is(err, ncw.ContainerNotFound):
		return s.fail(op, container, err)
	}
	if s.cfg.ACL.IsZero() {
		return fmt.Errorf("%s: no ACLs for new containers are configured: set them as MediaWiki's (production.acl in the wiki's config; `swift stat` of an existing %s container shows them)", op, c.Zone)
	}
	read, write := s.cfg.ACL.For(c)
	for attempt := 1; ; attempt++ {
		// The PUT has no body and is idempotent: send it again after a
		// connection failure (see Put).
		err = s.c.ContainerCreate(ctx, container, ncw.Headers{"X-Container-Read": read, "X-Container-Write": write})
		var se *ncw.Error
		if err == nil || errors.As(err, &se) || ctx.Err() != nil || attempt == putAttempts {
			break
		}
	}
	if err != nil {
		return s.fail(op, container, err)
	}
	return nil
}
