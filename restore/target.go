package restore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// target is the directory restored files go into, held open by a
// descriptor. Every name it takes must be one path component (SafeName
// makes them so, and target refuses anything else), and every operation is
// relative to the descriptor and never follows a link: nothing can be
// written outside the directory or through a link, whatever a title holds,
// even if the directory is moved meanwhile. Each operation is one system
// call (os.Root walks the path on every call, which dominated restores of
// many small files).
//
// A file is written without a name (O_TMPFILE) and linked under its name
// with link(2) once it is complete, which fails when the name exists: no
// partial file is ever visible, none is left behind by a crash, nothing is
// replaced, and the directory is changed once per file instead of twice.
// Where the filesystem or /proc does not allow that, the file is written
// under a temporary name (O_CREAT|O_EXCL|O_NOFOLLOW) and renamed with
// renameat2(RENAME_NOREPLACE), or linked and unlinked where the
// filesystem does not support that flag; both fail when the name exists.
type target struct {
	dir *os.File

	mu    sync.Mutex
	taken map[string]bool // names this run has handed out

	// named is set when unnamed files cannot be linked here (probed by
	// openTarget).
	named bool
	// noRenameNoReplace is set once the filesystem refused
	// RENAME_NOREPLACE.
	noRenameNoReplace atomic.Bool
}

func openTarget(root *os.Root) (*target, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("open the target directory: %w", err)
	}
	t := &target{dir: d, taken: map[string]bool{}}
	t.named = !t.probeUnnamed()
	return t, nil
}

// probeUnnamed reports whether an unnamed file can be created in the
// directory and then linked into it: a probe file is, and removed again.
func (t *target) probeUnnamed() bool {
	f, err := t.unnamed(0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	probe := ".restore-probe-" + rand.Text()
	if err := t.linkUnnamed(f, probe); err != nil {
		return false
	}
	return t.remove(probe) == nil
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

// staged is a file being written into the target, not yet under its
// name.
type staged struct {
	*os.File
	tmp string // its temporary name; "" when it has none (O_TMPFILE)
}

// stage creates a file with mode to write a version into: an unnamed one,
// or one with a new temporary name where unnamed files cannot be linked.
func (t *target) stage(mode uint32) (*staged, error) {
	if !t.named {
		f, err := t.unnamed(mode)
		if err != nil {
			return nil, err
		}
		return &staged{File: f}, nil
	}
	tmp := ".restore-" + rand.Text() + ".tmp"
	f, err := t.create(tmp, mode)
	if err != nil {
		return nil, err
	}
	return &staged{File: f, tmp: tmp}, nil
}

// startWriteback asks the kernel to start writing a complete file of
// size bytes to disk now, without waiting for it, so that the sync at the
// end of the run finds little left: the disk writes the large files of a
// restore while the next ones download, instead of all of them at the
// end. Small files are left to the sync, which writes many of them
// together. It is only a hint, so its error is ignored: the sync remains
// what makes the files durable.
func (t *target) startWriteback(s *staged, size int64) {
	if size >= writebackFrom {
		unix.SyncFileRange(int(s.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
}

// writebackFrom is the size from which startWriteback starts a file's
// writeback.
const writebackFrom = 1 << 20

// discard closes s and removes its temporary name, if it has one.
func (t *target) discard(s *staged) {
	s.Close()
	if s.tmp != "" {
		t.remove(s.tmp)
	}
}

// unnamed makes a new file without a name in the directory.
func (t *target) unnamed(mode uint32) (*os.File, error) {
	fd, err := unix.Openat(t.fd(), ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, &os.PathError{Op: "create an unnamed file in", Path: t.dir.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), "(unnamed)"), nil
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

// publish gives the complete file s its name, or name with more "~" if
// something else took it meanwhile, and returns the name it got. It never
// replaces a file. s stays open; a temporary name it had is gone once it
// has its name. On an error the name returned is "", unless the file did
// get that name and only its temporary name could not be removed then.
func (t *target) publish(s *staged, name string) (string, error) {
	if err := component(name); err != nil {
		return "", err
	}
	for range 1000 {
		var named bool
		var err error
		if s.tmp == "" {
			err = t.linkUnnamed(s.File, name)
			named = err == nil
		} else {
			named, err = t.rename(s.tmp, name)
		}
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

// linkUnnamed gives the unnamed file f the name name, which must not
// exist (the error then wraps unix.EEXIST): through /proc/self/fd, the way
// open(2) documents, as linkat(AT_EMPTY_PATH) needs a capability before
// Linux 6.10.
func (t *target) linkUnnamed(f *os.File, name string) error {
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), t.fd(), name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "link", Old: "(unnamed)", New: name, Err: err}
	}
	return nil
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
