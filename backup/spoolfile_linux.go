package backup

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openUnnamed opens a nameless file in dir with O_TMPFILE. Filesystems
// without it answer EOPNOTSUPP (older kernels: EISDIR or EINVAL), which
// is errUnnamedUnsupported.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			return nil, errUnnamedUnsupported
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed spool file)")), nil
}
