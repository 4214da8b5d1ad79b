package restore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// target is the directory restored files go into, held open by a
// descriptor. Every name it takes must be one path component (SafeName
// makes them so, and target refuses anything else), and files are created
// relative to the descriptor with O_CREAT|O_EXCL|O_NOFOLLOW: nothing can be
// written outside the directory or through a link, whatever a title holds,
// even if the directory is moved meanwhile. Each operation is one system
// call (os.Root walks the path on every call, which dominated restores of
// many small files). Names are never replaced: a file is published with
// renameat2(RENAME_NOREPLACE), or link(2) and unlink(2) where the
// filesystem does not support that flag, both of which fail when the name
// exists.
type target struct {
	dir *os.File

	mu    sync.Mutex
	taken map[string]bool // names this run has handed out

	// noRenameNoReplace is set once the filesystem refused
	// RENAME_NOREPLACE.
	noRenameNoReplace atomic.Bool
}

func openTarget(root *os.Root) (*target, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("open the target directory: %w", err)
	}
	return &target{dir: d, taken: map[string]bool{}}, nil
}

func (t *target) fd() int      { return int(t.dir.Fd()) }
func (t *target) Close() error { return t.dir.Close() }

// component refuses a name that is not exactly one path component.
func component(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("name %q is not a single file name inside the target directory", name)
	}
	return nil
}

// reserve returns want, or want with "~" appended as many times as needed,
// such that no file has that name and this run has not handed it out yet.
// Reservations are made in the order of the matches, so names do not depend
// on which download ends first.
func (t *target) reserve(want string) (string, error) {
	if err := component(want); err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	name := want
	for range 1000 {
		var st unix.Stat_t
		err := unix.Fstatat(t.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) && !t.taken[name] {
			t.taken[name] = true
			return name, nil
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("name %s: %w", name, err)
		}
		name += "~"
	}
	return "", fmt.Errorf("name %s: 1000 names with ~ are all taken", want)
}

// create makes a new file name with mode, refusing to follow or replace
// anything that exists.
func (t *target) create(name string, mode uint32) (*os.File, error) {
	if err := component(name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(t.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// publish gives the finished file tmp its name, or name with more "~" if
// something else took it meanwhile, and returns the name it got. It never
// replaces a file.
func (t *target) publish(tmp, name string) (string, error) {
	if err := component(name); err != nil {
		return "", err
	}
	for range 1000 {
		named, err := t.rename(tmp, name)
		if named {
			return name, err
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", err
		}
		t.mu.Lock()
		for t.taken[name+"~"] {
			name += "~"
		}
		name += "~"
		t.taken[name] = true
		t.mu.Unlock()
	}
	return "", fmt.Errorf("name %s: 1000 names with ~ are all taken", name)
}

// rename gives tmp the name name, which must not exist: one system call
// where the filesystem supports RENAME_NOREPLACE, else link(2) then
// unlink(2) (and from then on only those). named reports whether the file
// has the name (an error then is about removing tmp); otherwise the error
// wraps unix.EEXIST when name exists.
func (t *target) rename(tmp, name string) (named bool, err error) {
	if !t.noRenameNoReplace.Load() {
		err := unix.Renameat2(t.fd(), tmp, t.fd(), name, unix.RENAME_NOREPLACE)
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
			if err != nil {
				return false, &os.LinkError{Op: "rename", Old: tmp, New: name, Err: err}
			}
			return true, nil
		}
		t.noRenameNoReplace.Store(true)
	}
	if err := unix.Linkat(t.fd(), tmp, t.fd(), name, 0); err != nil {
		return false, &os.LinkError{Op: "link", Old: tmp, New: name, Err: err}
	}
	return true, t.remove(tmp)
}

// remove deletes the file name.
func (t *target) remove(name string) error {
	if err := component(name); err != nil {
		return err
	}
	if err := unix.Unlinkat(t.fd(), name, 0); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// sync flushes the target's filesystem, so that every file written so far
// survives a crash.
func (t *target) sync() error {
	if err := unix.Syncfs(t.fd()); err != nil {
		return fmt.Errorf("sync the target directory's filesystem: %w", err)
	}
	return nil
}
