// Package production reads and writes the originals of a wiki's files where
// MediaWiki itself keeps them: "production". That is one of two kinds of
// store, both behind Store:
//
//   - OpenStack Swift (production/swift), as MediaWiki's SwiftFileBackend
//     uses it at Wikimedia;
//   - a directory tree, $wgUploadDirectory and $wgDeletedDirectory
//     (production/filesystem), as FSFileBackend uses it on most other
//     installations.
//
// production/productiontest is the conformance suite that every Store
// passes, run against a real Swift and a real directory.
//
// # Names
//
// A Store speaks Swift's names, the ones the metadata records for every
// version (see mediawiki.Containers and inventory.FromVersion): a container
// "<wiki ID>-<repo>-<zone>[.<shard>]" such as "wikipedia-commons-local-public.2e"
// or "wikipedia-en-local-deleted", and an object name inside it, the file's
// path in its zone: "2/2e/Simple.png", "archive/9/9b/20250102090000!Wow!Amazing.png",
// "r/j/r/rjrzta2uecby71eo37q33rfc4bdtzyv.png". CheckName and CheckPlace say
// which names are valid; the filesystem store maps them to paths.
//
// # Guarantees
//
// Every Store keeps these, and productiontest checks them:
//
//   - Put and PutNew are atomic. Readers see the old object (or none) until the new one
//     is complete and verified, then the new one. An error, a cancelled
//     context or the writer's death (kill -9 included) at any point leaves
//     no partial object under the name and the old object, if any, intact.
//   - Put and PutNew check the bytes before they become visible: exactly Meta.Size
//     bytes whose md5 and sha1 are Meta.MD5 and Meta.SHA1, or a
//     *MismatchError and nothing written.
//   - Put writes exactly what MediaWiki writes, so that MediaWiki cannot tell
//     a restored object from its own. On Swift: Content-Type, ETag (the md5,
//     which Swift checks as well) and X-Object-Meta-Sha1base36, nothing else.
//     On disk: the file, with MediaWiki's mode and its directory's owner.
//   - Listing streams. Containers and Objects call their callback once per
//     name, in byte order of the names (Swift's order), holding at most one
//     page (Swift: PageSize names) or one directory in memory, so a
//     Commons-size wiki (110 M objects in thousands of containers) can be
//     listed. A callback error stops the listing and is returned as is.
//   - A container that does not exist is a *ContainerNotFoundError
//     (errors.Is(err, ErrContainerNotFound)); an object that does not exist
//     is ErrObjectNotFound. Stores never create a container on their own:
//     the caller decides, then calls CreateContainer.
//   - Errors say what was being done, on which store, and what to do.
//     Refused credentials wrap ErrAccessDenied.
package production

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Store is where a wiki's originals live in production. Implementations:
// production/swift and production/filesystem. Consumers should declare the
// narrower interface they use (an audit needs Containers and Objects, a
// restore Stat, Put and CreateContainer).
type Store interface {
	// Containers calls fn with the name of every existing container whose
	// name starts with prefix, in byte order.
	Containers(ctx context.Context, prefix string, fn func(name string) error) error
	// Objects calls fn for every object in container whose name sorts after
	// after ("" for all), in byte order, with Name, Size, Modified and, on
	// Swift, MD5 and ContentType set. A missing container is a
	// *ContainerNotFoundError.
	Objects(ctx context.Context, container, after string, fn func(Object) error) error
	// Stat describes one object: everything Objects gives and, on Swift,
	// SHA1Base36 and Metadata. ErrObjectNotFound or a
	// *ContainerNotFoundError when it is not there.
	Stat(ctx context.Context, container, name string) (Object, error)
	// Open returns the object's bytes, as stored (nothing is checked), and
	// what Stat would say. The caller closes the reader.
	Open(ctx context.Context, container, name string) (io.ReadCloser, Object, error)
	// Put writes r's bytes as the object container/name, atomically and
	// checked against m (see the package's Guarantees), replacing any object
	// of that name. The container must exist (else *ContainerNotFoundError);
	// name must be valid for it (CheckPlace, else ErrInvalidName).
	Put(ctx context.Context, container, name string, r io.Reader, m Meta) error
	// PutNew is Put, but only where no object of that name exists: then it
	// returns an error wrapping ErrObjectExists and writes nothing. The
	// check and the write are one atomic step (Swift's If-None-Match: *, a
	// link(2) on disk), so an object that appears meanwhile is never
	// replaced. It may return ErrObjectExists before reading r.
	PutNew(ctx context.Context, container, name string, r io.Reader, m Meta) error
	// CreateContainer creates container as MediaWiki would on its first
	// write there: on Swift with MediaWiki's ACLs for the container's zone,
	// on disk the zone's directory with its parent's mode and owner. A
	// container that exists is left exactly as it is (nil).
	CreateContainer(ctx context.Context, container string) error
	// String names the store for messages: "swift http://…/v1/AUTH_x",
	// "filesystem /srv/images".
	String() string
}

