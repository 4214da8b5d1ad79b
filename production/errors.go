package production

import (
	"errors"
	"fmt"
)

// ErrObjectNotFound is wrapped by the error of Stat and Open when the
// container exists but holds no object of that name.
var ErrObjectNotFound = errors.New("no such object")

// ErrObjectExists is wrapped by the error of PutNew when the container
// already holds an object of that name. Nothing was written.
var ErrObjectExists = errors.New("an object of that name exists")

// ErrContainerNotFound is matched (errors.Is) by every
// *ContainerNotFoundError.
var ErrContainerNotFound = errors.New("no such container")

// ErrAccessDenied is wrapped by errors of a store that refused the
// credentials or the operation (Swift's 401 and 403, a directory's
// permissions).
var ErrAccessDenied = errors.New("access denied")

// ErrInvalidName is wrapped by the errors of CheckContainer, CheckName and
// CheckPlace, and so by every operation given such a name. Nothing is read
// or written then.
var ErrInvalidName = errors.New("invalid name")

// ErrMismatch is matched (errors.Is) by every *MismatchError.
var ErrMismatch = errors.New("bytes do not match their metadata")

// ContainerNotFoundError says that a container does not exist. MediaWiki
// creates a container on its first write there and never on a read, so a
// lost container stays lost until someone creates it again with MediaWiki's
// ACLs: Store.CreateContainer.
type ContainerNotFoundError struct {
	Store     string // Store.String()
	Container string
}

func (e *ContainerNotFoundError) Error() string {
	return fmt.Sprintf("container %s does not exist in %s (create it with MediaWiki's ACLs before writing to it)", e.Container, e.Store)
}

// Is makes errors.Is(err, ErrContainerNotFound) true.
func (e *ContainerNotFoundError) Is(target error) bool { return target == ErrContainerNotFound }

// MismatchError says that the bytes given to Put are not those its Meta
// describes (or, from Swift, that Swift computed another md5). Nothing was
// written.
type MismatchError struct {
	Field string // "size", "md5" or "sha1"
	Want  string // from Meta
	Got   string // from the bytes; for size, "more than N" when they went on
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("the bytes do not match their metadata: %s is %s, want %s", e.Field, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }
