package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// checkTarget makes sure that restored files can be written into dir,
// before anything is searched, and returns its absolute path. dir must be
// a directory (a symbolic link to one is fine) that this user may write
// into, or not exist yet under a directory where it can be created. A
// file, a device such as /dev/null, a link to either, a dangling link and
// a read-only directory are usage errors that say what is wrong.
func checkTarget(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", withCode(ExitUsage, fmt.Errorf("--target %s: %w", dir, err))
	}
	bad := func(format string, args ...any) (string, error) {
		return "", withCode(ExitUsage, fmt.Errorf("--target %s: "+format+"; give a directory you may write into, or a new one to create", append([]any{dir}, args...)...))
	}
	missing := func(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) }
	li, err := os.Lstat(abs)
	switch {
	case missing(err):
		// Created later: its nearest existing ancestor must let us.
		parent := filepath.Dir(abs)
		for {
			pi, err := os.Stat(parent)
			if err == nil {
				if !pi.IsDir() {
					return bad("%s is %s, so the directory cannot be created", parent, fileKind(pi.Mode()))
				}
				if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
					return bad("it does not exist, and cannot be created in %s (%v)", parent, err)
				}
				return abs, nil
			}
			if !missing(err) {
				return bad("%v", err)
			}
			parent = filepath.Dir(parent)
		}
	case err != nil:
		return bad("%v", err)
	}
	fi, err := os.Stat(abs)
	if li.Mode()&fs.ModeSymlink != 0 {
		link, _ := os.Readlink(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return bad("it is a symbolic link to %s, which does not exist", link)
		case err != nil:
			return bad("it is a symbolic link to %s: %v", link, err)
		case !fi.IsDir():
			return bad("it is a symbolic link to %s, which is %s, not a directory", link, fileKind(fi.Mode()))
		}
	}
	if err != nil {
		return bad("%v", err)
	}
	if !fi.IsDir() {
		return bad("it is %s, not a directory", fileKind(fi.Mode()))
	}
	if err := unix.Access(abs, unix.W_OK|unix.X_OK); err != nil {
		if errors.Is(err, unix.EROFS) {
			return bad("it is on a read-only file system")
		}
		return bad("it is not writable (%v)", err)
	}
	return abs, nil
}

// fileKind names what a mode is, for messages: "a regular file", "a
// device", ...
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