// Object describes an object as a Store reports it.
type Object struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	// MD5 is the md5 of the bytes in lower-case hex when the store knows it
	// without reading them: Swift's ETag, always set by the Swift store,
	// never by the filesystem store (use Checksum there).
	MD5 string `json:"md5,omitempty"`
	// ContentType is the object's Content-Type (Swift only).
	ContentType string `json:"content_type,omitempty"`
	// SHA1Base36 is X-Object-Meta-Sha1base36 (Swift's Stat and Open only;
	// "" when the object has none).
	SHA1Base36 string `json:"sha1base36,omitempty"`
	// Metadata holds every X-Object-Meta-* header (Swift's Stat and Open
	// only), by lower-case name without the prefix: {"sha1base36": "…"}
	// for an object MediaWiki wrote.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Meta is what Put writes along with the bytes, and what it checks them
// against before anything becomes visible.
type Meta struct {
	// Size of the bytes.
	Size int64
	// MD5 of the bytes, 32 hex digits (Swift gets it as the ETag and checks
	// it too).
	MD5 string
	// SHA1 of the bytes, 40 hex digits, as the metadata and the API give it.
	// Swift stores it in base 36 as X-Object-Meta-Sha1base36.
	SHA1 string
	// ContentType is MediaWiki's MIME type of the file (img_media_type's
	// major/minor, the API's "mime"), e.g. "image/png". img_auth.php serves
	// it as the Content-Type.
	ContentType string
}

// Validate reports a Meta that Put cannot write.
func (m Meta) Validate() error {
	var errs []error
	if m.Size < 0 {
		errs = append(errs, fmt.Errorf("size %d is negative", m.Size))
	}
	if !isHex(m.MD5, 32) {
		errs = append(errs, fmt.Errorf("md5 %q is not 32 hex digits", m.MD5))
	}
	if !isHex(m.SHA1, 40) {
		errs = append(errs, fmt.Errorf("sha1 %q is not 40 hex digits", m.SHA1))
	}
	if !validContentType(m.ContentType) {
		errs = append(errs, fmt.Errorf("content type %q is not a MIME type such as image/png", m.ContentType))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid object metadata: %w", err)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ValidContentType reports whether s can be a Meta's ContentType.
func ValidContentType(s string) bool { return validContentType(s) }

// validContentType accepts "type/subtype" with optional parameters, made of
// printable ASCII: anything that can go into an HTTP header unchanged.
func validContentType(s string) bool {
	slash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		if c == '/' && i > 0 {
			slash = true
		}
	}
	return slash && s[len(s)-1] != '/'
}

// Sums are the size and digests of bytes as read.
type Sums struct {
	Size int64  `json:"size"`
	MD5  string `json:"md5"`
	SHA1 string `json:"sha1"`
}

// Hash reads r to its end and returns its size, md5 and sha1 (lower-case hex).
func Hash(r io.Reader) (Sums, error) {
	m, s := md5.New(), sha1.New()
	n, err := io.Copy(io.MultiWriter(m, s), r)
	if err != nil {
		return Sums{}, err
	}
	return Sums{Size: n, MD5: hex.EncodeToString(m.Sum(nil)), SHA1: hex.EncodeToString(s.Sum(nil))}, nil
}

// Opener is the part of a Store that Checksum uses.
type Opener interface {
	Open(ctx context.Context, container, name string) (io.ReadCloser, Object, error)
}

// Checksum reads an object through s and returns what the store says of it
// and what its bytes really are. It is how an audit checks a store that
// lists no md5 (the filesystem), and how a restore reads back what it wrote.
func Checksum(ctx context.Context, s Opener, container, name string) (Object, Sums, error) {
	rc, o, err := s.Open(ctx, container, name)
	if err != nil {
		return Object{}, Sums{}, err
	}
	defer rc.Close()
	sums, err := Hash(rc)
	if err != nil {
		return o, Sums{}, fmt.Errorf("read %s/%s: %w", container, name, err)
	}
	return o, sums, nil
}
